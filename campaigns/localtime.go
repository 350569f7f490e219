package campaigns

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"herald/contacts"
	"herald/internal/errs"
)

// What a local-time send does for contacts whose hour has already passed
// in their zone when the campaign launches.
const (
	MissedNextDay = "next_day" // the same hour on the next day it is still ahead
	MissedNow     = "now"      // at once
)

// LocalTimeReason starts the Error of a delivery that waits for its
// contact's local hour; reports count those apart from the frequency
// cap's.
const LocalTimeReason = "local time "

// LocalTime sends a campaign at an hour of each contact's own time zone
// ("09:00 wherever they are") on one day. Contacts without a valid time
// zone are in the installation's (Config.Zone). Empty Time: off.
type LocalTime struct {
	Time   string `gorm:"column:local_time;size:5;not null;default:''"`
	Date   string `gorm:"column:local_date;size:10;not null;default:''"`
	Missed string `gorm:"column:local_missed;size:8;not null;default:''"`
}

// SendOptions say when a campaign goes out: now, at At, and, with a
// LocalTime, at that hour of each contact's time zone.
type SendOptions struct {
	At        *time.Time
	LocalTime string
	// LocalDate (YYYY-MM-DD) defaults to the day of the launch in the
	// installation's time zone.
	LocalDate string
	// Missed is MissedNextDay (the default) or MissedNow.
	Missed string
}

// maxLocalAhead bounds how far ahead a local date may be: the audience is
// chosen at launch, so a send months ahead is better scheduled nearer.
const maxLocalAhead = 366 * 24 * time.Hour

// localTime checks the local-time options of a send of c whose launch is
// at launch and returns what to store; the zero LocalTime when they are
// off.
func (s *Service) localTime(c Campaign, o SendOptions, launch time.Time) (LocalTime, error) {
	if strings.TrimSpace(o.LocalTime) == "" {
		switch {
		case o.LocalDate != "":
			return LocalTime{}, errs.Invalid("local_time", "is required with local_date: give the hour to send at, such as 09:00")
		case o.Missed != "":
			return LocalTime{}, errs.Invalid("local_time", "is required with missed: give the hour to send at, such as 09:00")
		}
		return LocalTime{}, nil
	}
	if c.ABTest != nil && len(c.ABTest.Variants) > 0 {
		// The test share goes first and the rest waits for the winner:
		// there is no one hour to send either at.
		return LocalTime{}, errs.Invalid("local_time", "a campaign with an A/B test cannot be sent at a local time: remove the test or send without local_time")
	}
	lt := LocalTime{Time: strings.TrimSpace(o.LocalTime), Date: strings.TrimSpace(o.LocalDate), Missed: strings.TrimSpace(o.Missed)}
	if _, err := time.Parse("15:04", lt.Time); err != nil || len(lt.Time) != 5 {
		return LocalTime{}, errs.Invalid("local_time", "%q is not a time of day: give hours and minutes on 24 hours, such as 09:00", lt.Time)
	}
	switch lt.Missed {
	case "":
		lt.Missed = MissedNextDay
	case MissedNextDay, MissedNow:
	default:
		return LocalTime{}, errs.Invalid("missed", "%q is not a choice: give %q (send the next day at that hour) or %q (send at once)", lt.Missed, MissedNextDay, MissedNow)
	}
	zone := s.Zone()
	today := launch.In(zone).Format(time.DateOnly)
	if lt.Date == "" {
		lt.Date = today
	}
	d, err := time.Parse(time.DateOnly, lt.Date)
	if err != nil {
		return LocalTime{}, errs.Invalid("local_date", "%q is not a date such as 2026-12-10", lt.Date)
	}
	if lt.Date < today {
		return LocalTime{}, errs.Invalid("local_date", "%s is in the past: the send starts on %s in %s", lt.Date, today, zone)
	}
	if first, _ := time.Parse(time.DateOnly, today); d.Sub(first) > maxLocalAhead {
		return LocalTime{}, errs.Invalid("local_date", "%s is more than a year after the send starts (%s): schedule the send nearer the day", lt.Date, today)
	}
	return lt, nil
}

// Zone is the installation's time zone, where contacts without a valid
// one of their own are.
func (s *Service) Zone() *time.Location {
	if s.cfg.Zone != nil {
		return s.cfg.Zone
	}
	return time.UTC
}

// localPlan turns a campaign's LocalTime into each contact's send time.
// It caches the time zones it loads for the length of a launch.
type localPlan struct {
	lt        LocalTime
	date      time.Time // the day, at midnight UTC
	hour, min int
	def       *time.Location
	zones     map[string]*time.Location
}

// newLocalPlan returns the plan of c, or nil when c is not sent at a
// local time.
func (s *Service) newLocalPlan(c Campaign) (*localPlan, error) {
	if c.Local.Time == "" {
		return nil, nil
	}
	hm, err := time.Parse("15:04", c.Local.Time)
	if err != nil {
		return nil, fmt.Errorf("campaigns: campaign %d: local time %q: %w", c.ID, c.Local.Time, err)
	}
	d, err := time.Parse(time.DateOnly, c.Local.Date)
	if err != nil {
		return nil, fmt.Errorf("campaigns: campaign %d: local date %q: %w", c.ID, c.Local.Date, err)
	}
	return &localPlan{lt: c.Local, date: d, hour: hm.Hour(), min: hm.Minute(), def: s.Zone(), zones: map[string]*time.Location{}}, nil
}

// location is the contact's time zone, or the default one when theirs is
// empty or not one Go knows (stored before it was checked, or from a
// system with other zone names).
func (p *localPlan) location(name string) *time.Location {
	if loc, ok := p.zones[name]; ok {
		return loc
	}
	loc := p.def
	if name != "" && name != "Local" {
		if l, err := time.LoadLocation(name); err == nil {
			loc = l
		}
	}
	p.zones[name] = loc
	return loc
}

// at returns when the contact in zone should get the message, given that
// the launch is at now, and whether that is later than now.
func (p *localPlan) at(zone string, now time.Time) (time.Time, *time.Location, bool) {
	loc := p.location(zone)
	t := localInstant(loc, p.date, p.hour, p.min)
	if t.After(now) {
		return t, loc, true
	}
	if p.lt.Missed == MissedNow {
		return now, loc, false
	}
	// The first later day whose hour is still ahead: a zone far east of
	// the installation's may be past the day itself.
	for day := 1; !t.After(now); day++ {
		t = localInstant(loc, p.date.AddDate(0, 0, day), p.hour, p.min)
	}
	return t, loc, true
}

// localInstant is the instant the clocks of loc show hour:min on the day
// of date. Where a DST change skips that time (02:30 when clocks go from
// 02:00 to 03:00) it is read with the offset in force before the change,
// which lands as long after the jump as the time was after 02:00 (03:30);
// where it happens twice (01:30 when clocks go back) it is the first.
// time.Date leaves both cases unspecified.
func localInstant(loc *time.Location, date time.Time, hour, min int) time.Time {
	wall := time.Date(date.Year(), date.Month(), date.Day(), hour, min, 0, 0, time.UTC)
	_, before := wall.Add(-36 * time.Hour).In(loc).Zone()
	_, after := wall.Add(36 * time.Hour).In(loc).Zone()
	var best time.Time
	for _, off := range []int{before, after} {
		t := wall.Add(-time.Duration(off) * time.Second)
		if _, o := t.In(loc).Zone(); o == off && (best.IsZero() || t.Before(best)) {
			best = t
		}
	}
	if best.IsZero() {
		best = wall.Add(-time.Duration(before) * time.Second)
	}
	return best
}

// localHolds adds to holds (contact id -> hold) the contacts of ids whose
// local hour is still ahead at now; their hold replaces a frequency-cap
// one, which the release checks again. Contacts due now keep theirs.
func (s *Service) localHolds(ctx context.Context, p *localPlan, ids []int64, now time.Time, holds map[int64]CapHold) (map[int64]CapHold, error) {
	if holds == nil {
		holds = map[int64]CapHold{}
	}
	for start := 0; start < len(ids); start += 500 {
		var rows []contacts.Contact
		err := s.db.WithContext(ctx).Select("id", "timezone").Where("id IN ?", ids[start:min(start+500, len(ids))]).Find(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("campaigns: time zones of recipients: %w", err)
		}
		for _, c := range rows {
			t, loc, later := p.at(c.Timezone, now)
			if !later {
				continue
			}
			reason := LocalTimeReason + p.lt.Time + " " + loc.String()
			if loc.String() != c.Timezone {
				reason += " (the default time zone)"
			}
			holds[c.ID] = CapHold{Next: t, Reason: reason}
		}
	}
	return holds, nil
}

// migrateLocalTime adds the index the sweep releases deferred deliveries
// by: a local-time send defers a campaign's whole audience, and without
// not_before in the index each sweep would read every one of them.
func migrateLocalTime(g *gorm.DB) error {
	return g.Exec("CREATE INDEX IF NOT EXISTS idx_deliveries_campaign_due ON deliveries (campaign_id, status, not_before)").Error
}
