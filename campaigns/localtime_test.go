package campaigns_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/campaigntest"
	"herald/internal/errs"
	"herald/internal/testenv"
)

// localWorld is a test world whose installation lives in Europe/Paris,
// on a clock the test moves, with one contact per time zone of interest.
type localWorld struct {
	*campaigntest.World
	clock  *testenv.Clock
	mailer *campaigntest.Mailer
	sender *campaigns.Sender
	seg    int64
	ids    map[string]int64 // email -> contact id
}

func newLocalWorld(t *testing.T, start time.Time, zones map[string]string, capCfg campaigns.CapConfig) *localWorld {
	t.Helper()
	w := &localWorld{World: campaigntest.NewWorld(t), clock: testenv.NewClock(start), mailer: &campaigntest.Mailer{}, ids: map[string]int64{}}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	w.Svc = campaigns.NewService(w.DB, w.Contacts, w.Segments, w.Q, nil, campaigns.Config{
		BaseURL: "https://h.example", LaunchPage: 3, ClaimSize: 2, Log: testenv.Logger(),
		Cap: capCfg, Zone: paris, Now: w.clock.Now,
	})
	w.sender = campaigns.NewSender(w.Svc, w.mailer, nil)
	ctx := context.Background()
	var ins []contacts.Input
	invalid := map[string]string{}
	for email, zone := range zones {
		e, z, country := email, zone, "NL"
		in := contacts.Input{Email: &e, Country: &country}
		if _, err := time.LoadLocation(z); err == nil {
			in.Timezone = &z
		} else {
			invalid[e] = z
		}
		ins = append(ins, in)
	}
	res, err := w.Contacts.UpsertMany(ctx, ins)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	for email := range zones {
		c, err := w.Contacts.GetByEmail(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		w.ids[email] = c.ID
	}
	// A zone Go does not know can only come from data stored before
	// contacts were checked; write it as such.
	for email, z := range invalid {
		if err := w.DB.Model(&contacts.Contact{}).Where("id = ?", w.ids[email]).Update("timezone", z).Error; err != nil {
			t.Fatal(err)
		}
	}
	w.seg = w.Segment(t, "Everyone", campaigntest.EqSegment("NL"))
	return w
}

// step runs what the workers do when time has passed: the sweep (twice,
// as two workers might) and every enqueued batch (twice).
func (w *localWorld) step(t *testing.T, id int64) {
	t.Helper()
	for i := 0; i < 2; i++ {
		if err := w.Svc.Sweep(context.Background(), time.Minute); err != nil {
			t.Fatal(err)
		}
		w.Drain(t, id, w.sender)
	}
}

// sent lists who has had the campaign, sorted, failing on a double send.
func (w *localWorld) sent(t *testing.T) []string {
	t.Helper()
	var out []string
	for e := range w.ids {
		switch n := w.mailer.Count(e); n {
		case 0:
		case 1:
			out = append(out, e)
		default:
			t.Errorf("%s got %d messages, want at most 1", e, n)
		}
	}
	sort.Strings(out)
	return out
}

func (w *localWorld) campaign(t *testing.T) campaigns.Campaign {
	t.Helper()
	return w.Campaign(t, []int64{w.seg}, nil)
}

// The contacts of the local-time tests: one per zone, one without a zone
// and one with a zone Go does not know (both in the installation's
// Europe/Paris). On 2026-12-10, 09:00 falls at these UTC instants.
var localContacts = map[string]string{
	"utc@x.example":      "UTC",              // 12-10 09:00
	"paris@x.example":    "Europe/Paris",     // 12-10 08:00
	"ny@x.example":       "America/New_York", // 12-10 14:00
	"tokyo@x.example":    "Asia/Tokyo",       // 12-10 00:00
	"auckland@x.example": "Pacific/Auckland", // 12-09 20:00, across the date line
	"nozone@x.example":   "",                 // 12-10 08:00, the default zone
	"badzone@x.example":  "Mars/Olympus",     // 12-10 08:00, the default zone
}

// A local-time send reaches each contact at 09:00 of their own zone: the
// clock moves hour by hour and each step has sent to exactly those whose
// hour has come, once each, with the rest waiting (and counted so); the
// campaign is sending until the last zone's hour. A contact whose hour
// passed before the launch is sent at once or the next day, as chosen.
func TestALocalTimeSendReachesEachContactAtTheHourOfTheirOwnTimeZone(t *testing.T) {
	utc := func(day, hour int) time.Time { return time.Date(2026, 12, day, hour, 0, 0, 0, time.UTC) }
	cases := []struct {
		name   string
		launch time.Time
		missed string
		// when each contact is sent; the zero time: at the launch.
		want  map[string]time.Time
		steps int
	}{
		{
			name: "launched the day before, everyone's hour is ahead", launch: utc(9, 12).Add(30 * time.Minute), missed: campaigns.MissedNextDay, steps: 27,
			want: map[string]time.Time{
				"auckland@x.example": utc(9, 20), "tokyo@x.example": utc(10, 0),
				"paris@x.example": utc(10, 8), "nozone@x.example": utc(10, 8), "badzone@x.example": utc(10, 8),
				"utc@x.example": utc(10, 9), "ny@x.example": utc(10, 14),
			},
		},
		{
			name: "launched on the day, missed hours are sent at once", launch: utc(10, 8).Add(30 * time.Minute), missed: campaigns.MissedNow, steps: 8,
			want: map[string]time.Time{
				"auckland@x.example": {}, "tokyo@x.example": {}, "paris@x.example": {}, "nozone@x.example": {}, "badzone@x.example": {},
				"utc@x.example": utc(10, 9), "ny@x.example": utc(10, 14),
			},
		},
		{
			name: "launched on the day, missed hours wait for the next day", launch: utc(10, 8).Add(30 * time.Minute), missed: campaigns.MissedNextDay, steps: 26,
			want: map[string]time.Time{
				"utc@x.example": utc(10, 9), "ny@x.example": utc(10, 14),
				"auckland@x.example": utc(10, 20), "tokyo@x.example": utc(11, 0),
				"paris@x.example": utc(11, 8), "nozone@x.example": utc(11, 8), "badzone@x.example": utc(11, 8),
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newLocalWorld(t, tc.launch, localContacts, campaigns.CapConfig{})
			ctx := context.Background()
			c := w.campaign(t)
			got, err := w.Svc.SendWith(ctx, c.ID, campaigns.SendOptions{LocalTime: "09:00", LocalDate: "2026-12-10", Missed: tc.missed})
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != campaigns.CampaignSending || got.Local != (campaigns.LocalTime{Time: "09:00", Date: "2026-12-10", Missed: tc.missed}) {
				t.Fatalf("after the send the campaign is %s with %+v", got.Status, got.Local)
			}
			w.Drain(t, c.ID, w.sender)
			var last time.Time
			for e, at := range tc.want {
				if at.After(last) {
					last = at
				}
				if at.IsZero() {
					continue
				}
				var d campaigns.Delivery
				if err := w.DB.Where("campaign_id = ? AND contact_id = ?", c.ID, w.ids[e]).Take(&d).Error; err != nil {
					t.Fatal(err)
				}
				zone := localContacts[e]
				if zone == "" || zone == "Mars/Olympus" {
					zone = "Europe/Paris (the default time zone)"
				}
				if d.Status != campaigns.DeliveryDeferred || d.NotBefore == nil || !d.NotBefore.Equal(at) || d.Error != "local time 09:00 "+zone {
					t.Errorf("%s: delivery %s until %v because %q; want deferred until %v because %q", e, d.Status, d.NotBefore, d.Error, at, "local time 09:00 "+zone)
				}
			}
			for i := 0; i <= tc.steps; i++ {
				now := w.clock.Now()
				var want []string
				for e, at := range tc.want {
					if !at.After(now) {
						want = append(want, e)
					}
				}
				sort.Strings(want)
				if got := w.sent(t); strings.Join(got, " ") != strings.Join(want, " ") {
					t.Fatalf("at %s: sent to %d %v, want %d %v", now.Format(time.RFC3339), len(got), got, len(want), want)
				}
				st := w.Stats(t, c.ID)
				waiting := int64(len(tc.want) - len(want))
				if st.Sent != int64(len(want)) || st.WaitingLocalTime != waiting || st.Deferred != waiting || st.Total != int64(len(tc.want)) {
					t.Fatalf("at %s: stats sent %d, waiting for local time %d, deferred %d of %d; want %d, %d, %d of %d",
						now.Format(time.RFC3339), st.Sent, st.WaitingLocalTime, st.Deferred, st.Total, len(want), waiting, waiting, len(tc.want))
				}
				wantStatus := campaigns.CampaignSending
				if !last.After(now) {
					wantStatus = campaigns.CampaignSent
				}
				if cur, _ := w.Svc.Get(ctx, c.ID); cur.Status != wantStatus {
					t.Fatalf("at %s the campaign is %s, want %s", now.Format(time.RFC3339), cur.Status, wantStatus)
				}
				w.clock.Add(time.Hour)
				w.step(t, c.ID)
			}
		})
	}
}

// On a day clocks change, a local hour that does not exist is read with
// the offset before the change (02:30 becomes 03:30, the same time after
// the jump), and one that happens twice is its first occurrence.
func TestALocalTimeOnADaylightSavingChangeIsResolvedTheSameWayEveryTime(t *testing.T) {
	cases := []struct {
		name, zone, date, hour string
		want                   time.Time
	}{
		{"skipped in New York in spring", "America/New_York", "2026-03-08", "02:30", time.Date(2026, 3, 8, 7, 30, 0, 0, time.UTC)},
		{"twice in New York in autumn", "America/New_York", "2026-11-01", "01:30", time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC)},
		{"skipped in Paris in spring", "Europe/Paris", "2026-03-29", "02:30", time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)},
		{"twice in Paris in autumn", "Europe/Paris", "2026-10-25", "02:30", time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC)},
		{"half-hour change on Lord Howe Island", "Australia/Lord_Howe", "2026-10-04", "02:15", time.Date(2026, 10, 3, 15, 45, 0, 0, time.UTC)},
		{"an ordinary day after the change", "America/New_York", "2026-03-09", "02:30", time.Date(2026, 3, 9, 6, 30, 0, 0, time.UTC)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newLocalWorld(t, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), map[string]string{"a@x.example": tc.zone}, campaigns.CapConfig{})
			c := w.campaign(t)
			if _, err := w.Svc.SendWith(context.Background(), c.ID, campaigns.SendOptions{LocalTime: tc.hour, LocalDate: tc.date}); err != nil {
				t.Fatal(err)
			}
			w.Drain(t, c.ID, w.sender)
			var d campaigns.Delivery
			if err := w.DB.Where("campaign_id = ?", c.ID).Take(&d).Error; err != nil {
				t.Fatal(err)
			}
			if d.NotBefore == nil || !d.NotBefore.Equal(tc.want) {
				t.Errorf("%s %s in %s waits until %v, want %v", tc.date, tc.hour, tc.zone, d.NotBefore, tc.want)
			}
			// One minute before, nothing; at the instant, the message.
			w.clock.Add(tc.want.Sub(w.clock.Now()) - time.Minute)
			w.step(t, c.ID)
			if n := w.mailer.Count("a@x.example"); n != 0 {
				t.Fatalf("sent %d a minute early", n)
			}
			w.clock.Add(time.Minute)
			w.step(t, c.ID)
			if n := w.mailer.Count("a@x.example"); n != 1 {
				t.Errorf("sent %d at the local time, want 1", n)
			}
		})
	}
}

// Pausing a local-time send holds the contacts whose hour comes while it
// is paused; resuming sends them at once (their hour has passed), and
// cancelling skips the rest.
func TestPausingAndCancellingALocalTimeSendHoldThenSkipTheWaitingContacts(t *testing.T) {
	w := newLocalWorld(t, time.Date(2026, 12, 9, 12, 30, 0, 0, time.UTC), localContacts, campaigns.CapConfig{})
	ctx := context.Background()
	c := w.campaign(t)
	if _, err := w.Svc.SendWith(ctx, c.ID, campaigns.SendOptions{LocalTime: "09:00", LocalDate: "2026-12-10"}); err != nil {
		t.Fatal(err)
	}
	w.Drain(t, c.ID, w.sender)
	w.clock.Add(12 * time.Hour) // 12-10 00:30: Auckland and Tokyo
	w.step(t, c.ID)
	if got := w.sent(t); len(got) != 2 {
		t.Fatalf("by 00:30 UTC sent to %v, want Auckland and Tokyo", got)
	}
	if _, err := w.Svc.Pause(ctx, c.ID, "paused by a user"); err != nil {
		t.Fatal(err)
	}
	w.clock.Add(9 * time.Hour) // 09:30: Paris, the defaults and UTC are due
	w.step(t, c.ID)
	if got := w.sent(t); len(got) != 2 {
		t.Fatalf("while paused sent to %v, want still the 2 before", got)
	}
	if st := w.Stats(t, c.ID); st.WaitingLocalTime != 5 {
		t.Errorf("while paused %d wait for their local time, want 5", st.WaitingLocalTime)
	}
	if _, err := w.Svc.Resume(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	w.step(t, c.ID)
	if got := w.sent(t); len(got) != 6 {
		t.Fatalf("after resuming sent to %v, want 6 (all but New York)", got)
	}
	if _, err := w.Svc.Cancel(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	w.clock.Add(6 * time.Hour) // 15:30: New York's hour has passed
	w.step(t, c.ID)
	st := w.Stats(t, c.ID)
	if n := w.mailer.Count("ny@x.example"); n != 0 || st.Skipped != 1 || st.WaitingLocalTime != 0 || st.Sent != 6 {
		t.Errorf("after cancelling: New York got %d, stats skipped %d, waiting %d, sent %d; want 0, 1, 0, 6", n, st.Skipped, st.WaitingLocalTime, st.Sent)
	}
	if cur, _ := w.Svc.Get(ctx, c.ID); cur.Status != campaigns.CampaignCancelled {
		t.Errorf("campaign is %s, want cancelled", cur.Status)
	}
}

// The frequency cap still holds when a contact's local hour comes: a
// contact who had another message meanwhile waits for the cap instead,
// and is counted as deferred by the cap, no longer as waiting for their
// hour.
func TestTheFrequencyCapStillAppliesWhenALocalHourComes(t *testing.T) {
	w := newLocalWorld(t, time.Date(2026, 12, 9, 12, 30, 0, 0, time.UTC),
		map[string]string{"paris@x.example": "Europe/Paris", "ny@x.example": "America/New_York"}, campaigns.CapConfig{Messages: 1, Window: 24 * time.Hour})
	ctx := context.Background()
	c := w.campaign(t)
	if _, err := w.Svc.SendWith(ctx, c.ID, campaigns.SendOptions{LocalTime: "09:00", LocalDate: "2026-12-10"}); err != nil {
		t.Fatal(err)
	}
	w.Drain(t, c.ID, w.sender)
	// Another campaign reaches Paris at 12-10 00:30 UTC.
	w.clock.Add(12 * time.Hour)
	other := w.Campaign(t, []int64{w.Segment(t, "Paris", map[string]any{"field": "email", "op": "eq", "value": "paris@x.example"})}, nil)
	if _, err := w.Svc.Send(ctx, other.ID, nil); err != nil {
		t.Fatal(err)
	}
	w.Drain(t, other.ID, w.sender)
	w.clock.Add(8 * time.Hour) // 08:30: Paris's hour, but the cap holds until 00:30 the next day
	w.step(t, c.ID)
	st := w.Stats(t, c.ID)
	if n := w.mailer.Count("paris@x.example"); n != 1 || st.Deferred != 2 || st.WaitingLocalTime != 1 {
		t.Fatalf("at Paris's hour: Paris has %d messages, %d deferred of which %d wait for local time; want 1, 2, 1", n, st.Deferred, st.WaitingLocalTime)
	}
	var d campaigns.Delivery
	w.DB.Where("campaign_id = ? AND contact_id = ?", c.ID, w.ids["paris@x.example"]).Take(&d)
	if want := time.Date(2026, 12, 11, 0, 30, 0, 0, time.UTC); d.NotBefore == nil || !d.NotBefore.Equal(want) || !strings.Contains(d.Error, "frequency cap") {
		t.Errorf("Paris waits until %v because %q; want %v and the cap named", d.NotBefore, d.Error, want)
	}
	w.clock.Add(16 * time.Hour) // 12-11 00:30
	w.step(t, c.ID)
	if n := w.mailer.Count("paris@x.example"); n != 2 {
		t.Errorf("once the cap allows it Paris has %d messages, want 2", n)
	}
	if cur, _ := w.Svc.Get(ctx, c.ID); cur.Status != campaigns.CampaignSent {
		t.Errorf("campaign is %s, want sent", cur.Status)
	}
}

// Bad local-time options are refused with the field at fault, and nothing
// changes: the campaign stays a draft.
func TestLocalTimeOptionsAreCheckedBeforeAnythingIsStored(t *testing.T) {
	// 2026-12-09 23:30 UTC is already 12-10 in Paris, the install's zone.
	w := newLocalWorld(t, time.Date(2026, 12, 9, 23, 30, 0, 0, time.UTC), map[string]string{"a@x.example": "UTC"}, campaigns.CapConfig{})
	ctx := context.Background()
	c := w.campaign(t)
	cases := []struct {
		name string
		opts campaigns.SendOptions
		path string
	}{
		{"an hour without minutes", campaigns.SendOptions{LocalTime: "9"}, "local_time"},
		{"an hour past 23", campaigns.SendOptions{LocalTime: "24:00"}, "local_time"},
		{"a 12-hour clock", campaigns.SendOptions{LocalTime: "9:00 am"}, "local_time"},
		{"an unknown missed choice", campaigns.SendOptions{LocalTime: "09:00", Missed: "skip"}, "missed"},
		{"a date that is not one", campaigns.SendOptions{LocalTime: "09:00", LocalDate: "2026-12-32"}, "local_date"},
		{"a date past in the install's zone", campaigns.SendOptions{LocalTime: "09:00", LocalDate: "2026-12-09"}, "local_date"},
		{"a date more than a year ahead", campaigns.SendOptions{LocalTime: "09:00", LocalDate: "2028-01-01"}, "local_date"},
		{"a date without an hour", campaigns.SendOptions{LocalDate: "2026-12-11"}, "local_time"},
		{"a missed choice without an hour", campaigns.SendOptions{Missed: campaigns.MissedNow}, "local_time"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.Svc.SendWith(ctx, c.ID, tc.opts)
			var inv *errs.InvalidError
			if !errors.As(err, &inv) || inv.Path != tc.path {
				t.Fatalf("error %v, want one at %s", err, tc.path)
			}
			if cur, _ := w.Svc.Get(ctx, c.ID); cur.Status != campaigns.CampaignDraft || cur.Local != (campaigns.LocalTime{}) {
				t.Errorf("after a refused send the campaign is %s with %+v, want an untouched draft", cur.Status, cur.Local)
			}
		})
	}
	// An A/B test sends its share first and the rest at the winner:
	// there is no single local hour for it.
	ab := w.campaign(t)
	if _, err := w.Svc.Update(ctx, ab.ID, campaigns.Input{ABTest: &campaigns.ABTest{TestPercent: 20, WinnerMetric: campaigns.MetricOpens, TestHours: 4,
		Variants: []campaigns.Variant{{Subject: "One"}, {Subject: "Two"}}}}); err != nil {
		t.Fatal(err)
	}
	_, err := w.Svc.SendWith(ctx, ab.ID, campaigns.SendOptions{LocalTime: "09:00"})
	if inv := (*errs.InvalidError)(nil); !errors.As(err, &inv) || inv.Path != "local_time" {
		t.Errorf("a local-time send of an A/B test: %v, want refused at local_time", err)
	}
	// Without a date, the day is today's in the install's zone, and a
	// missed choice defaults to the next day; a later plain send clears it.
	got, err := w.Svc.SendWith(ctx, c.ID, campaigns.SendOptions{LocalTime: "10:00", At: ptrTime(w.clock.Now().Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != campaigns.CampaignScheduled || got.Local != (campaigns.LocalTime{Time: "10:00", Date: "2026-12-10", Missed: campaigns.MissedNextDay}) {
		t.Errorf("scheduled local send: %s with %+v", got.Status, got.Local)
	}
	got, err = w.Svc.Send(ctx, c.ID, ptrTime(w.clock.Now().Add(2*time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if got.Local != (campaigns.LocalTime{}) {
		t.Errorf("a plain reschedule kept the local time %+v", got.Local)
	}
}

func ptrTime(t time.Time) *time.Time { return &t }
