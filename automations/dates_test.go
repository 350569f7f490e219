package automations_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"herald/automations"
	"herald/contacts"
)

// localDays lists the local dates (in zone) of the messages email got.
func (w *flowWorld) localDays(t *testing.T, email, zone string) []string {
	t.Helper()
	var out []string
	for _, s := range w.mail.sent[email] {
		out = append(out, s.at.In(mustZone(t, zone)).Format("2006-01-02"))
	}
	sort.Strings(out)
	return out
}

// simulateDays runs a pass at 12:00 UTC every day from first to last
// (inclusive): local midday in the zones these tests use, so a flow with
// hour 0 sends on the local day itself.
func (w *flowWorld) simulateDays(t *testing.T, first, last time.Time) {
	t.Helper()
	for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
		w.tick(t, time.Date(d.Year(), d.Month(), d.Day(), 12, 0, 0, 0, time.UTC))
	}
}

// TestDateTriggersSendOnTheRightLocalDays simulates two years, a pass a
// day, for each kind of date trigger: offsets before and after (across
// the year end), anniversaries, signup anniversaries in the contact's own
// time zone, custom dates, and dates whose year is later than today.
func TestDateTriggersSendOnTheRightLocalDays(t *testing.T) {
	type person struct {
		email string
		in    contacts.Input
		zone  string
		want  []string
	}
	tests := []struct {
		name    string
		trigger string
		people  []person
	}{
		{"three days before a birthday", `{"type": "date", "field": "birthday", "offset_days": -3, "hour": 0}`, []person{
			{"march@example.com", contacts.Input{Birthday: ptr("1990-03-10")}, "UTC", []string{"2027-03-07", "2028-03-07"}},
			{"newyear@example.com", contacts.Input{Birthday: ptr("--01-02"), Timezone: ptr("Asia/Tokyo")}, "Asia/Tokyo", []string{"2026-12-30", "2027-12-30", "2028-12-30"}},
		}},
		{"the day after a birthday", `{"type": "date", "field": "birthday", "offset_days": 1, "hour": 0}`, []person{
			{"eve@example.com", contacts.Input{Birthday: ptr("1985-12-31")}, "UTC", []string{"2027-01-01", "2028-01-01"}},
		}},
		{"wedding anniversary", `{"type": "date", "field": "anniversary", "hour": 0}`, []person{
			{"wed@example.com", contacts.Input{Anniversary: ptr("2015-06-01"), Timezone: ptr("America/New_York")}, "America/New_York", []string{"2027-06-01", "2028-06-01"}},
			// Married next June: the first anniversary is the year after.
			{"soon@example.com", contacts.Input{Anniversary: ptr("2027-06-01")}, "UTC", []string{"2028-06-01"}},
		}},
		{"signup anniversary in the contact's time zone", `{"type": "date", "field": "signup_at", "hour": 0}`, []person{
			// 23:30 in New York on 3 March is 4 March in UTC.
			{"ny@example.com", contacts.Input{SignupAt: ptr("2026-03-04T04:30:00Z"), Timezone: ptr("America/New_York")}, "America/New_York", []string{"2027-03-03", "2028-03-03"}},
			// 01:00 in Tokyo on 4 March is 3 March in UTC.
			{"tokyo@example.com", contacts.Input{SignupAt: ptr("2026-03-03T16:00:00Z"), Timezone: ptr("Asia/Tokyo")}, "Asia/Tokyo", []string{"2027-03-04", "2028-03-04"}},
			// Signed up during the simulation: one anniversary, a year on.
			{"new@example.com", contacts.Input{SignupAt: ptr("2027-05-05T12:00:00Z")}, "UTC", []string{"2028-05-05"}},
		}},
		{"custom date", `{"type": "date", "field": "attr.renewal", "offset_days": -7, "hour": 0}`, []person{
			{"yearly@example.com", contacts.Input{Attributes: map[string]any{"renewal": "2024-08-20"}}, "UTC", []string{"2027-08-13", "2028-08-13"}},
			// A renewal due in 2028 is reminded of in 2028 only.
			{"later@example.com", contacts.Input{Attributes: map[string]any{"renewal": "2028-08-20"}}, "UTC", []string{"2028-08-13"}},
			{"far@example.com", contacts.Input{Attributes: map[string]any{"renewal": "2030-08-20"}}, "UTC", nil},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newFlowWorld(t, worldConfig{})
			if _, err := w.contacts.CreateField(context.Background(), "renewal", contacts.FieldDate); err != nil {
				t.Fatal(err)
			}
			for _, p := range tc.people {
				in := p.in
				in.Email = ptr(p.email)
				w.contact(t, in)
			}
			w.flow(t, `{"name": "Dates", "trigger": `+tc.trigger+`, "steps": [`+sendStep("date")+`]}`)
			w.simulateDays(t, time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC), time.Date(2028, 12, 31, 0, 0, 0, 0, time.UTC))
			for _, p := range tc.people {
				if got := w.localDays(t, p.email, p.zone); strings.Join(got, " ") != strings.Join(p.want, " ") {
					t.Errorf("%s got messages on %v, want %v", p.email, got, p.want)
				}
			}
		})
	}
}

// TestLeapDayBirthdays: a 29 February birthday is celebrated on 29
// February in leap years and on 28 February in others, once a year; its
// neighbours keep their own days.
func TestLeapDayBirthdays(t *testing.T) {
	w := newFlowWorld(t, worldConfig{})
	people := []struct {
		email, birthday string
		want            []string
	}{
		{"leap@example.com", "2000-02-29", []string{"2027-02-28", "2028-02-29", "2029-02-28"}},
		{"feb28@example.com", "1999-02-28", []string{"2027-02-28", "2028-02-28", "2029-02-28"}},
		{"mar1@example.com", "1999-03-01", []string{"2027-03-01", "2028-03-01", "2029-03-01"}},
	}
	for _, p := range people {
		w.contact(t, contacts.Input{Email: ptr(p.email), Birthday: ptr(p.birthday)})
	}
	w.flow(t, `{"name": "Birthday", "trigger": {"type": "date", "field": "birthday", "hour": 9}, "steps": [`+sendStep("happy")+`]}`)
	for _, year := range []int{2027, 2028, 2029} {
		w.simulateDays(t, time.Date(year, 2, 20, 0, 0, 0, 0, time.UTC), time.Date(year, 3, 5, 0, 0, 0, 0, time.UTC))
	}
	for _, p := range people {
		if got := w.localDays(t, p.email, "UTC"); strings.Join(got, " ") != strings.Join(p.want, " ") {
			t.Errorf("%s (%s) got messages on %v, want %v", p.email, p.birthday, got, p.want)
		}
	}
}

// TestDateFlowsSendOncePerYear: correcting a birthday after this year's
// message does not send a second one this year; next year's goes out on
// the corrected day. Runs stored by earlier versions (keyed by the date)
// count as their year's.
func TestDateFlowsSendOncePerYear(t *testing.T) {
	w := newFlowWorld(t, worldConfig{})
	ctx := context.Background()
	fixed := w.contact(t, contacts.Input{Email: ptr("fixed@example.com"), Birthday: ptr("1990-03-03")})
	old := w.contact(t, contacts.Input{Email: ptr("upgraded@example.com"), Birthday: ptr("1990-03-10")})
	f := w.flow(t, `{"name": "Birthday", "trigger": {"type": "date", "field": "birthday", "hour": 9}, "steps": [`+sendStep("happy")+`]}`)
	// Before the upgrade, upgraded@ got this year's message on 3 March,
	// then corrected their birthday to 10 March.
	started := time.Date(2027, 3, 3, 9, 0, 0, 0, time.UTC)
	if err := w.db.Create(&automations.Run{AutomationID: f.ID, ContactID: old.ID, Occurrence: "2027-03-03", Status: automations.RunDone, Step: 1, NextAt: started, StartedAt: started, FinishedAt: &started}).Error; err != nil {
		t.Fatal(err)
	}
	w.simulateDays(t, time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 3, 5, 0, 0, 0, 0, time.UTC))
	if _, err := w.contacts.Update(ctx, fixed.ID, contacts.Input{Birthday: ptr("1990-03-10")}); err != nil {
		t.Fatal(err)
	}
	w.simulateDays(t, time.Date(2027, 3, 6, 0, 0, 0, 0, time.UTC), time.Date(2028, 3, 15, 0, 0, 0, 0, time.UTC))
	want := map[string][]string{
		"fixed@example.com":    {"2027-03-03", "2028-03-10"},
		"upgraded@example.com": {"2028-03-10"},
	}
	for email, days := range want {
		if got := w.localDays(t, email, "UTC"); strings.Join(got, " ") != strings.Join(days, " ") {
			t.Errorf("%s got messages on %v, want %v", email, got, days)
		}
	}
	var occ []string
	w.db.Model(&automations.Run{}).Where("contact_id = ?", fixed.ID).Order("occurrence").Pluck("occurrence", &occ)
	if fmt.Sprint(occ) != "[date:2027 date:2028]" {
		t.Errorf("occurrences %v, want one per year", occ)
	}
}
