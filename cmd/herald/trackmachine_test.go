package main

import (
	"context"
	"encoding/json"
	"fmt"
	"herald/internal/app"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/testenv"
	"herald/reports"
	"herald/tracking"
)

// TestMachineHitsAreFlaggedFromTheSendLog checks the classifier against a
// real database: send times and earlier clicks come from the deliveries
// and events tables, looked up per batch by the consumer; campaign stats
// then count only people.
func TestMachineHitsAreFlaggedFromTheSendLog(t *testing.T) {
	ctx := context.Background()
	cfg := &app.Config{
		DatabaseURL: testenv.DatabaseURL(t), RedisURL: testenv.RedisURL(t), HTTPAddr: "127.0.0.1:0", BaseURL: "http://127.0.0.1",
		Secret: "machine test secret, long enough", APIKey: "machine-key", AdminEmail: "admin@example.com", AdminPassword: "machine password",
		AttributionDays: 5, AppleNetworks: tracking.DefaultAppleNetworks, EmbeddedRedisAddr: "127.0.0.1:0", EmbeddedSMTPAddr: "127.0.0.1:0",
	}
	app, err := app.New(ctx, cfg, testenv.Logger(), io.Discard, true, false, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)

	name, subject, from, html := "Machines", "Hello", "shop@example.com", "<p>hi</p>"
	camp, err := app.Campaigns.Create(ctx, campaigns.Input{Name: &name, Subject: &subject, FromEmail: &from, HTMLBody: &html})
	if err != nil {
		t.Fatal(err)
	}
	links := []campaigns.Link{{CampaignID: camp.ID, Idx: 0, URL: "https://shop.example.com/a"}, {CampaignID: camp.ID, Idx: 1, URL: "https://shop.example.com/b"}}
	if err := app.DB.Create(&links).Error; err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	people := map[string]int64{}
	for _, p := range []struct {
		name string
		sent time.Duration // before base
	}{{"fresh", 4 * time.Second}, {"reader", time.Hour}, {"scanned", time.Hour}, {"iphone", time.Hour}} {
		e := p.name + "@example.com"
		c, _, err := app.Contacts.Upsert(ctx, contacts.Input{Email: &e})
		if err != nil {
			t.Fatal(err)
		}
		people[p.name] = c.ID
		at := base.Add(-p.sent)
		if err := app.DB.Create(&campaigns.Delivery{CampaignID: camp.ID, ContactID: c.ID, Status: campaigns.DeliverySent, Batch: 1, SentAt: &at}).Error; err != nil {
			t.Fatal(err)
		}
	}
	hit := func(kind tracking.Kind, who string, link int64, d time.Duration) tracking.Hit {
		return tracking.Hit{Kind: kind, CampaignID: camp.ID, ContactID: people[who], LinkID: link, At: base.Add(d), Method: "GET",
			UserAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15"}
	}
	iphoneOpen := hit(tracking.Open, "iphone", 0, time.Minute)
	iphoneOpen.Net = tracking.NetAppleProxy
	// Each round is written before the next is added: the scanner's second
	// click finds its first one in the database, not in the same batch.
	rounds := [][]tracking.Hit{
		{hit(tracking.Click, "fresh", 0, 0), hit(tracking.Open, "reader", 0, 10*time.Minute), hit(tracking.Click, "scanned", 0, 30*time.Minute), iphoneOpen},
		{hit(tracking.Click, "reader", 1, 11*time.Minute), hit(tracking.Click, "scanned", 1, 30*time.Minute+700*time.Millisecond)},
	}
	for _, round := range rounds {
		for _, h := range round {
			if err := app.Ingest.Add(ctx, h); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := app.Ingest.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}

	var evs []contacts.Event
	if err := app.DB.Where("campaign_id = ?", camp.ID).Order("occurred_at").Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, ev := range evs {
		who := ""
		for n, id := range people {
			if id == ev.ContactID {
				who = n
			}
		}
		reason, _ := ev.Properties["machine_reason"].(string)
		if ev.Machine != (reason != "") {
			t.Errorf("%s %s: machine=%v with reason %q", who, ev.Type, ev.Machine, reason)
		}
		got[fmt.Sprintf("%s %s %d", who, ev.Type, derefLink(ev.LinkID))] = reason
	}
	want := map[string]string{
		"fresh email.click 0":   tracking.ReasonJustSent,
		"reader email.open -1":  "",
		"reader email.click 1":  "",
		"scanned email.click 0": "", // judged before its burst was seen
		"scanned email.click 1": tracking.ReasonBurst,
		"iphone email.open -1":  tracking.ReasonAppleProxy,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events (machine reasons):\n got %v\nwant %v", got, want)
	}

	req := httptest.NewRequest("GET", fmt.Sprintf("/api/campaigns/%d/stats", camp.ID), nil)
	req.Header.Set("Authorization", "Bearer machine-key")
	w := httptest.NewRecorder()
	app.Web.Handler().ServeHTTP(w, req)
	var st reports.Stats
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
		t.Fatalf("stats %d %s: %v", w.Code, w.Body, err)
	}
	if st.OpensUnique != 1 || st.OpensMachine != 1 || st.OpensTotal != 2 || st.ClicksUnique != 2 || st.ClicksMachine != 2 || st.ClicksTotal != 4 {
		t.Errorf("stats: opens %d people / %d machine / %d total, clicks %d / %d / %d; want 1/1/2 and 2/2/4",
			st.OpensUnique, st.OpensMachine, st.OpensTotal, st.ClicksUnique, st.ClicksMachine, st.ClicksTotal)
	}
}

func derefLink(p *int64) int64 {
	if p == nil {
		return -1
	}
	return *p
}
