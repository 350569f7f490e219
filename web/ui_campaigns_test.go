package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"herald/campaigns"
	"herald/contacts"
	"herald/reports"
)

// post sends a page form with the session and its CSRF token.
func (f *fixture) post(cookie *http.Cookie, csrf, path string, vals url.Values) *http.Response {
	if vals == nil {
		vals = url.Values{}
	}
	vals.Set("csrf_token", csrf)
	return f.do("POST", path, vals.Encode(), form(vals, cookie)).Result()
}

func (f *fixture) page(t *testing.T, cookie *http.Cookie, path string) string {
	t.Helper()
	w := f.do("GET", path, "", map[string]string{"Cookie": cookie.String()})
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s: %d", path, w.Code)
	}
	return w.Body.String()
}

func TestSendFormRefusesAPastOrMissingTimeKeepingWhatWasTypedAndSchedulesInUTC(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, _ := f.sentCampaign(t)
	// sentCampaign sends; a draft of the same content is what this needs.
	name, subj, html, from := "Launch", "Hi", "<p>Hi</p>", "x@shop.example.com"
	ids := c.SegmentIDs
	draft, err := f.camps.Create(ctx, campaigns.Input{Name: &name, Subject: &subj, HTMLBody: &html, FromEmail: &from, SegmentIDs: (*[]int64)(&ids)})
	if err != nil {
		t.Fatal(err)
	}
	cookie, csrf := f.login(t)
	path := "/campaigns/" + itoa(draft.ID) + "/send"
	future := time.Now().UTC().Add(72 * time.Hour).Truncate(time.Second)
	tests := []struct {
		name string
		vals url.Values
		want string
	}{
		{"no time", url.Values{"when": {"schedule"}, "local_at": {""}, "scheduled_at": {""}}, "Choose the date and time"},
		{"past", url.Values{"when": {"schedule"}, "local_at": {"2020-01-01T10:00"}, "scheduled_at": {"2020-01-01T09:00:00Z"}}, "That time has passed"},
		{"garbage", url.Values{"when": {"schedule"}, "local_at": {"2031-01-01T10:00"}, "scheduled_at": {"tomorrow"}}, "could not be read"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.vals.Set("csrf_token", csrf)
			w := f.do("POST", path, tc.vals.Encode(), form(tc.vals, cookie))
			if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), tc.want) {
				t.Fatalf("%d, want 400 saying %q", w.Code, tc.want)
			}
			if lv := tc.vals.Get("local_at"); lv != "" && !strings.Contains(w.Body.String(), `value="`+lv+`"`) {
				t.Errorf("the typed %s was not kept", lv)
			}
			if !strings.Contains(w.Body.String(), `value="schedule" checked`) {
				t.Error("the schedule choice was not kept")
			}
		})
	}
	if got, _ := f.camps.Get(ctx, draft.ID); got.Status != campaigns.CampaignDraft {
		t.Fatalf("a refused form changed the campaign to %s", got.Status)
	}

	// The page posts the reader's local time as RFC 3339 with its offset;
	// Herald keeps the same instant.
	r := f.post(cookie, csrf, path, url.Values{"when": {"schedule"}, "local_at": {"whatever the reader typed"}, "scheduled_at": {future.In(time.FixedZone("UTC+3", 3*3600)).Format(time.RFC3339)}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/campaigns/"+itoa(draft.ID) {
		t.Fatalf("schedule: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	got, _ := f.camps.Get(ctx, draft.ID)
	if got.Status != campaigns.CampaignScheduled || got.ScheduledAt == nil || !got.ScheduledAt.Equal(future) {
		t.Fatalf("scheduled %s at %v, want %v", got.Status, got.ScheduledAt, future)
	}
	r = f.post(cookie, csrf, path, url.Values{"when": {"now"}})
	if got, _ := f.camps.Get(ctx, draft.ID); r.StatusCode != http.StatusSeeOther || got.Status != campaigns.CampaignSending {
		t.Fatalf("send now: %d, status %s", r.StatusCode, got.Status)
	}
}

func TestProgressPollAndPauseResumeCancelFromThePage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, _ := f.sentCampaign(t)
	if err := f.camps.Launch(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	cookie, csrf := f.login(t)
	base := "/campaigns/" + itoa(c.ID)
	w := f.do("GET", base+"/progress", "", map[string]string{"Cookie": cookie.String()})
	var p progress
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || w.Code != 200 {
		t.Fatalf("progress: %d %s", w.Code, w.Body)
	}
	if p.Status != campaigns.CampaignSending || p.Total != 1 || p.Queued != 1 || p.Percent != 0 {
		t.Errorf("progress %+v, want sending, 1 queued, 0%%", p)
	}
	if w := f.do("GET", base+"/progress", "", nil); w.Code != http.StatusFound {
		t.Errorf("progress without a session: %d", w.Code)
	}
	body := f.page(t, cookie, base)
	for _, want := range []string{`action="` + base + `/pause"`, `action="` + base + `/cancel" data-confirm=`, `data-progress-url="` + base + `/progress"`, `/static/campaign.js`} {
		if !strings.Contains(body, want) {
			t.Errorf("sending page lacks %s", want)
		}
	}
	steps := []struct {
		action string
		want   campaigns.Status
	}{{"pause", campaigns.CampaignPaused}, {"resume", campaigns.CampaignSending}, {"cancel", campaigns.CampaignCancelled}}
	for _, s := range steps {
		r := f.post(cookie, csrf, base+"/"+s.action, nil)
		got, _ := f.camps.Get(ctx, c.ID)
		if r.StatusCode != http.StatusSeeOther || got.Status != s.want {
			t.Fatalf("%s: %d, status %s, want %s", s.action, r.StatusCode, got.Status, s.want)
		}
		if s.want == campaigns.CampaignPaused {
			if body := f.page(t, cookie, base); !strings.Contains(body, "Paused by a user.") || strings.Contains(body, "Paused: paused") {
				t.Errorf("a page paused by its user does not say so once: %s", body)
			}
		}
	}
	// Resuming a cancelled campaign is refused in words, not a crash.
	r := f.post(cookie, csrf, base+"/resume", nil)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("resume a cancelled campaign: %d", r.StatusCode)
	}
	if got, _ := f.camps.Get(ctx, c.ID); got.Status != campaigns.CampaignCancelled {
		t.Fatalf("status %s after a refused resume", got.Status)
	}
	if r := f.post(cookie, "wrong", base+"/pause", nil); r.StatusCode != http.StatusForbidden {
		t.Errorf("a form without its token: %d", r.StatusCode)
	}
}

func TestReportShowsPeopleLinksChartAndTheUnknownResendWithWhoChoseIt(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, ct := f.sentCampaign(t)
	email, name := "dov@example.com", `Dov <b>`
	other, _, err := f.contacts.Upsert(ctx, contacts.Input{Email: &email, FirstName: &name})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.camps.Launch(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	db := f.db
	// One delivery went out; a second one (added by hand: the segment
	// holds one contact) ended in doubt.
	if err := db.Model(&campaigns.Delivery{}).Where("campaign_id = ?", c.ID).Updates(map[string]any{"status": campaigns.DeliverySent, "sent_at": now.Add(-2 * time.Hour)}).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&campaigns.Delivery{CampaignID: c.ID, ContactID: other.ID, Status: campaigns.DeliveryUnknown, Batch: 1, Error: "the connection dropped after the message was handed over"}).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Model(&campaigns.Campaign{}).Where("id = ?", c.ID).Updates(map[string]any{"status": campaigns.CampaignSent, "started_at": now.Add(-2 * time.Hour)}).Error; err != nil {
		t.Fatal(err)
	}
	cid := c.ID
	link := int64(1)
	for _, ev := range []contacts.EventInput{
		{ContactID: ct.ID, Type: contacts.EventOpen, CampaignID: &cid, OccurredAt: now.Add(-time.Hour)},
		{ContactID: ct.ID, Type: contacts.EventClick, CampaignID: &cid, LinkID: &link, OccurredAt: now.Add(-time.Hour)},
		{ContactID: other.ID, Type: contacts.EventOpen, CampaignID: &cid, OccurredAt: now.Add(-time.Hour), Machine: true},
	} {
		if _, err := f.contacts.RecordEvents(ctx, []contacts.EventInput{ev}); err != nil {
			t.Fatal(err)
		}
	}
	cookie, csrf := f.login(t)
	base := "/campaigns/" + itoa(c.ID)
	body := f.page(t, cookie, base)
	for _, want := range []string{"<svg", "Opens by people", "https://shop.example.com/a", `href="/contacts/` + itoa(ct.ID) + `"`, "1 delivery in doubt", `id="resend-unknown"`, "Machines, counted apart: 1 open (1 contact)"} {
		if !strings.Contains(body, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	body = f.page(t, cookie, base+"?list=unknown")
	if !strings.Contains(body, "Dov &lt;b&gt;") || strings.Contains(body, "Dov <b>") {
		t.Error("the unknown list does not show the contact's name escaped")
	}
	if !strings.Contains(body, "the connection dropped") {
		t.Error("the unknown list does not say why")
	}

	r := f.post(cookie, csrf, base+"/resend-unknown", nil)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("resend: %d", r.StatusCode)
	}
	got, _ := f.camps.Get(ctx, c.ID)
	if got.Status != campaigns.CampaignSending {
		t.Errorf("status %s after the resend, want sending", got.Status)
	}
	body = f.page(t, cookie, base)
	if !regexp.MustCompile(`(?i)<b>1</b> unknown delivery sent once more by <bdi>admin@example.com</bdi>`).MatchString(body) {
		t.Error("the report does not say who sent the unknown delivery once more")
	}
	// A second press changes nothing and says so.
	if r := f.post(cookie, csrf, base+"/resend-unknown", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("second resend: %d", r.StatusCode)
	}
	if acts, _ := f.reps.Actions(ctx, c.ID); len(acts) != 1 {
		t.Errorf("%d actions recorded, want 1", len(acts))
	}
}

func TestCampaignListFiltersByStatusAndLinksToTheEditor(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, _ := f.sentCampaign(t)
	if _, err := f.camps.Pause(ctx, c.ID, "test"); err != nil {
		t.Fatal(err)
	}
	cookie, _ := f.login(t)
	body := f.page(t, cookie, "/campaigns")
	if !strings.Contains(body, `href="/campaigns/new"`) || !strings.Contains(body, `href="/campaigns/`+itoa(c.ID)+`"`) {
		t.Fatal("the list lacks the new campaign link or the campaign")
	}
	if body := f.page(t, cookie, "/campaigns?status=draft"); strings.Contains(body, `href="/campaigns/`+itoa(c.ID)+`"`) || !strings.Contains(body, "No draft campaigns") {
		t.Error("the draft filter shows a paused campaign")
	}
	if body := f.page(t, cookie, "/campaigns?status=paused"); !strings.Contains(body, `href="/campaigns/`+itoa(c.ID)+`"`) {
		t.Error("the paused filter hides the paused campaign")
	}
	if body := f.page(t, cookie, "/campaigns?status=%3Cscript%3E"); !strings.Contains(body, `href="/campaigns/`+itoa(c.ID)+`"`) {
		t.Error("an unknown status should show every campaign")
	}
}

func TestReportAPIListsPeopleActivityAndRecordsTheKeysResend(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, ct := f.sentCampaign(t)
	if err := f.camps.Launch(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.db.Model(&campaigns.Delivery{}).Where("campaign_id = ?", c.ID).Update("status", campaigns.DeliveryUnknown).Error; err != nil {
		t.Fatal(err)
	}
	cid := c.ID
	if _, err := f.contacts.RecordEvents(ctx, []contacts.EventInput{{ContactID: ct.ID, Type: contacts.EventOpen, CampaignID: &cid, OccurredAt: time.Now().UTC()}}); err != nil {
		t.Fatal(err)
	}
	key := map[string]string{"Authorization": "Bearer " + testKey}
	base := "/api/campaigns/" + itoa(c.ID)
	w := f.do("GET", base+"/people?list=opened", "", key)
	var people struct {
		Data []reports.Person
		Next string
	}
	if err := json.Unmarshal(w.Body.Bytes(), &people); err != nil || w.Code != 200 || len(people.Data) != 1 || people.Data[0].ContactID != ct.ID || people.Next != "" {
		t.Fatalf("people: %d %s", w.Code, w.Body)
	}
	if w := f.do("GET", base+"/people?list=everyone", "", key); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "list") {
		t.Errorf("an unknown list: %d %s", w.Code, w.Body)
	}
	w = f.do("GET", base+"/activity", "", key)
	var act struct{ Data []reports.ActivityBucket }
	if err := json.Unmarshal(w.Body.Bytes(), &act); err != nil || w.Code != 200 || len(act.Data) == 0 || act.Data[0].Opens != 1 {
		t.Fatalf("activity: %d %s", w.Code, w.Body)
	}
	w = f.do("POST", base+"/resend-unknown", "", key)
	var a campaigns.Action
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil || w.Code != http.StatusAccepted || a.Count != 1 || a.Actor != "the API key" {
		t.Fatalf("resend: %d %s", w.Code, w.Body)
	}
	if w := f.do("POST", base+"/resend-unknown", "", key); w.Code != http.StatusConflict {
		t.Errorf("a second resend: %d, want 409", w.Code)
	}
}
