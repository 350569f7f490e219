package contacts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"herald/internal/db"
	"herald/internal/errs"
	"herald/internal/jsonstr"
)

// Event types Herald itself understands; any other name matching
// EventNameRe is a custom event.
const (
	EventSent        = "email.sent"
	EventOpen        = "email.open"
	EventClick       = "email.click"
	EventBounce      = "email.bounce"
	EventComplaint   = "email.complaint"
	EventUnsubscribe = "email.unsubscribe"
	EventPurchase    = "purchase"
	EventVisit       = "visit"
	EventSignup      = "signup"
)

// EventNameRe is the shape of an event type.
var EventNameRe = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$`)

// Event is one thing a contact did or that happened to them.
type Event struct {
	ID int64 `gorm:"primaryKey"`
	// (type, campaign, machine, contact) answers "who opened campaign X"
	// from the index alone (stats, viewed-and-did-not-buy segments).
	ContactID  int64      `gorm:"not null;index:idx_events_contact_type_time,priority:1;index:idx_events_type_campaign_contact,priority:4"`
	Type       string     `gorm:"size:64;not null;index:idx_events_contact_type_time,priority:2;index:idx_events_type_campaign_contact,priority:1"`
	OccurredAt time.Time  `gorm:"not null;index:idx_events_contact_type_time,priority:3"`
	CampaignID *int64     `gorm:"index:idx_events_type_campaign_contact,priority:2"`
	LinkID     *int64     // the campaign link of a click
	Amount     int64      `gorm:"not null;default:0"` // minor units
	Currency   string     `gorm:"size:3;not null;default:''"`
	OrderID    string     `gorm:"size:200;not null;default:''"`
	Properties db.JSONMap `gorm:"not null"`
	Machine    bool       `gorm:"not null;default:false;index:idx_events_type_campaign_contact,priority:3"` // an open or click by a privacy proxy or scanner
	// DedupeKey makes recording idempotent: a purchase's order id, or the id
	// a tracking hit got when it was made durable. Nil for others.
	DedupeKey *string `gorm:"size:200;uniqueIndex"`
	CreatedAt time.Time
}

// EventInput is one event to record. The contact is ContactID or Email.
type EventInput struct {
	ContactID  int64
	Email      string
	Type       string
	OccurredAt time.Time // now when zero
	CampaignID *int64
	LinkID     *int64
	Amount     int64 // minor units
	Currency   string
	OrderID    string
	Properties map[string]any
	Machine    bool
	DedupeKey  string
}

// EventResult is the outcome of one event of a batch.
type EventResult struct {
	Index     int
	EventID   int64
	ContactID int64
	Duplicate bool  // already recorded (same order id or dedupe key)
	Err       error // an *errs.InvalidError for bad items
}

// RecordEvents stores events and updates the roll-ups of their contacts.
// Invalid items are reported by index while the valid ones are stored; an
// event whose dedupe key (or purchase order id) was seen before is reported
// as a duplicate and changes nothing.
func (s *Store) RecordEvents(ctx context.Context, ins []EventInput) ([]EventResult, error) {
	if len(ins) > MaxBatch {
		return nil, errs.Invalid("", "a batch holds at most %d items, got %d", MaxBatch, len(ins))
	}
	ins = slices.Clone(ins) // emails are normalised in place; the caller's slice stays as it was
	results := make([]EventResult, len(ins))
	now := s.opts.Now()

	// Every item is checked before any contact is looked up, so that an
	// invalid item never creates a contact (with CreateUnknown).
	built := make([]Event, len(ins))
	var emails []string
	for i := range ins {
		results[i].Index = i
		ev, err := s.buildEvent(ins[i], now)
		if err != nil {
			results[i].Err = err
			continue
		}
		if ev.ContactID == 0 {
			if ins[i].Email == "" {
				results[i].Err = errs.Invalid("contact_id", "give contact_id or email")
				continue
			}
			e, err := NormalizeEmail(ins[i].Email)
			if err != nil {
				results[i].Err = errs.Invalid("email", "%v", err)
				continue
			}
			ins[i].Email = e
			emails = append(emails, e)
		}
		built[i] = ev
	}
	idByEmail, emailErr, err := s.resolveEmails(ctx, emails)
	if err != nil {
		return nil, err
	}

	events := make([]Event, 0, len(ins))
	owner := make([]int, 0, len(ins)) // index in ins of each event
	seenKeys := map[string]int{}
	dupOf := map[int]int{} // index in ins of an in-batch repeat -> index in events of the first
	for i, in := range ins {
		if results[i].Err != nil {
			continue
		}
		ev := built[i]
		if ev.ContactID == 0 {
			id, ok := idByEmail[in.Email]
			if !ok {
				if e := emailErr[in.Email]; e != nil {
					results[i].Err = e
				} else {
					results[i].Err = errs.Invalid("email", "no contact has the email %s", in.Email)
				}
				continue
			}
			ev.ContactID = id
		}
		if ev.DedupeKey != nil {
			if j, ok := seenKeys[*ev.DedupeKey]; ok {
				dupOf[i] = j
				continue
			}
			seenKeys[*ev.DedupeKey] = len(events)
		}
		events = append(events, ev)
		owner = append(owner, i)
	}
	if len(events) == 0 {
		return results, nil
	}

	var (
		found   map[int64]bool  // contacts that exist
		dup     map[string]bool // dedupe keys recorded before
		stored  []Event
		touched map[string]bool // contact fields the roll-ups changed
	)
	for attempt := 0; ; attempt++ {
		err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			stored, touched = nil, nil
			// Lock the contacts first, in id order: the purchase roll-ups
			// are re-aggregated from the events, and a concurrent batch must
			// not write an aggregate that misses this batch's purchases
			// (nor two batches wait for each other's rows in a circle).
			var err error
			if found, err = lockContacts(tx, events); err != nil {
				return err
			}
			// Keys are looked up only when an insert skipped one: most
			// batches hold none stored before (a tracking hit is
			// delivered again only after a crash), and the insert checks
			// every key anyway.
			dup = map[string]bool{}
			if attempt > 0 {
				if dup, err = recordedKeys(tx, events); err != nil {
					return err
				}
			}
			fresh := make([]Event, 0, len(events))
			for _, ev := range events {
				if found[ev.ContactID] && (ev.DedupeKey == nil || !dup[*ev.DedupeKey]) {
					fresh = append(fresh, ev)
				}
			}
			if len(fresh) == 0 {
				return nil
			}
			// A key stored before, or by a concurrent writer (for another
			// contact) getting there first, is not inserted: the batch
			// starts again, looking the keys up to report duplicates.
			n, err := insertEvents(tx, fresh)
			if err != nil {
				return err
			}
			if n != len(fresh) {
				return errEventsRaced
			}
			stored = fresh
			touched, err = s.updateRollups(tx, fresh, now)
			return err
		})
		if errors.Is(err, errEventsRaced) && attempt < 3 {
			continue
		}
		break
	}
	if err != nil {
		return nil, fmt.Errorf("contacts: record events: %w", err)
	}

	k := 0
	for j, ev := range events {
		r := &results[owner[j]]
		r.ContactID = ev.ContactID
		switch {
		case !found[ev.ContactID]:
			r.ContactID = 0
			r.Err = errs.Invalid("contact_id", "no contact has the id %d", ev.ContactID)
		case ev.DedupeKey != nil && dup[*ev.DedupeKey]:
			r.Duplicate = true
		default:
			r.EventID = stored[k].ID
			k++
		}
	}
	for i, j := range dupOf {
		first := results[owner[j]]
		if first.Err != nil {
			results[i].Err = first.Err
			continue
		}
		results[i].Duplicate = true
		results[i].ContactID = first.ContactID
	}

	var ids []int64
	idSet := map[int64]bool{}
	fieldSet := touched
	if fieldSet == nil {
		fieldSet = map[string]bool{}
	}
	for _, ev := range stored {
		if !idSet[ev.ContactID] {
			idSet[ev.ContactID] = true
			ids = append(ids, ev.ContactID)
		}
		fieldSet["event."+ev.Type] = true
	}
	if len(ids) > 0 {
		fields := make([]string, 0, len(fieldSet))
		for f := range fieldSet {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		s.changed(ctx, ids, fields)
	}
	return results, nil
}

// errEventsRaced restarts a batch whose insert skipped a row because a
// concurrent writer stored the same dedupe key first.
var errEventsRaced = errors.New("contacts: an event was recorded concurrently")

// Limits of an event's free-form parts. An order id becomes the dedupe key
// "order:ID", which must fit its 200-character column; properties are
// bounded so that one event cannot bloat the table or a segment query.
const (
	MaxOrderIDLen      = 150
	maxDedupeKeyLen    = 200
	MaxProperties      = 100
	MaxPropertyDepth   = 5
	MaxPropertiesBytes = 32 << 10
)

// buildEvent checks an item and makes the event to store, except for the
// contact of an item given by email (ContactID stays 0): everything that
// can be refused is refused here, before any contact is looked up. Text
// PostgreSQL cannot store (NUL bytes, invalid UTF-8) is refused per item
// too, rather than failing the whole batch's insert.
func (s *Store) buildEvent(in EventInput, now time.Time) (Event, error) {
	ev := Event{
		ContactID:  in.ContactID,
		Type:       strings.TrimSpace(in.Type),
		OccurredAt: in.OccurredAt.UTC(),
		CampaignID: in.CampaignID,
		LinkID:     in.LinkID,
		Amount:     in.Amount,
		Currency:   strings.ToUpper(strings.TrimSpace(in.Currency)),
		OrderID:    strings.TrimSpace(in.OrderID),
		Properties: in.Properties,
		Machine:    in.Machine,
	}
	if ev.ContactID < 0 {
		return Event{}, errs.Invalid("contact_id", "no contact has the id %d", ev.ContactID)
	}
	if ev.Type == "" || len(ev.Type) > 64 || !EventNameRe.MatchString(ev.Type) {
		return Event{}, errs.Invalid("type", "%q is not an event type: use lower-case words joined by . or _, such as purchase or trial.started", in.Type)
	}
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = now
	}
	if ev.OccurredAt.After(now.Add(24 * time.Hour)) {
		return Event{}, errs.Invalid("occurred_at", "is more than a day in the future")
	}
	if ev.Amount < 0 {
		return Event{}, errs.Invalid("amount", "must not be negative")
	}
	if ev.Currency != "" && !ValidCurrency(ev.Currency) {
		return Event{}, errs.Invalid("currency", "%q is not an ISO 4217 code such as EUR", in.Currency)
	}
	store := s.Currency()
	if ev.Currency != "" && ev.Currency != store {
		return Event{}, errs.Invalid("currency", "%s is not the store currency %s: amounts are kept in %s only, so convert the amount to %s before sending it", ev.Currency, store, store, store)
	}
	if ev.Currency == "" && (ev.Amount != 0 || ev.Type == EventPurchase) {
		ev.Currency = store
	}
	if err := checkText("order_id", ev.OrderID, MaxOrderIDLen); err != nil {
		return Event{}, err
	}
	if err := checkText("dedupe_key", in.DedupeKey, maxDedupeKeyLen); err != nil {
		return Event{}, err
	}
	if ev.Properties == nil {
		ev.Properties = map[string]any{}
	}
	if err := checkProperties(ev.Properties); err != nil {
		return Event{}, err
	}
	key := in.DedupeKey
	if key == "" && ev.Type == EventPurchase && ev.OrderID != "" {
		key = "order:" + ev.OrderID
	}
	if key != "" {
		ev.DedupeKey = &key
	}
	return ev, nil
}

// checkText refuses text a database column cannot hold: longer than max
// characters, with a NUL byte (PostgreSQL text refuses it) or not UTF-8.
func checkText(path, v string, max int) error {
	switch {
	case !utf8.ValidString(v):
		return errs.Invalid(path, "is not valid UTF-8 text")
	case strings.IndexByte(v, 0) >= 0:
		return errs.Invalid(path, "must not contain a NUL character (\\u0000)")
	case utf8.RuneCountInString(v) > max:
		return errs.Invalid(path, "is longer than %d characters", max)
	}
	return nil
}

// checkProperties bounds an event's properties: at most MaxProperties
// names of letters, digits and _, nesting at most MaxPropertyDepth levels,
// at most MaxPropertiesBytes as JSON, and no text PostgreSQL's jsonb
// refuses (a NUL character).
func checkProperties(p map[string]any) error {
	if len(p) == 0 {
		return nil // most events, every open and click
	}
	if len(p) > MaxProperties {
		return errs.Invalid("properties", "an event has at most %d properties", MaxProperties)
	}
	names := make([]string, 0, len(p))
	for k := range p {
		names = append(names, k)
	}
	sort.Strings(names) // the first fault reported is always the same one
	for _, k := range names {
		if !ValidAttrName(k) {
			return errs.Invalid("properties."+k, "property names are letters, digits and _ starting with a letter")
		}
		if err := checkValue("properties."+k, p[k], 1); err != nil {
			return err
		}
	}
	b, err := json.Marshal(p)
	if err != nil {
		return errs.Invalid("properties", "cannot be stored as JSON: %v", err)
	}
	if len(b) > MaxPropertiesBytes {
		return errs.Invalid("properties", "take %d bytes as JSON; an event's properties take at most %d", len(b), MaxPropertiesBytes)
	}
	return nil
}

func checkValue(path string, v any, depth int) error {
	if depth > MaxPropertyDepth {
		return errs.Invalid(path, "properties nest at most %d levels deep", MaxPropertyDepth)
	}
	switch x := v.(type) {
	case string:
		if strings.IndexByte(x, 0) >= 0 {
			return errs.Invalid(path, "must not contain a NUL character (\\u0000)")
		}
		if !utf8.ValidString(x) {
			return errs.Invalid(path, "is not valid UTF-8 text")
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if strings.IndexByte(k, 0) >= 0 || !utf8.ValidString(k) {
				return errs.Invalid(path, "has a key that is not valid text (NUL character or invalid UTF-8)")
			}
			if err := checkValue(path+"."+k, x[k], depth+1); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := checkValue(fmt.Sprintf("%s[%d]", path, i), e, depth+1); err != nil {
				return err
			}
		}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return errs.Invalid(path, "is not a finite number")
		}
	}
	return nil
}

// resolveEmails finds the contacts of emails and, with CreateUnknown,
// creates the missing ones; an email whose contact could not be created
// gets its error in the second map.
func (s *Store) resolveEmails(ctx context.Context, emails []string) (map[string]int64, map[string]error, error) {
	out := make(map[string]int64, len(emails))
	if len(emails) == 0 {
		return out, nil, nil
	}
	for start := 0; start < len(emails); start += 500 {
		var rows []Contact
		if err := s.db.WithContext(ctx).Select("id", "email").Where("email IN ?", emails[start:min(start+500, len(emails))]).Find(&rows).Error; err != nil {
			return nil, nil, fmt.Errorf("contacts: resolve emails: %w", err)
		}
		for _, r := range rows {
			out[r.Email] = r.ID
		}
	}
	if !s.opts.CreateUnknown {
		return out, nil, nil
	}
	var missing []Input
	seen := map[string]bool{}
	for _, e := range emails {
		if _, ok := out[e]; !ok && !seen[e] {
			seen[e] = true
			missing = append(missing, Input{Email: &e})
		}
	}
	if len(missing) == 0 {
		return out, nil, nil
	}
	res, err := s.UpsertMany(ctx, missing)
	if err != nil {
		return nil, nil, err
	}
	failed := map[string]error{}
	for k, r := range res {
		if r.Err == nil {
			out[r.Contact.Email] = r.Contact.ID
		} else {
			failed[*missing[k].Email] = r.Err
		}
	}
	return out, failed, nil
}

// lockContacts reports which of the events' contacts exist and, on
// PostgreSQL, locks them in id order until the transaction ends (on SQLite
// the transaction already holds the write lock).
func lockContacts(tx *gorm.DB, events []Event) (map[int64]bool, error) {
	want := map[int64]bool{}
	var ids []int64
	for _, ev := range events {
		if !want[ev.ContactID] {
			want[ev.ContactID] = true
			ids = append(ids, ev.ContactID)
		}
	}
	slices.Sort(ids)
	q := `SELECT id FROM contacts WHERE id = ANY($1) ORDER BY id FOR UPDATE`
	var arg any = ids
	if !db.IsPostgres(tx) {
		q, arg = `SELECT id FROM contacts WHERE id IN (SELECT value FROM json_each(?))`, db.JSONIDs(ids)
	}
	got, err := queryColumn[int64](tx, q, arg)
	if err != nil {
		return nil, fmt.Errorf("check contacts: %w", err)
	}
	found := make(map[int64]bool, len(got))
	for _, id := range got {
		found[id] = true
	}
	return found, nil
}

// recordedKeys returns which of the events' dedupe keys are stored already.
func recordedKeys(tx *gorm.DB, events []Event) (map[string]bool, error) {
	var keys []string
	for _, ev := range events {
		if ev.DedupeKey != nil {
			keys = append(keys, *ev.DedupeKey)
		}
	}
	dup := map[string]bool{}
	if len(keys) == 0 {
		return dup, nil
	}
	q := `SELECT dedupe_key FROM events WHERE dedupe_key = ANY($1)`
	var arg any = keys
	if !db.IsPostgres(tx) {
		b := []byte{'['}
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonstr.Append(b, k)
		}
		q, arg = `SELECT dedupe_key FROM events WHERE dedupe_key IN (SELECT value FROM json_each(?))`, string(append(b, ']'))
	}
	found, err := queryColumn[string](tx, q, arg)
	if err != nil {
		return nil, fmt.Errorf("check dedupe keys: %w", err)
	}
	for _, k := range found {
		dup[k] = true
	}
	return dup, nil
}

// updateRollups brings the activity roll-ups of the contacts of evs up to
// date and returns the contact fields it changed. Purchases are
// re-aggregated from the events (so a late or repeated delivery cannot skew
// them); last-seen times only ever move forward. The caller holds the
// contacts' locks.
func (s *Store) updateRollups(tx *gorm.DB, evs []Event, now time.Time) (map[string]bool, error) {
	touched := map[string]bool{}
	type latest struct{ open, click, visit time.Time }
	last := map[int64]*latest{}
	buyers := map[int64]bool{}
	status := map[int64]Status{}
	for _, ev := range evs {
		l := last[ev.ContactID]
		if l == nil {
			l = &latest{}
			last[ev.ContactID] = l
		}
		switch ev.Type {
		case EventOpen:
			if !ev.Machine && ev.OccurredAt.After(l.open) {
				l.open = ev.OccurredAt
			}
		case EventClick:
			if !ev.Machine && ev.OccurredAt.After(l.click) {
				l.click = ev.OccurredAt
			}
		case EventVisit:
			if ev.OccurredAt.After(l.visit) {
				l.visit = ev.OccurredAt
			}
		case EventPurchase:
			buyers[ev.ContactID] = true
		case EventUnsubscribe:
			status[ev.ContactID] = Unsubscribed
		case EventComplaint:
			status[ev.ContactID] = Complained
		case EventBounce:
			if hard, _ := ev.Properties["hard"].(bool); hard {
				status[ev.ContactID] = Bounced
			}
		}
	}
	// One statement per column for the whole batch: a batch of clicks
	// touches as many contacts as it has hits, and a statement per contact
	// was most of what writing them cost.
	rollups := []struct {
		col string
		at  func(*latest) time.Time
	}{
		{"last_open_at", func(l *latest) time.Time { return l.open }},
		{"last_click_at", func(l *latest) time.Time { return l.click }},
		{"last_visit_at", func(l *latest) time.Time { return l.visit }},
	}
	for _, r := range rollups {
		col := r.col
		var ids []int64
		var ats []time.Time
		for id, l := range last {
			at := r.at(l)
			if !at.IsZero() {
				ids = append(ids, id)
				ats = append(ats, at.UTC())
			}
		}
		n, err := moveForward(tx, col, ids, ats, now)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			touched[col] = true
		}
	}
	for id, st := range status {
		res := tx.Model(&Contact{}).Where("id = ? AND status = ?", id, Subscribed).
			Updates(map[string]any{"status": st, "status_changed_at": now, "updated_at": now})
		if res.Error != nil {
			return nil, res.Error
		}
		if res.RowsAffected > 0 {
			touched["status"] = true
		}
		// The event itself is the timeline's record of the change; the
		// address goes on the suppression list whatever the status was.
		var c Contact
		if err := tx.Select("id", "email").Take(&c, id).Error; err != nil {
			return nil, err
		}
		if err := suppress(tx, c.Email, string(st), now); err != nil {
			return nil, err
		}
	}
	if len(buyers) == 0 {
		return touched, nil
	}
	for _, f := range []string{"orders_count", "total_spent", "first_purchase_at", "last_purchase_at", "avg_days_between_purchases"} {
		touched[f] = true
	}
	ids := make([]int64, 0, len(buyers))
	for id := range buyers {
		ids = append(ids, id)
	}
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		// total_spent is in the store currency: purchases recorded in
		// another one (before the setting changed) count as orders but
		// add nothing, as no rate converts them. '' is the store currency
		// of purchases recorded before currencies were checked.
		rows, err := tx.Model(&Event{}).
			Select("contact_id, COUNT(*), COALESCE(SUM(CASE WHEN currency IN (?, '') THEN amount ELSE 0 END), 0), MIN(occurred_at), MAX(occurred_at)", s.Currency()).
			Where("type = ? AND contact_id IN ?", EventPurchase, chunk).
			Group("contact_id").Rows()
		if err != nil {
			return nil, err
		}
		type agg struct {
			id, n, total int64
			first, last  time.Time
		}
		var aggs []agg
		for rows.Next() {
			var a agg
			var first, last any
			if err := rows.Scan(&a.id, &a.n, &a.total, &first, &last); err != nil {
				rows.Close()
				return nil, err
			}
			if a.first, err = db.ScanTime(first); err != nil {
				rows.Close()
				return nil, err
			}
			if a.last, err = db.ScanTime(last); err != nil {
				rows.Close()
				return nil, err
			}
			aggs = append(aggs, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for _, a := range aggs {
			var avg *float64
			if a.n > 1 {
				v := a.last.Sub(a.first).Hours() / 24 / float64(a.n-1)
				avg = &v
			}
			err := tx.Model(&Contact{}).Where("id = ?", a.id).Updates(map[string]any{
				"orders_count":               a.n,
				"total_spent":                a.total,
				"first_purchase_at":          a.first,
				"last_purchase_at":           a.last,
				"avg_days_between_purchases": avg,
				"updated_at":                 now,
			}).Error
			if err != nil {
				return nil, err
			}
		}
	}
	return touched, nil
}

// Events returns the latest events of a contact, newest first.
func (s *Store) Events(ctx context.Context, contactID int64, limit int) ([]Event, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var evs []Event
	err := s.db.WithContext(ctx).Where("contact_id = ?", contactID).Order("occurred_at DESC, id DESC").Limit(limit).Find(&evs).Error
	if err != nil {
		return nil, fmt.Errorf("contacts: events of %d: %w", contactID, err)
	}
	return evs, nil
}

// EventsBefore returns up to limit events of a contact, newest first,
// that come before the (occurredAt, id) position given: older, or as old
// with a smaller id. A zero before starts at the newest; beforeID 0 takes
// every event at before itself.
func (s *Store) EventsBefore(ctx context.Context, contactID int64, before time.Time, beforeID int64, limit int) ([]Event, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	q := s.db.WithContext(ctx).Where("contact_id = ?", contactID)
	if !before.IsZero() {
		if beforeID <= 0 {
			beforeID = math.MaxInt64
		}
		q = q.Where("occurred_at < ? OR (occurred_at = ? AND id < ?)", before, before, beforeID)
	}
	var evs []Event
	if err := q.Order("occurred_at DESC, id DESC").Limit(limit).Find(&evs).Error; err != nil {
		return nil, fmt.Errorf("contacts: events of %d: %w", contactID, err)
	}
	return evs, nil
}

// moveForward sets col (a roll-up of the last time something happened) of
// each contact ids[i] to ats[i] where that is later than what it holds, in
// one statement, and returns how many contacts changed. col is one of the
// roll-up columns named by the caller, never user text.
func moveForward(tx *gorm.DB, col string, ids []int64, ats []time.Time, now time.Time) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	// The pairs go as two arrays on PostgreSQL and as one JSON argument on
	// SQLite (times written as the driver writes them, so that they
	// compare as text with the rest): a statement of two arguments, not
	// two per contact, is parsed, planned and bound in no time.
	q := `UPDATE contacts SET ` + col + ` = v.at, updated_at = $1 FROM unnest($2::bigint[], $3::timestamptz[]) AS v(id, at)`
	args := []any{now, ids, ats}
	if !db.IsPostgres(tx) {
		b := []byte{'['}
		for i := range ids {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = strconv.AppendInt(b, ids[i], 10)
			b = append(b, ',')
			b = jsonstr.Append(b, ats[i].Format(sqliteTimeFormat))
			b = append(b, ']')
		}
		q = `UPDATE contacts SET ` + col + ` = v.at, updated_at = ? FROM (SELECT value->>0 AS id, value->>1 AS at FROM json_each(?)) AS v`
		args = []any{now, string(append(b, ']'))}
	}
	q += ` WHERE contacts.id = v.id AND (contacts.` + col + ` IS NULL OR contacts.` + col + ` < v.at)`
	res, err := tx.Statement.ConnPool.ExecContext(tx.Statement.Context, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
