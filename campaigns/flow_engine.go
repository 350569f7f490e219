package campaigns

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"herald/contacts"
	"herald/internal/db"
	"herald/segments"
)

// FlowConfig tunes automations.
type FlowConfig struct {
	// CapMessages and CapWindow: no contact gets more than CapMessages
	// marketing messages (campaigns and flows together) per CapWindow; a
	// flow message over the cap waits for the next allowed time. Zero
	// turns the cap off.
	CapMessages int
	CapWindow   time.Duration
	// Timezone is where contacts without a time zone live (UTC if empty).
	Timezone string
}

// TickResult says what one pass of the flow engine did.
type TickResult struct {
	Enrolled int
	Sent     int
	Deferred int
	Exited   int
	Done     int
}

// TickFlows is one pass of the automation engine at time now: it enrols
// contacts whose trigger fired and moves every due run forward. It is safe
// to run on several workers at once: enrolment is unique per flow, contact
// and occurrence, each run moves by a versioned update only one pass can
// win, and a delivery is unique per step, contact and occurrence.
func (s *Service) TickFlows(ctx context.Context, now time.Time) (TickResult, error) {
	var res TickResult
	var flows []Flow
	if err := s.db.WithContext(ctx).Where("status = ?", FlowActive).Order("id").Find(&flows).Error; err != nil {
		return res, fmt.Errorf("campaigns: active flows: %w", err)
	}
	if len(flows) == 0 {
		return res, nil
	}
	zones, err := s.contactZones(ctx)
	if err != nil {
		return res, err
	}
	for _, f := range flows {
		n, err := s.enrol(ctx, f, now, zones)
		if err != nil {
			return res, fmt.Errorf("campaigns: enrol flow %d: %w", f.ID, err)
		}
		res.Enrolled += n
	}
	if err := s.advanceRuns(ctx, flows, now, &res); err != nil {
		return res, err
	}
	return res, nil
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
		return nil, fmt.Errorf("campaigns: contact time zones: %w", err)
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

func (s *Service) location(name string) *time.Location {
	if name != "" {
		if l, err := time.LoadLocation(name); err == nil {
			return l
		}
	}
	return time.UTC
}

func (s *Service) enrol(ctx context.Context, f Flow, now time.Time, zones []string) (int, error) {
	t, err := TriggerOf(f)
	if err != nil {
		return 0, err
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
	return 0, fmt.Errorf("campaigns: unknown trigger %q", t.Type)
}

// insertRuns starts runs for contacts, skipping occurrences already run.
func (s *Service) insertRuns(ctx context.Context, flowID int64, ids []int64, occurrence func(i int) string, now time.Time) (int, error) {
	total := 0
	for start := 0; start < len(ids); start += 100 {
		end := min(start+100, len(ids))
		rows := make([]FlowRun, 0, end-start)
		for i := start; i < end; i++ {
			rows = append(rows, FlowRun{FlowID: flowID, ContactID: ids[i], Occurrence: occurrence(i), Status: RunActive, NextAt: now, StartedAt: now})
		}
		res := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&rows)
		if res.Error != nil {
			return total, fmt.Errorf("campaigns: start runs: %w", res.Error)
		}
		total += int(res.RowsAffected)
	}
	return total, nil
}

// yearlyDayExpr is the SQL of a contact's month*100+day for a date trigger.
func (s *Service) yearlyDayExpr(t Trigger) (string, []any) {
	pg := db.IsPostgres(s.db)
	switch {
	case t.Field == "birthday":
		return "contacts.birthday_md", nil
	case t.Field == "anniversary":
		return "contacts.anniversary_md", nil
	case t.Field == "signup_at" && pg:
		return "CAST(to_char(contacts.signup_at AT TIME ZONE 'UTC', 'MMDD') AS INTEGER)", nil
	case t.Field == "signup_at":
		return "CAST(substr(contacts.signup_at, 6, 2) || substr(contacts.signup_at, 9, 2) AS INTEGER)", nil
	case pg:
		name := strings.TrimPrefix(t.Field, "attr.")
		v := "(contacts.attributes ->> CAST(? AS text))"
		return "(CASE WHEN " + v + " ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN CAST(substr(" + v + ", 6, 2) || substr(" + v + ", 9, 2) AS INTEGER) END)", []any{name, name, name}
	default:
		p := "$." + strings.TrimPrefix(t.Field, "attr.")
		return "CAST(substr(json_extract(contacts.attributes, ?), 6, 2) || substr(json_extract(contacts.attributes, ?), 9, 2) AS INTEGER)", []any{p, p}
	}
}

// enrolDate enrols contacts whose date (moved by the offset) is today in
// their own time zone, once the local hour of the send has come. The
// occurrence is the date of that year's anniversary, so each gets one run
// a year; 29 February counts as 28 February in other years.
func (s *Service) enrolDate(ctx context.Context, f Flow, t Trigger, now time.Time, zones []string) (int, error) {
	type group struct {
		zones []any
		mds   []any
		year  int
	}
	groups := map[string]*group{}
	for _, z := range zones {
		zone := z
		if zone == "" {
			zone = t.Timezone
			if zone == "" {
				zone = s.flowCfg.Timezone
			}
		}
		local := now.In(s.location(zone))
		if local.Hour() < *t.Hour {
			continue
		}
		day := time.Date(local.Year(), local.Month(), local.Day(), 12, 0, 0, 0, time.UTC).AddDate(0, 0, -t.OffsetDays)
		occ := day.Format("2006-01-02")
		g := groups[occ]
		if g == nil {
			md := int(day.Month())*100 + day.Day()
			g = &group{mds: []any{md}, year: day.Year()}
			if md == 228 && !leapYear(day.Year()) {
				g.mds = append(g.mds, 229)
			}
			groups[occ] = g
		}
		g.zones = append(g.zones, z)
	}
	dayExpr, dayArgs := s.yearlyDayExpr(t)
	total := 0
	for occ, g := range groups {
		where := "contacts.status = ? AND contacts.timezone IN ? AND " + dayExpr + " IN ? AND NOT EXISTS (SELECT 1 FROM flow_runs r WHERE r.flow_id = ? AND r.contact_id = contacts.id AND r.occurrence = ?)"
		args := []any{contacts.Subscribed, g.zones}
		args = append(args, dayArgs...)
		args = append(args, g.mds, f.ID, occ)
		if t.Field == "signup_at" {
			// A signup anniversary starts a year after the signup.
			where += " AND contacts.signup_at < ?"
			args = append(args, time.Date(g.year, 1, 1, 0, 0, 0, 0, time.UTC))
		}
		var ids []int64
		if err := s.db.WithContext(ctx).Model(&contacts.Contact{}).Where(where, args...).Order("id").Pluck("contacts.id", &ids).Error; err != nil {
			return total, fmt.Errorf("campaigns: date trigger: %w", err)
		}
		n, err := s.insertRuns(ctx, f.ID, ids, func(int) string { return occ }, now)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func leapYear(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// enrolSegment enrols each entry into the segment since the last pass;
// entering again later is a new occurrence.
func (s *Service) enrolSegment(ctx context.Context, f Flow, t Trigger, now time.Time) (int, error) {
	total := 0
	for {
		var changes []segments.Change
		err := s.db.WithContext(ctx).Where("segment_id = ? AND kind = ? AND id > ?", t.SegmentID, segments.Entered, f.Cursor).
			Order("id").Limit(1000).Find(&changes).Error
		if err != nil {
			return total, fmt.Errorf("campaigns: segment trigger: %w", err)
		}
		if len(changes) == 0 {
			return total, nil
		}
		ids := make([]int64, len(changes))
		for i, c := range changes {
			ids[i] = c.ContactID
		}
		n, err := s.insertRuns(ctx, f.ID, ids, func(i int) string { return "seg:" + strconv.FormatInt(changes[i].ID, 10) }, now)
		total += n
		if err != nil {
			return total, err
		}
		if f.Cursor, err = s.advanceCursor(ctx, f.ID, changes[len(changes)-1].ID); err != nil {
			return total, err
		}
	}
}

// advanceCursor moves a flow's cursor forward only (two workers may race).
func (s *Service) advanceCursor(ctx context.Context, flowID, to int64) (int64, error) {
	if err := s.db.WithContext(ctx).Model(&Flow{}).Where("id = ? AND cursor < ?", flowID, to).Update("cursor", to).Error; err != nil {
		return 0, fmt.Errorf("campaigns: flow cursor: %w", err)
	}
	return to, nil
}

// enrolEvent enrols each matching event since the last pass.
func (s *Service) enrolEvent(ctx context.Context, f Flow, t Trigger, now time.Time) (int, error) {
	total := 0
	for {
		var evs []contacts.Event
		err := s.db.WithContext(ctx).Select("id", "contact_id", "properties").
			Where("type = ? AND id > ?", t.Event, f.Cursor).Order("id").Limit(1000).Find(&evs).Error
		if err != nil {
			return total, fmt.Errorf("campaigns: event trigger: %w", err)
		}
		if len(evs) == 0 {
			return total, nil
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
		if f.Cursor, err = s.advanceCursor(ctx, f.ID, evs[len(evs)-1].ID); err != nil {
			return total, err
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
func (s *Service) enrolInactive(ctx context.Context, f Flow, t Trigger, now time.Time) (int, error) {
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
		return 0, fmt.Errorf("campaigns: inactivity trigger: %w", err)
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
func (s *Service) advanceRuns(ctx context.Context, flows []Flow, now time.Time, res *TickResult) error {
	byID := map[int64]*flowState{}
	ids := make([]int64, 0, len(flows))
	for _, f := range flows {
		st, err := s.newFlowState(ctx, f)
		if err != nil {
			return err
		}
		byID[f.ID] = st
		ids = append(ids, f.ID)
	}
	batches := map[int64]int{} // step campaign -> batch of this pass
	defer func() {
		// Enqueue what this pass wrote, after it is committed.
		for campaignID, batch := range batches {
			if err := s.enqueueBatch(context.WithoutCancel(ctx), campaignID, batch); err != nil {
				s.cfg.Log.Error("campaigns: enqueue flow sends; the sweep will retry", "campaign", campaignID, "err", err)
			}
		}
	}()
	var lastID int64
	for {
		var runs []FlowRun
		err := s.db.WithContext(ctx).Where("status = ? AND next_at <= ? AND flow_id IN ? AND id > ?", RunActive, now, ids, lastID).
			Order("id").Limit(500).Find(&runs).Error
		if err != nil {
			return fmt.Errorf("campaigns: due runs: %w", err)
		}
		if len(runs) == 0 {
			return nil
		}
		lastID = runs[len(runs)-1].ID
		cids := make([]int64, len(runs))
		for i, r := range runs {
			cids[i] = r.ContactID
		}
		cs, err := s.contacts.GetMany(ctx, cids)
		if err != nil {
			return err
		}
		people := make(map[int64]*contacts.Contact, len(cs))
		for i := range cs {
			people[cs[i].ID] = &cs[i]
		}
		for i := range runs {
			if err := s.walk(ctx, byID[runs[i].FlowID], &runs[i], people[runs[i].ContactID], now, batches, res); err != nil {
				return err
			}
		}
	}
}

type flowState struct {
	flow    Flow
	trigger Trigger
	steps   []Step
}

func (s *Service) newFlowState(_ context.Context, f Flow) (*flowState, error) {
	t, err := TriggerOf(f)
	if err != nil {
		return nil, err
	}
	steps, err := StepsOf(f)
	if err != nil {
		return nil, err
	}
	return &flowState{flow: f, trigger: t, steps: steps}, nil
}

// walk runs a run's steps until it has to wait, or ends.
func (s *Service) walk(ctx context.Context, fs *flowState, run *FlowRun, ct *contacts.Contact, now time.Time, batches map[int64]int, res *TickResult) error {
	for i := 0; i <= len(fs.steps); i++ {
		if reason, err := s.exitReason(ctx, fs, run, ct); err != nil {
			return err
		} else if reason != "" {
			if ok, err := s.endRun(ctx, run, RunExited, reason, now); err != nil || !ok {
				return err
			}
			res.Exited++
			return nil
		}
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
				return fmt.Errorf("campaigns: flow %d step %d: %w", fs.flow.ID, run.Step+1, err)
			}
			_, err = s.moveRun(ctx, s.db, run, run.Step+1, now.Add(d), "")
			return err
		case StepExitIf:
			match, err := s.matches(ctx, step.Definition, run, ct.ID)
			if err != nil {
				return err
			}
			if match {
				if ok, err := s.endRun(ctx, run, RunExited, fmt.Sprintf("step %d matched", run.Step+1), now); err != nil || !ok {
					return err
				}
				res.Exited++
				return nil
			}
			if ok, err := s.moveRun(ctx, s.db, run, run.Step+1, now, ""); err != nil || !ok {
				return err
			}
		case StepSend:
			allowed, why, err := s.capAllows(ctx, ct.ID, now)
			if err != nil {
				return err
			}
			if !allowed.IsZero() {
				if _, err := s.moveRun(ctx, s.db, run, run.Step, allowed, why); err != nil {
					return err
				}
				res.Deferred++
				return nil
			}
			sent, err := s.sendStep(ctx, step.CampaignID, run, batches, now)
			if err != nil || !sent {
				return err
			}
			res.Sent++
		}
	}
	return nil
}

// exitReason says why a contact leaves a flow now, if they do.
func (s *Service) exitReason(ctx context.Context, fs *flowState, run *FlowRun, ct *contacts.Contact) (string, error) {
	switch {
	case ct == nil:
		return "the contact was deleted", nil
	case ct.Status != contacts.Subscribed:
		return "the contact is " + string(ct.Status), nil
	case fs.trigger.Type == TriggerInactivity && ct.LastPurchaseAt != nil && ct.LastPurchaseAt.After(run.StartedAt):
		return "bought again", nil
	}
	if hasRule(fs.flow.Exit) {
		match, err := s.matches(ctx, fs.flow.Exit, run, ct.ID)
		if err != nil || match {
			return "met the exit rule", err
		}
	}
	return "", nil
}

// matches evaluates a segment definition for one contact, with
// "$flow_start" bound to the run's start.
func (s *Service) matches(ctx context.Context, def []byte, run *FlowRun, contactID int64) (bool, error) {
	expr, err := s.segments.Compile(ctx, bindFlowStart(def, run.StartedAt))
	if err != nil {
		return false, fmt.Errorf("campaigns: flow rule: %w", err)
	}
	var n int64
	err = s.db.WithContext(ctx).Model(&contacts.Contact{}).Where("contacts.id = ?", contactID).Where(expr.SQL, expr.Args...).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("campaigns: flow rule: %w", err)
	}
	return n > 0, nil
}

// capAllows returns zero when the contact may get a message now, or the
// time they may, with the reason.
func (s *Service) capAllows(ctx context.Context, contactID int64, now time.Time) (time.Time, string, error) {
	n, w := s.flowCfg.CapMessages, s.flowCfg.CapWindow
	if n <= 0 || w <= 0 {
		return time.Time{}, "", nil
	}
	var recent []Delivery
	err := s.db.WithContext(ctx).Select("created_at").
		Where("contact_id = ? AND status IN ? AND created_at > ?", contactID, []DeliveryStatus{Queued, InFlight, Delivered}, now.Add(-w)).
		Order("created_at DESC").Limit(n).Find(&recent).Error
	if err != nil {
		return time.Time{}, "", fmt.Errorf("campaigns: frequency cap: %w", err)
	}
	if len(recent) < n {
		return time.Time{}, "", nil
	}
	next := recent[n-1].CreatedAt.Add(w)
	return next, fmt.Sprintf("deferred by the frequency cap (%d messages per %s) until %s", n, w, next.UTC().Format(time.RFC3339)), nil
}

// sendStep writes the delivery of a send step and moves the run on, in one
// transaction; the batch is enqueued when the pass ends.
func (s *Service) sendStep(ctx context.Context, campaignID int64, run *FlowRun, batches map[int64]int, now time.Time) (bool, error) {
	batch, ok := batches[campaignID]
	if !ok {
		var c Campaign
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := tx.Model(&Campaign{}).Where("id = ?", campaignID).Update("launch_batches", gorm.Expr("launch_batches + 1")).Error; err != nil {
				return err
			}
			return tx.Select("launch_batches").Take(&c, campaignID).Error
		})
		if err != nil {
			return false, fmt.Errorf("campaigns: flow batch: %w", err)
		}
		batch = c.LaunchBatches
		batches[campaignID] = batch
	}
	moved := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		ok, err := s.moveRun(ctx, tx, run, run.Step+1, now, "")
		if err != nil || !ok {
			return err
		}
		moved = true
		return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&Delivery{
			CampaignID: campaignID, ContactID: run.ContactID, Occurrence: run.Occurrence,
			Status: Queued, Batch: batch, CreatedAt: now,
		}).Error
	})
	if err != nil {
		return false, fmt.Errorf("campaigns: flow send: %w", err)
	}
	if moved {
		if err := s.db.WithContext(ctx).Model(&Campaign{}).Where("id = ?", campaignID).Update("total", gorm.Expr("total + 1")).Error; err != nil {
			return false, fmt.Errorf("campaigns: flow send: %w", err)
		}
	}
	return moved, nil
}

// moveRun sets a run's step and next time if nobody moved it since it was
// read (its version), and reports whether it did.
func (s *Service) moveRun(ctx context.Context, tx *gorm.DB, run *FlowRun, step int, next time.Time, note string) (bool, error) {
	res := tx.WithContext(ctx).Model(&FlowRun{}).Where("id = ? AND status = ? AND step = ? AND version = ?", run.ID, RunActive, run.Step, run.Version).
		Updates(map[string]any{"step": step, "next_at": next, "note": note, "version": run.Version + 1})
	if res.Error != nil {
		return false, fmt.Errorf("campaigns: move run: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return false, nil
	}
	run.Step, run.NextAt, run.Note, run.Version = step, next, note, run.Version+1
	return true, nil
}

func (s *Service) endRun(ctx context.Context, run *FlowRun, st RunStatus, note string, now time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Model(&FlowRun{}).Where("id = ? AND status = ? AND version = ?", run.ID, RunActive, run.Version).
		Updates(map[string]any{"status": st, "note": note, "finished_at": now, "version": run.Version + 1})
	if res.Error != nil {
		return false, fmt.Errorf("campaigns: end run: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// FlowContactsChanged ends the active runs of contacts who can no longer
// be written to, at once rather than at their next step.
func (s *Service) FlowContactsChanged(ctx context.Context, ids []int64, fields []string) error {
	relevant := false
	for _, f := range fields {
		if f == "status" || f == "deleted" || f == "event.email.unsubscribe" || f == "event.email.bounce" || f == "event.email.complaint" {
			relevant = true
		}
	}
	if !relevant || len(ids) == 0 {
		return nil
	}
	now := s.cfg.Now()
	err := s.db.WithContext(ctx).Model(&FlowRun{}).
		Where("status = ? AND contact_id IN ? AND contact_id NOT IN (SELECT id FROM contacts WHERE id IN ? AND status = ?)", RunActive, ids, ids, contacts.Subscribed).
		Updates(map[string]any{"status": RunExited, "note": "the contact can no longer be written to", "finished_at": now, "version": gorm.Expr("version + 1")}).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("campaigns: end runs of changed contacts: %w", err)
	}
	return nil
}
