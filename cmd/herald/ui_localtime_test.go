package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"herald/internal/app"
)

// TestBrowserMarketerSendsAtNineInEachContactsTimeZone sends a campaign
// from its page at 09:00 in each contact's time zone, two days ahead: the
// dialog states the hour and what happens to missed hours, the campaign
// is sending with everyone waiting for their hour, and the page says so
// and how.
func TestBrowserMarketerSendsAtNineInEachContactsTimeZone(t *testing.T) {
	a := startAppWith(t, func(c *app.Config) { c.DefaultTimezone = "Europe/Paris" })
	rows := []string{
		`{"email": "kei@example.com", "first_name": "Kei", "country": "JP", "timezone": "Asia/Tokyo"}`,
		`{"email": "ana@example.com", "first_name": "Ana", "country": "US", "timezone": "America/New_York"}`,
		`{"email": "lou@example.com", "first_name": "Lou", "country": "FR"}`,
	}
	var out struct{ Created int }
	if code := a.call("POST", "/api/contacts", "["+strings.Join(rows, ",")+"]", &out); code != 200 || out.Created != 3 {
		t.Fatalf("contacts: %d, created %d", code, out.Created)
	}
	var seg struct{ ID int64 }
	if code := a.call("POST", "/api/segments", `{"name": "Everyone", "definition": {"field": "email", "op": "contains", "value": "@example.com"}}`, &seg); code != 201 {
		t.Fatalf("segment: %d", code)
	}
	var camp struct{ ID int64 }
	if code := a.call("POST", "/api/campaigns", map[string]any{
		"name": "Good morning", "subject": "Good morning, {{.FirstName}}", "from_email": "shop@example.com",
		"html_body": `<p>Coffee is on us today.</p>`, "segment_ids": []int64{seg.ID},
	}, &camp); code != 201 {
		t.Fatalf("campaign: %d", code)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	day := time.Now().In(paris).AddDate(0, 0, 2).Format(time.DateOnly)

	b := newBrowser(t, a)
	b.login()
	b.open(fmt.Sprintf("/campaigns/%d", camp.ID))
	b.waitVisible(`#send-form`)
	if !eval[bool](b, `document.querySelector("input[name=local_time]").disabled`) {
		t.Error("the local hour is editable while another choice is picked")
	}
	b.click(`input[name=when][value=local]`)
	b.set(`input[name=local_time]`, "09:00")
	b.set(`input[name=local_date]`, day)
	b.set(`select[name=missed]`, "now")
	b.screenshot("local-time-choice")
	if bad := b.overflows(); len(bad) > 0 {
		t.Errorf("at 390 px the send panel overflows: %v", bad)
	}
	b.click(`#send-button`)
	b.confirm("at 09:00 on " + day + " in each contact's own time zone? Those whose 09:00 has already passed get it at once")
	b.waitText(`#campaign-status`, `^sending$`)
	b.waitText(`#delivery [data-p=waiting]`, `^3$`)
	if got := b.text(`#local-time-fact`); !strings.Contains(got, "09:00 on "+day) || !strings.Contains(got, "at once") {
		t.Errorf("the page describes the send as %q", got)
	}
	var st struct {
		Total            int `json:"total"`
		Sent             int `json:"sent"`
		WaitingLocalTime int `json:"waiting_local_time"`
	}
	a.call("GET", fmt.Sprintf("/api/campaigns/%d/stats", camp.ID), nil, &st)
	if st.Total != 3 || st.Sent != 0 || st.WaitingLocalTime != 3 {
		t.Errorf("stats %+v, want all 3 waiting for their local time", st)
	}
	b.screenshot("waiting-for-local-time")
}
