package automations

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/db"
	"herald/internal/errs"
	"herald/segments"
)

// Config tunes automations. The frequency cap their messages obey is the
// campaigns service's (campaigns.CapConfig).
type Config struct {
	// Timezone is where contacts without a time zone live (UTC if empty).
	Timezone string
	// CursorLag is how long segment entries and events stay in the scan
	// of segment_entered and event triggers (5 minutes when zero). Their
	// ids are taken when a row is written but it is seen when its
	// transaction commits, so on PostgreSQL a lower id can appear after a
	// higher one; a trigger's cursor only moves past rows older than this,
	// and the newer ones are looked at again (already enrolled ones are
	// left out by their occurrence). A transaction open longer than this
	// could still be missed.
	CursorLag time.Duration
	// RetryAfter is how long a run whose step failed waits before it is
	// tried again (10 minutes when zero).
	RetryAfter time.Duration
	Now        func() time.Time
	Log        *slog.Logger
}

func (c Config) cursorLag() time.Duration {
	if c.CursorLag > 0 {
		return c.CursorLag
	}
	return 5 * time.Minute
}

func (c Config) retryAfter() time.Duration {
	if c.RetryAfter > 0 {
		return c.RetryAfter
	}
	return 10 * time.Minute
}

// TickResult says what one pass of the flow engine did.
type TickResult struct {
	Enrolled int
	Sent     int
	Deferred int
	Exited   int
	Done     int
	// Failed counts the flows whose enrolment failed and the runs whose
	// step failed in this pass; each is recorded on the flow and the run.
	Failed int
}

// flowProblem is a fault in how a flow is set up (a rule that no longer
// compiles, a message that is gone): the marketer can fix it, so its text
// is what the flow and its runs record.
type flowProblem struct {
	msg string
	err error
}

func (p *flowProblem) Error() string {
	if p.err != nil {
		return "automations: " + p.msg + ": " + p.err.Error()
	}
	return "automations: " + p.msg
}

func (p *flowProblem) Unwrap() error { return p.err }

// problemText is what a marketer is shown of a failure: the problem for
// set-up faults, never the text of an internal error.
func problemText(err error) string {
	var p *flowProblem
	if errors.As(err, &p) {
		return p.msg
	}
	return "an internal error (the worker log has the details)"
}

// rulePlace names a stored rule: how a marketer calls it, and its path
// in the flow's definition.
type rulePlace struct{ label, path string }

var exitRule = rulePlace{"the exit rule", "exit"}

func exitIfRule(step int) rulePlace {
	return rulePlace{fmt.Sprintf("step %d's rule", step+1), fmt.Sprintf("steps[%d].definition", step)}
}

// ruleProblem turns the compile error of a stored rule (a custom field
// deleted since, say) into a flowProblem that names the rule's path.
func ruleProblem(where rulePlace, err error) error {
	if ie, ok := errs.AsInvalid(err); ok {
		return &flowProblem{msg: fmt.Sprintf("%s no longer compiles: %s: %s", where.label, subPath(where.path, ie.Path), ie.Message), err: err}
	}
	return fmt.Errorf("automations: %s: %w", where.path, err)
}

// Tick is one pass of the automation engine at time now: it enrols
// contacts whose trigger fired and moves every due run forward. It is safe
// to run on several workers at once: enrolment is unique per flow, contact
// and occurrence, each run moves by a versioned update only one pass can
// win, and a delivery is unique per step, contact and occurrence.
//
// One flow's failure does not stop the others: a flow whose enrolment
// fails, or whose definition cannot be read, is skipped for this pass,
// and a run whose step fails is tried again after Config.RetryAfter.
// Each failure is recorded on the flow (LastError) and the run (Note),
// and logged here when the flow's recorded error changes. The returned
// error is for the pass as a whole (the database is unreachable).
func (s *Service) Tick(ctx context.Context, now time.Time) (TickResult, error) {
	var res TickResult
	var flows []Automation
	if err := s.db.WithContext(ctx).Where("status = ?", AutomationActive).Order("id").Find(&flows).Error; err != nil {
		return res, fmt.Errorf("automations: active flows: %w", err)
	}
	if len(flows) == 0 {
		return res, nil
	}
	zones, err := s.contactZones(ctx)
	if err != nil {
		return res, err
	}
	failures := map[int64]error{} // flow -> first failure of this pass
	for _, f := range flows {
		n, err := s.enrol(ctx, f, now, zones)
		res.Enrolled += n
		if err != nil {
			if ctx.Err() != nil {
				return res, fmt.Errorf("automations: enrol flow %d: %w", f.ID, err)
			}
			res.Failed++
			failures[f.ID] = fmt.Errorf("enrolling: %w", err)
		}
	}
	err = s.advanceRuns(ctx, flows, now, &res, failures)
	s.recordFailures(context.WithoutCancel(ctx), flows, failures, now)
	return res, err
}

// recordFailures writes each flow's failure of this pass on the flow, and
// clears the error of flows that no longer fail.
func (s *Service) recordFailures(ctx context.Context, flows []Automation, failures map[int64]error, now time.Time) {
	var settled []int64 // flows with an error that did not fail in this pass
	for _, f := range flows {
		if _, failed := failures[f.ID]; !failed && f.LastError != "" {
			settled = append(settled, f.ID)
		}
	}
	if len(settled) > 0 {
		// Runs of the flow that failed earlier may still be waiting for
		// their retry; the error stays until none is.
		var waiting []int64
		err := s.db.WithContext(ctx).Model(&Run{}).Distinct("flow_id").
			Where("flow_id IN ? AND status = ? AND hold = ?", settled, RunActive, HoldFailed).Pluck("flow_id", &waiting).Error
		if err != nil {
			s.log.Warn("automations: check failing runs", "err", err)
		} else {
			clear := slices.DeleteFunc(settled, func(id int64) bool { return slices.Contains(waiting, id) })
			if len(clear) > 0 {
				if err := s.db.WithContext(ctx).Model(&Automation{}).Where("id IN ?", clear).UpdateColumns(map[string]any{"last_error": "", "last_error_at": nil}).Error; err != nil {
					s.log.Warn("automations: clear flow errors", "flows", clear, "err", err)
				}
			}
		}
	}
	for _, f := range flows {
		err, failed := failures[f.ID]
		if !failed {
			continue
		}
		text := clip(problemText(err), 1000)
		if text != f.LastError {
			s.log.Error("automations: automation failed; other automations go on", "flow", f.ID, "err", err)
		}
		if err := s.db.WithContext(ctx).Model(&Automation{}).Where("id = ?", f.ID).UpdateColumns(map[string]any{"last_error": text, "last_error_at": now}).Error; err != nil {
			s.log.Warn("automations: record flow error", "flow", f.ID, "err", err)
		}
	}
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// contactZones lists the time zones contacts have ("" for unknown). The
// list changes rarely and scanning for it on every pass would cost more
// than the pass, so it is kept for a minute.
func (s *Service) contactZones(ctx context.Context) ([]string, error) {
	s.zones.mu.Lock()
	defer s.zones.mu.Unlock()
	if s.zones.list != nil && time.Since(s.zones.at) < time.Minute {
		return s.zones.list, nil
	}
	var zones []string
	if err := s.db.WithContext(ctx).Model(&contacts.Contact{}).Distinct("timezone").Pluck("timezone", &zones).Error; err != nil {
		return nil, fmt.Errorf("automations: contact time zones: %w", err)
	}
	s.zones.list, s.zones.at = zones, time.Now()
	return zones, nil
}

// zoneCache holds the contact time zones a pass of the engine uses.
type zoneCache struct {
	mu   sync.Mutex
	list []string
	at   time.Time
}

// locations loads time zones once per pass.
type locations map[string]*time.Location

func (ls locations) get(name string) *time.Location {
	if l, ok := ls[name]; ok {
		return l
	}
	l := time.UTC
	if name != "" {
		if z, err := time.LoadLocation(name); err == nil {
			l = z
		}
	}
	ls[name] = l
	return l
}

func (s *Service) enrol(ctx context.Context, f Automation, now time.Time, zones []string) (int, error) {
	t, err := TriggerOf(f)
	if err != nil {
		return 0, &flowProblem{msg: "the trigger cannot be read", err: err}
	}
	switch t.Type {
	case TriggerDate:
		return s.enrolDate(ctx, f, t, now, zones)
	case TriggerSegmentEntered:
		return s.enrolSegment(ctx, f, t, now)
	case TriggerEvent:
		return s.enrolEvent(ctx, f, t, now)
	case TriggerInactivity:
		return s.enrolInactive(ctx, f, t, now)
	}
	return 0, &flowProblem{msg: fmt.Sprintf("the trigger type %q is unknown", t.Type)}
}

// insertRuns starts runs for contacts, skipping occurrences already run.
func (s *Service) insertRuns(ctx context.Context, flowID int64, ids []int64, occurrence func(i int) string, now time.Time) (int, error) {
	total := 0
	for start := 0; start < len(ids); start += 100 {
		end := min(start+100, len(ids))
		rows := make([]Run, 0, end-start)
		for i := start; i < end; i++ {
			rows = append(rows, Run{AutomationID: flowID, ContactID: ids[i], Occurrence: occurrence(i), Status: RunActive, NextAt: now, StartedAt: now})
		}
		res := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&rows)
		if res.Error != nil {
			return total, fmt.Errorf("automations: start runs: %w", res.Error)
		}
		total += int(res.RowsAffected)
	}
	return total, nil
}

// dateOccurrence is the occurrence of a date flow: the year of the
// anniversary, so a contact gets one run a year even when their date is
// corrected after this year's message.
func dateOccurrence(year int) string { return "date:" + strconv.Itoa(year) }

// enrolDate enrols contacts whose date (moved by the offset) is today in
// their own time zone, once the local hour of the send has come. 29
// February counts as 28 February in other years. When the stored date has
// a year, only its anniversaries count: birthdays, anniversaries and
// signups from the year after, a custom date (a renewal, a due date) from
// its own year on.
func (s *Service) enrolDate(ctx context.Context, f Automation, t Trigger, now time.Time, zones []string) (int, error) {
	type group struct {
		zones []any
		mds   []int
		year  int
	}
	locs := locations{}
	groups := map[string]*group{}
	for _, z := range zones {
		local := now.In(locs.get(s.zoneOf(t, z)))
		if local.Hour() < *t.Hour {
			continue
		}
		day := time.Date(local.Year(), local.Month(), local.Day(), 12, 0, 0, 0, time.UTC).AddDate(0, 0, -t.OffsetDays)
		key := day.Format("2006-01-02")
		g := groups[key]
		if g == nil {
			md := int(day.Month())*100 + day.Day()
			g = &group{mds: []int{md}, year: day.Year()}
			if md == 228 && !leapYear(day.Year()) {
				g.mds = append(g.mds, 229)
			}
			groups[key] = g
		}
		g.zones = append(g.zones, z)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	total := 0
	for _, key := range keys {
		g := groups[key]
		occ := dateOccurrence(g.year)
		ids, err := s.dateCandidates(ctx, f, t, g.zones, g.mds, g.year, occ, locs)
		if err != nil {
			return total, err
		}
		n, err := s.insertRuns(ctx, f.ID, ids, func(int) string { return occ }, now)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// zoneOf is the zone a contact with time zone z lives in for trigger t.
func (s *Service) zoneOf(t Trigger, z string) string {
	if z != "" {
		return z
	}
	if t.Timezone != "" {
		return t.Timezone
	}
	return s.cfg.Timezone
}

// dateCandidates returns the contacts in zones whose date falls on one of
// mds in year and who have no run for that year yet.
func (s *Service) dateCandidates(ctx context.Context, f Automation, t Trigger, zones []any, mds []int, year int, occ string, locs locations) ([]int64, error) {
	pg := db.IsPostgres(s.db)
	yearText := fmt.Sprintf("%04d", year)
	// Runs of installs from before the occurrence was the year are keyed
	// by the date ("2027-03-03"); they count as that year's.
	where := "contacts.status = ? AND contacts.timezone IN ? AND NOT EXISTS (SELECT 1 FROM flow_runs r WHERE r.flow_id = ? AND r.contact_id = contacts.id AND (r.occurrence = ? OR r.occurrence LIKE ?))"
	args := []any{contacts.Subscribed, zones, f.ID, occ, yearText + "-%"}
	q := s.db.WithContext(ctx).Model(&contacts.Contact{})
	switch {
	case t.Field == "birthday" || t.Field == "anniversary":
		col := "contacts." + t.Field
		where += " AND " + col + "_md IN ? AND (" + col + " LIKE '--%' OR substr(" + col + ", 1, 4) < ?)"
		args = append(args, mds, yearText)
	case t.Field == "signup_at":
		return s.signupCandidates(ctx, q.Where(where, args...), t, mds, year, locs)
	default:
		name := strings.TrimPrefix(t.Field, "attr.")
		var v string
		var vArgs []any
		if pg {
			v, vArgs = "(contacts.attributes ->> CAST(? AS text))", []any{name}
		} else {
			v, vArgs = "json_extract(contacts.attributes, ?)", []any{"$." + name}
		}
		md := "CAST(substr(" + v + ", 6, 2) || substr(" + v + ", 9, 2) AS INTEGER)"
		if pg {
			md = "(CASE WHEN " + v + " ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN " + md + " END)"
			args = append(args, vArgs...)
		}
		args = append(args, vArgs...)
		args = append(args, vArgs...)
		args = append(args, mds)
		args = append(args, vArgs...)
		args = append(args, yearText)
		where += " AND " + md + " IN ? AND substr(" + v + ", 1, 4) <= ?"
	}
	var ids []int64
	if err := q.Where(where, args...).Order("id").Pluck("contacts.id", &ids).Error; err != nil {
		return nil, fmt.Errorf("automations: date trigger: %w", err)
	}
	return ids, nil
}

// signupCandidates picks the contacts whose signup, in their own time
// zone, fell on one of mds before year. The database keeps signup times
// in UTC and SQLite knows no time zones, so the query narrows to UTC
// dates a day either side and the local date is checked here.
func (s *Service) signupCandidates(ctx context.Context, q *gorm.DB, t Trigger, mds []int, year int, locs locations) ([]int64, error) {
	near := map[int]bool{}
	for _, md := range mds {
		d := time.Date(2000, time.Month(md/100), md%100, 12, 0, 0, 0, time.UTC) // 2000 has a 29 February
		for _, n := range []time.Time{d.AddDate(0, 0, -1), d, d.AddDate(0, 0, 1)} {
			near[int(n.Month())*100+n.Day()] = true
		}
	}
	nearList := make([]int, 0, len(near))
	for md := range near {
		nearList = append(nearList, md)
	}
	sort.Ints(nearList)
	utcMD := "CAST(substr(contacts.signup_at, 6, 2) || substr(contacts.signup_at, 9, 2) AS INTEGER)"
	if db.IsPostgres(s.db) {
		utcMD = "CAST(to_char(contacts.signup_at AT TIME ZONE 'UTC', 'MMDD') AS INTEGER)"
	}
	var cs []contacts.Contact
	err := q.Select("id", "timezone", "signup_at").Where("contacts.signup_at IS NOT NULL AND "+utcMD+" IN ?", nearList).Order("id").Find(&cs).Error
	if err != nil {
		return nil, fmt.Errorf("automations: signup trigger: %w", err)
	}
	var ids []int64
	for _, c := range cs {
		local := c.SignupAt.In(locs.get(s.zoneOf(t, c.Timezone)))
		md := int(local.Month())*100 + local.Day()
		// A signup anniversary starts a year after the signup.
		if local.Year() < year && containsInt(mds, md) {
			ids = append(ids, c.ID)
		}
	}
	return ids, nil
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func leapYear(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// enrolSegment enrols each entry into the segment since the cursor;
// entering again later is a new occurrence.
func (s *Service) enrolSegment(ctx context.Context, f Automation, t Trigger, now time.Time) (int, error) {
	base := func() *gorm.DB {
		return s.db.WithContext(ctx).Model(&segments.Change{}).Where("segment_id = ? AND kind = ?", t.SegmentID, segments.Entered)
	}
	settled, err := s.settledID(base().Where("changed_at < ?", now.Add(-s.cfg.cursorLag()).UTC()), f.Cursor)
	if err != nil {
		return 0, fmt.Errorf("automations: segment trigger: %w", err)
	}
	total := 0
	pos := f.Cursor
	for {
		var changes []segments.Change
		err := base().Where("id > ?", pos).
			Where("NOT EXISTS (SELECT 1 FROM flow_runs r WHERE r.flow_id = ? AND r.contact_id = segment_changes.contact_id AND r.occurrence = 'seg:' || CAST(segment_changes.id AS TEXT))", f.ID).
			Order("id").Limit(1000).Find(&changes).Error
		if err != nil {
			return total, fmt.Errorf("automations: segment trigger: %w", err)
		}
		if len(changes) > 0 {
			ids := make([]int64, len(changes))
			for i, c := range changes {
				ids[i] = c.ContactID
			}
			n, err := s.insertRuns(ctx, f.ID, ids, func(i int) string { return "seg:" + strconv.FormatInt(changes[i].ID, 10) }, now)
			total += n
			if err != nil {
				return total, err
			}
			pos = changes[len(changes)-1].ID
		}
		if len(changes) < 1000 {
			return total, s.advanceCursor(ctx, f, settled)
		}
	}
}

// settledID is the highest id after cursor among the rows of q (rows
// older than the cursor lag): every lower id was taken earlier still, so
// its transaction has committed and the scan that follows sees it.
func (s *Service) settledID(q *gorm.DB, cursor int64) (int64, error) {
	var id int64
	if err := q.Where("id > ?", cursor).Select("COALESCE(MAX(id), 0)").Scan(&id).Error; err != nil {
		return 0, err
	}
	return id, nil
}

// advanceCursor moves a flow's cursor forward only (two workers may race).
func (s *Service) advanceCursor(ctx context.Context, f Automation, to int64) error {
	if to <= f.Cursor {
		return nil
	}
	if err := s.db.WithContext(ctx).Model(&Automation{}).Where("id = ? AND cursor < ?", f.ID, to).UpdateColumn("cursor", to).Error; err != nil {
		return fmt.Errorf("automations: flow cursor: %w", err)
	}
	return nil
}

// enrolEvent enrols each matching event since the cursor.
func (s *Service) enrolEvent(ctx context.Context, f Automation, t Trigger, now time.Time) (int, error) {
	base := func() *gorm.DB {
		return s.db.WithContext(ctx).Model(&contacts.Event{}).Where("type = ?", t.Event)
	}
	settled, err := s.settledID(base().Where("created_at < ?", now.Add(-s.cfg.cursorLag()).UTC()), f.Cursor)
	if err != nil {
		return 0, fmt.Errorf("automations: event trigger: %w", err)
	}
	total := 0
	pos := f.Cursor
	for {
		var evs []contacts.Event
		err := base().Select("id", "contact_id", "properties").Where("id > ?", pos).
			Where("NOT EXISTS (SELECT 1 FROM flow_runs r WHERE r.flow_id = ? AND r.contact_id = events.contact_id AND r.occurrence = 'ev:' || CAST(events.id AS TEXT))", f.ID).
			Order("id").Limit(1000).Find(&evs).Error
		if err != nil {
			return total, fmt.Errorf("automations: event trigger: %w", err)
		}
		var ids []int64
		var occ []string
		for _, e := range evs {
			if propertiesMatch(e.Properties, t.Where) {
				ids = append(ids, e.ContactID)
				occ = append(occ, "ev:"+strconv.FormatInt(e.ID, 10))
			}
		}
		n, err := s.insertRuns(ctx, f.ID, ids, func(i int) string { return occ[i] }, now)
		total += n
		if err != nil {
			return total, err
		}
		if len(evs) > 0 {
			pos = evs[len(evs)-1].ID
		}
		if len(evs) < 1000 {
			return total, s.advanceCursor(ctx, f, settled)
		}
	}
}

// propertiesMatch compares event properties with a filter: texts as
// texts, numbers as numbers, booleans as booleans.
func propertiesMatch(props, where map[string]any) bool {
	for k, want := range where {
		got, ok := props[k]
		if !ok {
			return false
		}
		switch w := want.(type) {
		case float64:
			g, ok := got.(float64)
			if !ok || g != w {
				return false
			}
		default:
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return false
			}
			if _, isNum := got.(float64); isNum {
				return false
			}
		}
	}
	return true
}

// enrolInactive enrols buyers who have not bought for longer than their
// own rhythm (Factor x their average days between purchases) or, for
// one-time buyers, OneTimeDays; MinDays and MaxDays bound the days since
// the last purchase, so tiers can send different content. A new purchase
// makes a new occurrence, so a lapse is answered once per lapse.
func (s *Service) enrolInactive(ctx context.Context, f Automation, t Trigger, now time.Time) (int, error) {
	day := 24 * time.Hour
	where := []string{"contacts.status = ?", "contacts.orders_count >= 1", "contacts.last_purchase_at IS NOT NULL"}
	args := []any{contacts.Subscribed}
	if t.MinDays > 0 {
		where = append(where, "contacts.last_purchase_at <= ?")
		args = append(args, now.Add(-time.Duration(t.MinDays)*day))
	}
	if t.MaxDays > 0 {
		where = append(where, "contacts.last_purchase_at > ?")
		args = append(args, now.Add(-time.Duration(t.MaxDays)*day))
	}
	var rhythm []string
	if t.Factor > 0 {
		// Days since the last purchase, per engine.
		elapsed := "(julianday(?) - julianday(substr(contacts.last_purchase_at, 1, 19)))"
		if db.IsPostgres(s.db) {
			elapsed = "(EXTRACT(EPOCH FROM (CAST(? AS timestamptz) - contacts.last_purchase_at)) / 86400)"
		}
		rhythm = append(rhythm, "(contacts.orders_count >= 2 AND contacts.avg_days_between_purchases IS NOT NULL AND "+elapsed+" >= ? * contacts.avg_days_between_purchases)")
		nowArg := any(now.UTC().Format("2006-01-02 15:04:05"))
		if db.IsPostgres(s.db) {
			nowArg = now.UTC()
		}
		args = append(args, nowArg, t.Factor)
	}
	if t.OneTimeDays > 0 {
		rhythm = append(rhythm, "(contacts.orders_count = 1 AND contacts.last_purchase_at <= ?)")
		args = append(args, now.Add(-time.Duration(t.OneTimeDays)*day))
	}
	if len(rhythm) > 0 {
		where = append(where, "("+strings.Join(rhythm, " OR ")+")")
	}
	// Not already walking this flow for the current lapse.
	where = append(where, "NOT EXISTS (SELECT 1 FROM flow_runs r WHERE r.flow_id = ? AND r.contact_id = contacts.id AND r.started_at >= contacts.last_purchase_at)")
	args = append(args, f.ID)
	var cs []contacts.Contact
	err := s.db.WithContext(ctx).Select("id", "last_purchase_at").Where(strings.Join(where, " AND "), args...).Order("id").Find(&cs).Error
	if err != nil {
		return 0, fmt.Errorf("automations: inactivity trigger: %w", err)
	}
	ids := make([]int64, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return s.insertRuns(ctx, f.ID, ids, func(i int) string {
		return "lapse:" + cs[i].LastPurchaseAt.UTC().Format(time.RFC3339)
	}, now)
}

// advanceRuns moves every due run of the active flows as far as it goes.
// A flow that cannot be read and a run whose step fails are recorded in
// failures and skipped; the others go on.
func (s *Service) advanceRuns(ctx context.Context, flows []Automation, now time.Time, res *TickResult, failures map[int64]error) error {
	byID := map[int64]*flowState{}
	ids := make([]int64, 0, len(flows))
	for _, f := range flows {
		st, err := s.newState(f)
		if err != nil {
			res.Failed++
			if _, seen := failures[f.ID]; !seen {
				failures[f.ID] = err
			}
			continue
		}
		byID[f.ID] = st
		ids = append(ids, f.ID)
	}
	if len(ids) == 0 {
		return nil
	}
	batches := map[int64]int{} // step campaign -> batch of this pass
	defer func() {
		// Enqueue what this pass wrote, after it is committed.
		for campaignID, batch := range batches {
			if err := s.campaigns.EnqueueBatch(context.WithoutCancel(ctx), campaignID, batch); err != nil {
				s.log.Error("automations: enqueue flow sends; the sweep will retry", "campaign", campaignID, "err", err)
			}
		}
	}()
	var lastID int64
	for {
		var runs []Run
		err := s.db.WithContext(ctx).Where("status = ? AND next_at <= ? AND flow_id IN ? AND id > ?", RunActive, now, ids, lastID).
			Order("id").Limit(500).Find(&runs).Error
		if err != nil {
			return fmt.Errorf("automations: due runs: %w", err)
		}
		if len(runs) == 0 {
			return nil
		}
		lastID = runs[len(runs)-1].ID
		people, err := s.contactsOf(ctx, runs)
		if err != nil {
			return err
		}
		fail := func(fs *flowState, run *Run, err error) error {
			if ctx.Err() != nil {
				return fmt.Errorf("automations: flow %d: %w", fs.flow.ID, err)
			}
			res.Failed++
			if _, seen := failures[fs.flow.ID]; !seen {
				failures[fs.flow.ID] = err
			}
			s.runFailed(ctx, run, err, now)
			return nil
		}
		// Who leaves is decided once for the page: nothing a pass does
		// changes it (the deliveries it queues are not sent ones, which is
		// all exit rules count), so it holds before every step a run
		// takes in this pass.
		leaves := map[int64]string{} // run -> why it leaves
		broken := map[int64]error{}  // flow -> why its exit rule failed
		for flowID, group := range runsByFlow(runs) {
			out, err := s.leaving(ctx, byID[flowID], group, people, true)
			for id, reason := range out {
				leaves[id] = reason
			}
			if err != nil {
				broken[flowID] = err
			}
		}
		pc := newPageCap(people)
		for i := range runs {
			run := &runs[i]
			fs := byID[run.AutomationID]
			reason := leaves[run.ID]
			if err := broken[run.AutomationID]; err != nil && reason == "" {
				if err := fail(fs, run, err); err != nil {
					return err
				}
				continue
			}
			if err := s.walk(ctx, fs, run, reason, pc, now, batches, res); err != nil {
				if err := fail(fs, run, err); err != nil {
					return err
				}
			}
		}
	}
}

// contactsOf loads the contacts of runs by id; a deleted contact is not
// in the map.
func (s *Service) contactsOf(ctx context.Context, runs []Run) (map[int64]*contacts.Contact, error) {
	ids := make([]int64, len(runs))
	for i, r := range runs {
		ids[i] = r.ContactID
	}
	cs, err := s.contacts.GetMany(ctx, ids)
	if err != nil {
		return nil, err
	}
	people := make(map[int64]*contacts.Contact, len(cs))
	for i := range cs {
		people[cs[i].ID] = &cs[i]
	}
	return people, nil
}

// runsByFlow groups runs by their flow.
func runsByFlow(runs []Run) map[int64][]*Run {
	out := map[int64][]*Run{}
	for i := range runs {
		out[runs[i].AutomationID] = append(out[runs[i].AutomationID], &runs[i])
	}
	return out
}

// pageCap is the frequency cap as a page of runs sees it: the holds of
// all its contacts, read at the page's first send, and the contacts the
// page has sent a message to since, whose holds are read again at their
// next send.
type pageCap struct {
	ids   []int64
	holds map[int64]campaigns.CapHold
	sent  map[int64]bool
}

func newPageCap(people map[int64]*contacts.Contact) *pageCap {
	return &pageCap{ids: slices.Sorted(maps.Keys(people)), sent: map[int64]bool{}}
}

// hold says whether the cap holds the contact id back at now.
func (s *Service) hold(ctx context.Context, pc *pageCap, id int64, now time.Time) (campaigns.CapHold, bool, error) {
	if pc.holds == nil || pc.sent[id] {
		ids := pc.ids
		if pc.holds != nil {
			ids = []int64{id}
		}
		holds, err := s.campaigns.CapHolds(ctx, ids, now)
		if err != nil {
			return campaigns.CapHold{}, false, err
		}
		if pc.holds == nil {
			pc.holds = holds
		} else if h, held := holds[id]; held {
			pc.holds[id] = h
		} else {
			delete(pc.holds, id)
		}
		delete(pc.sent, id)
	}
	h, held := pc.holds[id]
	return h, held, nil
}

// runFailed holds a run whose step failed until the retry, saying why.
func (s *Service) runFailed(ctx context.Context, run *Run, cause error, now time.Time) {
	retry := now.Add(s.cfg.retryAfter())
	note := clip(fmt.Sprintf("step %d failed: %s; it is tried again at %s", run.Step+1, problemText(cause), retry.UTC().Format(time.RFC3339)), 500)
	if _, err := s.moveRun(ctx, s.db, run, run.Step, retry, HoldFailed, note, nil); err != nil {
		// The run stays due and is tried at the next pass; the flow's
		// error is logged by the caller.
		s.log.Warn("automations: hold a failed run", "flow", run.AutomationID, "run", run.ID, "err", err)
	}
}

type flowState struct {
	flow    Automation
	trigger Trigger
	steps   []Step
}

func (s *Service) newState(f Automation) (*flowState, error) {
	t, err := TriggerOf(f)
	if err != nil {
		return nil, &flowProblem{msg: "the trigger cannot be read", err: err}
	}
	steps, err := StepsOf(f)
	if err != nil {
		return nil, &flowProblem{msg: "the steps cannot be read", err: err}
	}
	return &flowState{flow: f, trigger: t, steps: steps}, nil
}

// walk runs a run's steps until it has to wait, or ends. leave is why the
// run leaves its flow in this pass ("" if it stays).
func (s *Service) walk(ctx context.Context, fs *flowState, run *Run, leave string, pc *pageCap, now time.Time, batches map[int64]int, res *TickResult) error {
	if leave != "" {
		if ok, err := s.endRun(ctx, run, RunExited, leave, now); err != nil || !ok {
			return err
		}
		res.Exited++
		return nil
	}
	for i := 0; i <= len(fs.steps); i++ {
		if run.Step >= len(fs.steps) {
			if ok, err := s.endRun(ctx, run, RunDone, "", now); err != nil || !ok {
				return err
			}
			res.Done++
			return nil
		}
		step := fs.steps[run.Step]
		switch step.Type {
		case StepWait:
			d, err := segments.ParseDuration(step.Duration)
			if err != nil {
				return &flowProblem{msg: fmt.Sprintf("step %d's duration %q cannot be read", run.Step+1, step.Duration), err: err}
			}
			_, err = s.moveRun(ctx, s.db, run, run.Step+1, now.Add(d), "", "", nil)
			return err
		case StepExitIf:
			hit, err := s.matchRuns(ctx, step.Definition, exitIfRule(run.Step), []*Run{run})
			if err != nil {
				return err
			}
			if hit[run.ID] {
				if ok, err := s.endRun(ctx, run, RunExited, fmt.Sprintf("step %d matched", run.Step+1), now); err != nil || !ok {
					return err
				}
				res.Exited++
				return nil
			}
			if ok, err := s.moveRun(ctx, s.db, run, run.Step+1, now, "", "", nil); err != nil || !ok {
				return err
			}
		case StepSend:
			h, capped, err := s.hold(ctx, pc, run.ContactID, now)
			if err != nil {
				return err
			}
			if capped {
				if _, err := s.moveRun(ctx, s.db, run, run.Step, h.Next, HoldDeferred, h.Reason, map[string]any{"last_deferral": h.Reason}); err != nil {
					return err
				}
				res.Deferred++
				return nil
			}
			sent, err := s.sendStep(ctx, step.CampaignID, run, batches, now)
			if err != nil || !sent {
				return err
			}
			pc.sent[run.ContactID] = true
			res.Sent++
		}
	}
	return nil
}

// leaveReason says why a contact leaves any flow at once, from what is
// known of them without a query: deleted, no longer subscribed, or, in a
// win-back, bought since the run started.
func leaveReason(fs *flowState, run *Run, ct *contacts.Contact) string {
	switch {
	case ct == nil:
		return "the contact was deleted"
	case ct.Status != contacts.Subscribed:
		return "the contact is " + string(ct.Status)
	case fs.trigger.Type == TriggerInactivity && ct.LastPurchaseAt != nil && ct.LastPurchaseAt.After(run.StartedAt):
		return "bought again"
	}
	return ""
}

// leaving tells which of a flow's runs leave it now, and why: first
// leaveReason, from the contacts in people, then, with exit, the flow's
// exit rule, matched at once for the runs that remain. people nil means
// the contacts are not loaded: only the exit rule is looked at. On an
// error (the exit rule no longer compiles, say) the map still holds the
// runs leaveReason ends.
func (s *Service) leaving(ctx context.Context, fs *flowState, runs []*Run, people map[int64]*contacts.Contact, exit bool) (map[int64]string, error) {
	out := map[int64]string{}
	rest := runs
	if people != nil {
		rest = nil
		for _, r := range runs {
			if reason := leaveReason(fs, r, people[r.ContactID]); reason != "" {
				out[r.ID] = reason
			} else {
				rest = append(rest, r)
			}
		}
	}
	if !exit || len(rest) == 0 || !hasRule(fs.flow.Exit) {
		return out, nil
	}
	hit, err := s.matchRuns(ctx, fs.flow.Exit, exitRule, rest)
	if err != nil {
		return out, err
	}
	for _, r := range rest {
		if hit[r.ID] {
			out[r.ID] = "met the exit rule"
		}
	}
	return out, nil
}

// matchRuns evaluates a segment definition (where names it in errors) for
// the contacts of runs, with "$flow_start" bound to each run's start, and
// returns the ids of the runs whose contact matches. A definition without
// "$flow_start" is compiled and queried once for all of them.
func (s *Service) matchRuns(ctx context.Context, def []byte, where rulePlace, runs []*Run) (map[int64]bool, error) {
	perStart := bytes.Contains(def, []byte(`"$flow_start"`))
	groups := map[int64][]*Run{}
	var order []int64
	for _, r := range runs {
		k := int64(0)
		if perStart {
			k = r.StartedAt.UnixNano()
		}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	hit := map[int64]bool{}
	for _, k := range order {
		rs := groups[k]
		expr, err := s.segments.Compile(ctx, bindFlowStart(def, rs[0].StartedAt))
		if err != nil {
			return nil, ruleProblem(where, err)
		}
		ids := make([]int64, len(rs))
		for i, r := range rs {
			ids[i] = r.ContactID
		}
		var matched []int64
		err = s.db.WithContext(ctx).Model(&contacts.Contact{}).Where("contacts.id IN ?", ids).Where(expr.SQL, expr.Args...).Pluck("contacts.id", &matched).Error
		if err != nil {
			return nil, fmt.Errorf("automations: %s: %w", where.path, err)
		}
		in := make(map[int64]bool, len(matched))
		for _, id := range matched {
			in[id] = true
		}
		for _, r := range rs {
			if in[r.ContactID] {
				hit[r.ID] = true
			}
		}
	}
	return hit, nil
}

// sendStep writes the delivery of a send step and moves the run on, in one
// transaction; the batch is enqueued when the pass ends.
func (s *Service) sendStep(ctx context.Context, campaignID int64, run *Run, batches map[int64]int, now time.Time) (bool, error) {
	batch, ok := batches[campaignID]
	if !ok {
		b, exists, err := s.campaigns.NextStepBatch(ctx, campaignID)
		if err != nil {
			return false, fmt.Errorf("automations: flow batch: %w", err)
		}
		if !exists {
			return false, &flowProblem{msg: fmt.Sprintf("step %d's message (campaign %d) does not exist or is not an automation message", run.Step+1, campaignID)}
		}
		batch = b
		batches[campaignID] = batch
	}
	moved := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		ok, err := s.moveRun(ctx, tx, run, run.Step+1, now, "", "", nil)
		if err != nil || !ok {
			return err
		}
		moved = true
		return campaigns.QueueStepDelivery(tx, campaignID, run.ContactID, run.Occurrence, batch, now)
	})
	if err != nil {
		return false, fmt.Errorf("automations: flow send: %w", err)
	}
	if moved {
		if err := s.campaigns.CountStepDelivery(ctx, campaignID); err != nil {
			return false, fmt.Errorf("automations: flow send: %w", err)
		}
	}
	return moved, nil
}

// moveRun sets a run's step, next time, hold and note (and the extra
// columns) if nobody moved it since it was read (its version), and
// reports whether it did.
func (s *Service) moveRun(ctx context.Context, tx *gorm.DB, run *Run, step int, next time.Time, hold, note string, extra map[string]any) (bool, error) {
	set := map[string]any{"step": step, "next_at": next, "hold": hold, "note": note, "version": run.Version + 1}
	for k, v := range extra {
		set[k] = v
	}
	res := tx.WithContext(ctx).Model(&Run{}).Where("id = ? AND status = ? AND step = ? AND version = ?", run.ID, RunActive, run.Step, run.Version).
		Updates(set)
	if res.Error != nil {
		return false, fmt.Errorf("automations: move run: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return false, nil
	}
	run.Step, run.NextAt, run.Hold, run.Note, run.Version = step, next, hold, note, run.Version+1
	return true, nil
}

func (s *Service) endRun(ctx context.Context, run *Run, st RunStatus, note string, now time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Model(&Run{}).Where("id = ? AND status = ? AND version = ?", run.ID, RunActive, run.Version).
		Updates(map[string]any{"status": st, "hold": "", "note": note, "finished_at": now, "version": run.Version + 1})
	if res.Error != nil {
		return false, fmt.Errorf("automations: end run: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// ContactsChanged ends, at once rather than at their next step, the
// active runs of changed contacts who leave their flow: deleted, no
// longer subscribed (unsubscribed, bounced, complained), bought again
// during a win-back, or now matching the flow's exit rule. exit_if steps
// are checks at a place in the sequence ("no purchase 7 days after the
// coupon"), so they are evaluated when the run reaches them, not here.
// fields is what changed (as segments.Reads takes it): contacts are looked
// at only if it touches what leaveReason reads, and an exit rule is
// matched only if it reads one of them, so a delivered batch, which no
// rule but an engagement one reads, costs no query. An exit rule that no
// longer compiles is left to the engine's pass, which records it on the
// flow.
func (s *Service) ContactsChanged(ctx context.Context, ids []int64, fields []string) error {
	if len(ids) == 0 {
		return nil
	}
	reads := segments.Reads(fields)
	// What leaveReason reads; "created" needs nothing: a new contact has
	// no runs.
	leave := reads["deleted"] || reads["status"] || reads["last_purchase_at"]
	var exits []int64 // flows whose exit rule may read a change
	if !leave {
		var err error
		if exits, err = s.exitsReading(ctx, reads); err != nil || len(exits) == 0 {
			return err
		}
	}
	now := s.cfg.Now()
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		q := s.db.WithContext(ctx).Where("status = ? AND contact_id IN ?", RunActive, chunk)
		if !leave {
			q = q.Where("flow_id IN ?", exits)
		}
		var runs []Run
		if err := q.Order("id").Find(&runs).Error; err != nil {
			return fmt.Errorf("automations: runs of changed contacts: %w", err)
		}
		if len(runs) == 0 {
			continue
		}
		byFlow := runsByFlow(runs)
		var flows []Automation
		if err := s.db.WithContext(ctx).Where("id IN ?", slices.Sorted(maps.Keys(byFlow))).Find(&flows).Error; err != nil {
			return fmt.Errorf("automations: flows of changed contacts: %w", err)
		}
		var people map[int64]*contacts.Contact
		if leave {
			var err error
			if people, err = s.contactsOf(ctx, runs); err != nil {
				return err
			}
		}
		ending := map[string][]int64{} // reason -> runs
		for _, f := range flows {
			fs, err := s.newState(f)
			if err != nil {
				continue
			}
			exit, err := s.exitReads(ctx, f, reads)
			if err != nil {
				return err
			}
			out, err := s.leaving(ctx, fs, byFlow[f.ID], people, exit)
			var p *flowProblem
			if err != nil && !errors.As(err, &p) {
				return err
			}
			for id, reason := range out {
				ending[reason] = append(ending[reason], id)
			}
		}
		for _, reason := range slices.Sorted(maps.Keys(ending)) {
			// Not versioned: ending wins over a pass moving the run at the
			// same moment, whose versioned write then changes nothing.
			err := s.db.WithContext(ctx).Model(&Run{}).Where("id IN ? AND status = ?", ending[reason], RunActive).
				Updates(map[string]any{"status": RunExited, "hold": "", "note": reason, "finished_at": now, "version": gorm.Expr("version + 1")}).Error
			if err != nil {
				return fmt.Errorf("automations: end runs of changed contacts: %w", err)
			}
		}
	}
	return nil
}

// exitCache keeps what the exit rule of each flow that can have runs
// reads, so that ContactsChanged can tell without a query that a
// change matters to no exit rule. The list of flows is read again after
// exitCacheTTL, or at once when this service saves a flow; a flow saved
// by another process is seen at the latest then, and until then its runs
// meet a changed exit rule at their next step, as the pass checks.
type exitCache struct {
	mu    sync.Mutex
	at    time.Time          // when flows was read; zero: read again
	flows map[int64]exitRead // flow -> what its exit rule reads
}

const exitCacheTTL = time.Minute

// exitRead is what a flow's exit rule reads, as of the flow's updated_at.
type exitRead struct {
	updated time.Time
	reads   []string
}

// forget makes the next look read the flows again.
func (c *exitCache) forget() {
	c.mu.Lock()
	c.at = time.Time{}
	c.mu.Unlock()
}

// exitsReading returns the flows whose exit rule reads one of reads.
func (s *Service) exitsReading(ctx context.Context, reads map[string]bool) ([]int64, error) {
	s.exits.mu.Lock()
	fresh := !s.exits.at.IsZero() && time.Since(s.exits.at) < exitCacheTTL
	s.exits.mu.Unlock()
	if !fresh {
		var flows []Automation
		if err := s.db.WithContext(ctx).Select("id", "exit", "updated_at").Where("status <> ?", AutomationDraft).Find(&flows).Error; err != nil {
			return nil, fmt.Errorf("automations: flows' exit rules: %w", err)
		}
		read := time.Now()
		known := map[int64]exitRead{}
		for _, f := range flows {
			r, ok, err := s.compileExitReads(ctx, f)
			if err != nil {
				return nil, err
			}
			if ok {
				known[f.ID] = r
			}
		}
		s.exits.mu.Lock()
		s.exits.flows, s.exits.at = known, read
		s.exits.mu.Unlock()
	}
	s.exits.mu.Lock()
	defer s.exits.mu.Unlock()
	var out []int64
	for id, r := range s.exits.flows {
		if readsAny(r.reads, reads) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out, nil
}

// exitReads tells whether flow f's exit rule reads one of reads; it
// compiles the rule only when the flow changed since it was last
// compiled. A rule that does not compile reads nothing here.
func (s *Service) exitReads(ctx context.Context, f Automation, reads map[string]bool) (bool, error) {
	s.exits.mu.Lock()
	r, known := s.exits.flows[f.ID]
	s.exits.mu.Unlock()
	if !known || !r.updated.Equal(f.UpdatedAt) {
		var ok bool
		var err error
		if r, ok, err = s.compileExitReads(ctx, f); err != nil || !ok {
			return false, err
		}
		s.exits.mu.Lock()
		if s.exits.flows == nil {
			s.exits.flows = map[int64]exitRead{}
		}
		s.exits.flows[f.ID] = r
		s.exits.mu.Unlock()
	}
	return readsAny(r.reads, reads), nil
}

// compileExitReads compiles f's exit rule for what it reads; false if it
// has none or it no longer compiles (the pass records that on the flow).
func (s *Service) compileExitReads(ctx context.Context, f Automation) (exitRead, bool, error) {
	if !hasRule(f.Exit) {
		return exitRead{}, false, nil
	}
	// What a rule reads does not depend on when the run started.
	expr, err := s.segments.Compile(ctx, bindFlowStart(f.Exit, s.cfg.Now()))
	if _, invalid := errs.AsInvalid(err); invalid {
		return exitRead{}, false, nil
	}
	if err != nil {
		return exitRead{}, false, fmt.Errorf("automations: exit rule of flow %d: %w", f.ID, err)
	}
	return exitRead{updated: f.UpdatedAt, reads: expr.Reads}, true, nil
}

func readsAny(have []string, want map[string]bool) bool {
	for _, r := range have {
		if want[r] {
			return true
		}
	}
	return false
}
