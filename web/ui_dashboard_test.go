package web

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"herald/automations"
	"herald/campaigns"
	"herald/contacts"
	"herald/segments"
)

func TestDashboardShowsAudienceSendsAutomationsAndThirtyDayCharts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	email := "noa@example.com"
	ct, _, err := f.contacts.Upsert(ctx, contacts.Input{Email: &email})
	if err != nil {
		t.Fatal(err)
	}
	segName := "everyone"
	seg, err := f.srv.d.Segments.Create(ctx, segments.Input{Name: &segName, Definition: json.RawMessage(`{"field": "email", "op": "contains", "value": "@"}`)})
	if err != nil {
		t.Fatal(err)
	}
	name, subj, html, from, ids := "<b>Spring</b> sale", "Hi", "<p>Hi</p>", "x@shop.example.com", []int64{seg.ID}
	c, err := f.camps.Create(ctx, campaigns.Input{Name: &name, Subject: &subj, HTMLBody: &html, FromEmail: &from, SegmentIDs: &ids})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.camps.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	res, err := f.contacts.RecordEvents(ctx, []contacts.EventInput{{ContactID: ct.ID, Type: contacts.EventPurchase, OrderID: "o1", Amount: 4999, OccurredAt: time.Now().UTC().Add(-time.Hour)}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res[0].Err)
	}
	var in automations.Input
	if err := json.Unmarshal([]byte(`{"name": "Win-back", "trigger": {"type": "inactivity", "factor": 1.5, "one_time_days": 60}, "steps": [{"type": "send", "message": {"subject": "We miss you", "html_body": "<p>Hi</p>", "from_email": "x@shop.example.com"}}]}`), &in); err != nil {
		t.Fatal(err)
	}
	if _, err := f.autos.Create(ctx, in); err != nil {
		t.Fatal(err)
	}
	cookie, _ := f.login(t)
	w := f.do("GET", "/dashboard", "", map[string]string{"Cookie": cookie.String()})
	body := w.Body.String()
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, body)
	}
	for _, want := range []string{
		`<b>1</b><span>contacts</span>`,
		`<b>1</b><span>new in the last 7 days</span>`,
		`<b>€49.99</b><span>revenue in 30 days</span>`,
		`Sending now`,
		`&lt;b&gt;Spring&lt;/b&gt; sale`, // escaped, in the progress list and the latest campaigns
		`role="progressbar"`,
		`Messages sent per day (UTC), last 30 days`,
		`Revenue per day (UTC), last 30 days`,
		`<svg`,
		`href="/automations/`,
		`Win-back`,
		`/static/dashboard.js`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	if strings.Contains(body, "<b>Spring</b>") {
		t.Error("a campaign name reached the page unescaped")
	}
	if n := strings.Count(body, `<figure class="chart">`); n != 2 {
		t.Errorf("%d charts, want 2 (messages, revenue)", n)
	}
}
