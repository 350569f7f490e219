package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"herald/campaigns"
)

// The report page of a sent campaign offers "Resend to non-openers"; its
// form refuses what it cannot use with the reason, keeping what was
// typed, and otherwise creates the follow-up and opens it in the editor,
// which says whom it is for.
func TestResendToNonOpenersFromTheReportPage(t *testing.T) {
	f := newFixture(t)
	sent, _ := f.sentCampaign(t)
	// The sender finished it (the fixture's queue runs nothing).
	if err := f.db.Model(&campaigns.Campaign{}).Where("id = ?", sent.ID).Update("status", campaigns.CampaignSent).Error; err != nil {
		t.Fatal(err)
	}
	cookie, csrf := f.login(t)
	page := f.page(t, cookie, "/campaigns/"+itoa(sent.ID))
	if !strings.Contains(page, `id="follow-up-open"`) || !strings.Contains(page, `action="/campaigns/`+itoa(sent.ID)+`/resend"`) {
		t.Fatal("the report page of a sent campaign has no Resend to non-openers")
	}
	path := "/campaigns/" + itoa(sent.ID) + "/resend"
	tests := []struct {
		name string
		vals url.Values
		want string
	}{
		{"no subject", url.Values{"subject": {" "}, "after_days": {"3"}}, "New subject is required: the follow-up needs a subject of its own"},
		{"days that are not a number", url.Values{"subject": {"Did you miss this?"}, "after_days": {"soon"}}, "Give a whole number of days"},
		{"too many days", url.Values{"subject": {"Did you miss this?"}, "after_days": {"400"}}, "Days after it started must be a whole number of days from 1 to 90"},
		{"a subject that does not compile", url.Values{"subject": {"Hi {{.Nope"}, "after_days": {"3"}}, "New subject: line 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.vals.Set("csrf_token", csrf)
			w := f.do("POST", path, tc.vals.Encode(), form(tc.vals, cookie))
			body := w.Body.String()
			if w.Code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
				t.Fatalf("%d, want 400 saying %q", w.Code, tc.want)
			}
			if !strings.Contains(body, `<details open>`) || !strings.Contains(body, `value="`+tc.vals.Get("after_days")+`"`) {
				t.Error("the form is not open with what was typed")
			}
		})
	}
	var n int64
	f.db.Model(&campaigns.Campaign{}).Where("resend_of IS NOT NULL").Count(&n)
	if n != 0 {
		t.Fatalf("%d follow-ups made by refused forms", n)
	}

	r := f.post(cookie, csrf, path, url.Values{"subject": {"Did you miss this?"}, "after_days": {"3"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", r.StatusCode)
	}
	var fu campaigns.Campaign
	if err := f.db.Where("resend_of = ?", sent.ID).Take(&fu).Error; err != nil {
		t.Fatal(err)
	}
	if loc := r.Header.Get("Location"); loc != "/campaigns/"+itoa(fu.ID)+"/edit" {
		t.Fatalf("went to %q, want the follow-up's editor", loc)
	}
	if fu.Subject != "Did you miss this?" || fu.Status != campaigns.CampaignScheduled || !fu.ScheduledAt.Equal(sent.StartedAt.AddDate(0, 0, 3)) {
		t.Fatalf("follow-up %q is %s at %v", fu.Subject, fu.Status, fu.ScheduledAt)
	}
	edit := f.page(t, cookie, "/campaigns/"+itoa(fu.ID)+"/edit")
	if !strings.Contains(edit, `Follow-up to <a href="/campaigns/`+itoa(sent.ID)+`"><bdi>c</bdi></a> for those who did not open it`) {
		t.Error("the editor does not say whom the follow-up is for")
	}
	if strings.Contains(edit, `name="segment_ids"`) {
		t.Error("the editor offers segments to send a follow-up to")
	}
	if !strings.Contains(edit, `data-resend-of="`+itoa(sent.ID)+`"`) {
		t.Error("the editor's audience count does not know the original")
	}
	if orig := f.page(t, cookie, "/campaigns/"+itoa(sent.ID)); !strings.Contains(orig, `Follow-up <a href="/campaigns/`+itoa(fu.ID)+`"><bdi>c (follow-up)</bdi></a> <span class="status scheduled">`) {
		t.Error("the original's page does not list its follow-up")
	}
	fuPage := f.page(t, cookie, "/campaigns/"+itoa(fu.ID))
	if !strings.Contains(fuPage, `id="follow-up-of"`) || strings.Contains(fuPage, `id="follow-up-open"`) {
		t.Error("the follow-up's page does not name its original, or offers a follow-up before it is sent")
	}
}

func TestFollowUpFormSuggestsThreeDaysUntilThatHasPassed(t *testing.T) {
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { v := now.Add(-d); return &v }
	tests := []struct {
		name    string
		form    followUpForm
		started *time.Time
		want    string
	}{
		{"sent an hour ago", followUpForm{Suggest: true}, at(time.Hour), "3"},
		{"sent four days ago", followUpForm{Suggest: true}, at(96 * time.Hour), ""},
		{"what was typed stays", followUpForm{Days: "12"}, at(96 * time.Hour), "12"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.form.withDefaults(campaigns.Campaign{StartedAt: tc.started}, now)
			if got.Days != tc.want {
				t.Errorf("days %q, want %q", got.Days, tc.want)
			}
		})
	}
}

// A resend posted for a campaign that has not been sent (a page left open
// in another tab, a form replayed) is refused with the reason at the top
// of the campaign's page, which has no follow-up form to show it in.
func TestResendOfAnUnsentCampaignSaysWhyOnItsPage(t *testing.T) {
	f := newFixture(t)
	name, subj, html, from := "Draft", "Hi", "<p>Hi</p>", "x@shop.example.com"
	draft, err := f.camps.Create(context.Background(), campaigns.Input{Name: &name, Subject: &subj, HTMLBody: &html, FromEmail: &from})
	if err != nil {
		t.Fatal(err)
	}
	cookie, csrf := f.login(t)
	vals := url.Values{"subject": {"Did you miss this?"}, "after_days": {"3"}, "csrf_token": {csrf}}
	w := f.do("POST", "/campaigns/"+itoa(draft.ID)+"/resend", vals.Encode(), form(vals, cookie))
	body := w.Body.String()
	if w.Code != http.StatusConflict {
		t.Fatalf("%d, want 409", w.Code)
	}
	if strings.Contains(body, `id="follow-up-open"`) {
		t.Fatal("the page of a draft offers a follow-up")
	}
	want := `<p class="alert" role="alert" id="follow-up-error">campaign ` + itoa(draft.ID) + ` has not been sent; a follow-up goes to those it reached</p>`
	if !strings.Contains(body, want) {
		t.Fatalf("the page does not say why the resend was refused; want %s", want)
	}
	var n int64
	f.db.Model(&campaigns.Campaign{}).Where("resend_of IS NOT NULL").Count(&n)
	if n != 0 {
		t.Fatalf("%d follow-ups made", n)
	}
}

// A follow-up's audience is the original's non-openers: the campaign list
// counts them as its editor does (not 0 for having no segments), and its
// send panel speaks of them, not of segments.
func TestAFollowUpIsCountedAndDescribedByTheOriginalsNonOpeners(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sent, _ := f.sentCampaign(t)
	if err := f.camps.Launch(ctx, sent.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.db.Model(&campaigns.Delivery{}).Where("campaign_id = ?", sent.ID).Updates(map[string]any{"status": campaigns.DeliverySent, "sent_at": time.Now().UTC()}).Error; err != nil {
		t.Fatal(err)
	}
	if err := f.db.Model(&campaigns.Campaign{}).Where("id = ?", sent.ID).Update("status", campaigns.CampaignSent).Error; err != nil {
		t.Fatal(err)
	}
	subject := "Did you miss this?"
	fu, err := f.camps.CreateFollowUp(ctx, sent.ID, campaigns.FollowUpInput{Subject: &subject})
	if err != nil {
		t.Fatal(err)
	}
	cookie, _ := f.login(t)
	page := f.page(t, cookie, "/campaigns")
	i := strings.Index(page, `href="/campaigns/`+itoa(fu.ID)+`"`)
	if i < 0 {
		t.Fatal("the follow-up is not listed")
	}
	row := page[i:]
	row = row[:strings.Index(row, "</tr>")]
	if !strings.Contains(row, `<td class="num">1</td>`) {
		t.Fatalf("the follow-up's row does not count its one non-opener:\n%s", row)
	}
	// Its send panel speaks of the original's non-openers, not segments.
	page = f.page(t, cookie, "/campaigns/"+itoa(fu.ID))
	if !strings.Contains(page, "It starts now: who has not opened the original is counted now,") || strings.Contains(page, "the segments are counted now") {
		t.Error("the follow-up's local-time choice speaks of segments")
	}
}
