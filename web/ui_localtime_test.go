package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"herald/campaigns"
)

// The send panel's third choice sends at a local time: it offers 09:00
// tomorrow, keeps what was typed when the hour is refused (naming the
// field in words), and once sent the page and its progress poll count
// who waits for their local time apart from the frequency cap, as does
// the contact's timeline.
func TestTheSendPanelSendsAtALocalTimeAndTheProgressCountsWhoWaits(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, _ := f.draftForLocalTime(t)
	cookie, csrf := f.login(t)
	base := "/campaigns/" + itoa(c.ID)
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)

	page := f.page(t, cookie, base)
	for _, want := range []string{`value="local"`, `name="local_time" value="09:00"`, `name="local_date" value="` + tomorrow + `"`, `<option value="next_day" selected>`, "in UTC for contacts without a time zone"} {
		if !strings.Contains(page, want) {
			t.Errorf("the send panel lacks %s", want)
		}
	}

	bad := url.Values{"when": {"local"}, "local_time": {"25:00"}, "local_date": {tomorrow}, "missed": {"now"}, "csrf_token": {csrf}}
	w := f.do("POST", base+"/send", bad.Encode(), form(bad, cookie))
	body := w.Body.String()
	if w.Code != http.StatusBadRequest || !strings.Contains(body, "The hour: &#34;25:00&#34; is not a time of day") {
		t.Fatalf("%d, want 400 naming the hour", w.Code)
	}
	for _, kept := range []string{`value="local" checked`, `name="local_time" value="25:00"`, `<option value="now" selected>`} {
		if !strings.Contains(body, kept) {
			t.Errorf("the refused form did not keep %s", kept)
		}
	}
	if got, _ := f.camps.Get(ctx, c.ID); got.Status != campaigns.CampaignDraft {
		t.Fatalf("a refused form changed the campaign to %s", got.Status)
	}

	r := f.post(cookie, csrf, base+"/send", url.Values{"when": {"local"}, "local_time": {"09:00"}, "local_date": {tomorrow}, "missed": {"next_day"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("send at a local time: %d", r.StatusCode)
	}
	got, _ := f.camps.Get(ctx, c.ID)
	if got.Status != campaigns.CampaignSending || got.Local != (campaigns.LocalTime{Time: "09:00", Date: tomorrow, Missed: campaigns.MissedNextDay}) {
		t.Fatalf("after the send: %s with %+v", got.Status, got.Local)
	}
	if err := f.camps.Launch(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	w = f.do("GET", base+"/progress", "", map[string]string{"Cookie": cookie.String()})
	var p progress
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Total != 1 || p.Waiting != 1 || p.Deferred != 0 || p.Done != 0 || p.Percent != 0 {
		t.Errorf("progress %+v, want 1 waiting for local time, none deferred by the cap, none done", p)
	}
	kei, err := f.contacts.GetByEmail(ctx, "kei@example.com")
	if err != nil {
		t.Fatal(err)
	}
	page = f.page(t, cookie, "/contacts/"+itoa(kei.ID))
	for _, want := range []string{"Email waiting for their local time: Morning", "local time 09:00 Asia/Tokyo"} {
		if !strings.Contains(page, want) {
			t.Errorf("the contact's timeline lacks %q", want)
		}
	}
	page = f.page(t, cookie, base)
	for _, want := range []string{`<b data-p="waiting">1</b><span>waiting for their local time</span>`, "09:00 on " + tomorrow + " in each contact's time zone; where it has passed at the start, the next day"} {
		if !strings.Contains(page, want) {
			t.Errorf("the campaign page lacks %s", want)
		}
	}
}
