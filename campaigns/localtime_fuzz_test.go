package campaigns

import (
	"errors"
	"testing"
	"time"

	"herald/internal/errs"
)

// Whatever a client sends as local-time options is refused at one of the
// three fields, or kept as a well-formed hour, a day not before the
// launch's and a known missed choice.
func FuzzLocalTimeOptions(f *testing.F) {
	for _, seed := range [][3]string{
		{"09:00", "2026-12-10", "next_day"}, {"23:59", "", "now"}, {"24:00", "", ""}, {"9:00", "", ""},
		{"", "2026-12-10", ""}, {"", "", "now"}, {"09:00", "2026-02-30", ""}, {"09:00", "2020-01-01", ""},
		{" 07:30 ", " 2027-01-01 ", " now "}, {"09:00", "2028-12-31", "later"}, {"0900", "20261210", ""},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		f.Fatal(err)
	}
	s := &Service{cfg: Config{Zone: paris}}
	launch := time.Date(2026, 12, 9, 23, 30, 0, 0, time.UTC) // already 12-10 in Paris
	f.Fuzz(func(t *testing.T, hour, date, missed string) {
		lt, err := s.localTime(Campaign{}, SendOptions{LocalTime: hour, LocalDate: date, Missed: missed}, launch)
		if err != nil {
			var inv *errs.InvalidError
			if !errors.As(err, &inv) || (inv.Path != "local_time" && inv.Path != "local_date" && inv.Path != "missed") || inv.Message == "" {
				t.Fatalf("(%q, %q, %q): %v, want a refusal at one of the fields", hour, date, missed, err)
			}
			return
		}
		if lt == (LocalTime{}) {
			return // off
		}
		if h, err := time.Parse("15:04", lt.Time); err != nil || h.Format("15:04") != lt.Time {
			t.Fatalf("(%q, %q, %q): kept the hour %q", hour, date, missed, lt.Time)
		}
		if d, err := time.Parse(time.DateOnly, lt.Date); err != nil || lt.Date < "2026-12-10" || d.Format(time.DateOnly) != lt.Date {
			t.Fatalf("(%q, %q, %q): kept the day %q", hour, date, missed, lt.Date)
		}
		if lt.Missed != MissedNextDay && lt.Missed != MissedNow {
			t.Fatalf("(%q, %q, %q): kept the missed choice %q", hour, date, missed, lt.Missed)
		}
	})
}

// localInstant gives, for any day and time in any of these zones, the
// first instant the zone's clocks show it, or, where a change skips it,
// the instant as long after the jump as the time was after the jump's
// start.
func FuzzLocalInstant(f *testing.F) {
	zones := []string{"America/New_York", "Europe/Paris", "Australia/Lord_Howe", "Pacific/Auckland", "Asia/Tokyo", "America/Sao_Paulo", "Pacific/Apia", "UTC"}
	f.Add(uint8(0), uint16(66), uint8(2), uint8(30))  // New York, 2026-03-08 02:30
	f.Add(uint8(0), uint16(304), uint8(1), uint8(30)) // New York, 2026-11-01 01:30
	f.Add(uint8(1), uint16(87), uint8(2), uint8(30))  // Paris, 2026-03-29 02:30
	f.Add(uint8(2), uint16(276), uint8(2), uint8(15)) // Lord Howe, 2026-10-04 02:15
	f.Add(uint8(6), uint16(0), uint8(9), uint8(0))
	locs := make([]*time.Location, len(zones))
	for i, z := range zones {
		loc, err := time.LoadLocation(z)
		if err != nil {
			f.Fatal(err)
		}
		locs[i] = loc
	}
	f.Fuzz(func(t *testing.T, zone uint8, day uint16, hour, minute uint8) {
		loc := locs[int(zone)%len(locs)]
		date := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(day)%730)
		h, m := int(hour)%24, int(minute)%60
		got := localInstant(loc, date, h, m)
		want := time.Date(date.Year(), date.Month(), date.Day(), h, m, 0, 0, time.UTC)
		wall := func(u time.Time) time.Time {
			l := u.In(loc)
			return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), 0, 0, time.UTC)
		}
		// Every instant within a day of it whose clocks show the time,
		// by quarter hours (all offsets in use are whole quarter hours).
		var first time.Time
		for u := want.Add(-15 * time.Hour); !u.After(want.Add(15 * time.Hour)); u = u.Add(15 * time.Minute) {
			if wall(u).Equal(want) {
				first = u
				break
			}
		}
		if !first.IsZero() {
			if !got.Equal(first) {
				t.Fatalf("%s %s %02d:%02d: %v, want the first instant %v", loc, date.Format(time.DateOnly), h, m, got, first)
			}
			return
		}
		_, before := got.Add(-24 * time.Hour).In(loc).Zone()
		_, after := got.Add(24 * time.Hour).In(loc).Zone()
		if shifted := want.Add(time.Duration(after-before) * time.Second); !wall(got).Equal(shifted) {
			t.Fatalf("%s %s %02d:%02d is skipped: %v shows %v, want %v", loc, date.Format(time.DateOnly), h, m, got, wall(got), shifted)
		}
	})
}
