package segments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"herald/contacts"
	"herald/internal/db"
	"herald/internal/errs"
)

// Segment is a named definition with its materialised membership.
type Segment struct {
	ID          int64      `gorm:"primaryKey"`
	Name        string     `gorm:"size:200;not null"`
	Description string     `gorm:"size:2000;not null;default:''"`
	Definition  db.JSONRaw `gorm:"not null"`
	// Reads lists what the definition reads (see Expr.Reads), comma
	// separated with leading and trailing commas, so that incremental
	// refreshes can find the segments a change touches with LIKE. Text,
	// not varchar: 300 rules on event types of up to 64 characters each
	// are a valid definition.
	Reads        string `gorm:"type:text;not null;default:''"`
	TimeRelative bool   `gorm:"not null;default:false"`
	MemberCount  int64  `gorm:"not null;default:0"`
	RefreshedAt  *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Member is a contact currently in a segment.
type Member struct {
	SegmentID int64     `gorm:"primaryKey;autoIncrement:false"`
	ContactID int64     `gorm:"primaryKey;autoIncrement:false;index"`
	EnteredAt time.Time `gorm:"not null"`
}

// TableName keeps the table name explicit.
func (Member) TableName() string { return "segment_members" }

// Change is one entry or exit of a contact, the history that automations
// ("entered segment") and reports read.
type Change struct {
	ID        int64     `gorm:"primaryKey"`
	SegmentID int64     `gorm:"not null;index:idx_segment_changes_seg_at,priority:1"`
	ContactID int64     `gorm:"not null;index"`
	Kind      string    `gorm:"size:8;not null"` // entered or exited
	ChangedAt time.Time `gorm:"not null;index:idx_segment_changes_seg_at,priority:2"`
}

// TableName keeps the table name explicit.
func (Change) TableName() string { return "segment_changes" }

// Change kinds.
const (
	Entered = "entered"
	Exited  = "exited"
)

// Migrate creates or updates the tables of this package.
func Migrate(g *gorm.DB) error {
	return g.AutoMigrate(&Segment{}, &Member{}, &Change{})
}

// FieldSource gives the custom-field definitions that type attr.NAME rules.
type FieldSource interface {
	Fields(ctx context.Context) (map[string]contacts.CustomField, error)
	// Currency is the store currency that money rules are in.
	Currency() string
}

// Service manages segments and their membership.
type Service struct {
	db     *gorm.DB
	fields FieldSource
	now    func() time.Time
	loc    *time.Location
	tops   *topCache
}

// NewService returns a Service. now is the clock (db.Now when nil); loc is
// where "today" is for birthday rules (UTC when nil).
func NewService(g *gorm.DB, fields FieldSource, now func() time.Time, loc *time.Location) *Service {
	if now == nil {
		now = db.Now
	}
	if loc == nil {
		loc = time.UTC
	}
	return &Service{db: g, fields: fields, now: now, loc: loc, tops: &topCache{entries: map[topKey]topEntry{}}}
}

// Input is what a client sets on a segment. When creating, Template (with
// Params) may stand in for Definition: the template's definition is
// stored, and its name and description unless Name and Description are set.
type Input struct {
	Name        *string         `json:"name"`
	Description *string         `json:"description"`
	Definition  json.RawMessage `json:"definition"`
	Template    *string         `json:"template"`
	Params      json.RawMessage `json:"params"`
}

// Compile parses and compiles a definition at the current time.
func (s *Service) Compile(ctx context.Context, def []byte) (Expr, error) {
	return s.compileAt(ctx, def, s.now())
}

func (s *Service) compileAt(ctx context.Context, def []byte, now time.Time) (Expr, error) {
	fields, err := s.fields.Fields(ctx)
	if err != nil {
		return Expr{}, fmt.Errorf("segments: %w", err)
	}
	return s.compileWith(def, now, fields, s.thresholds(ctx, s.db, false))
}

// compileWith compiles def with threshold answering top_percent rules.
func (s *Service) compileWith(def []byte, now time.Time, fields map[string]contacts.CustomField, threshold func(string, int) (any, bool, error)) (Expr, error) {
	n, err := Parse(def)
	if err != nil {
		return Expr{}, err
	}
	c := &Compiler{Postgres: db.IsPostgres(s.db), Now: now, Location: s.loc, Fields: fields, Threshold: threshold, Currency: s.fields.Currency()}
	return c.Compile(n)
}

// normalise re-encodes a parsed definition so what is stored is canonical.
func normalise(def []byte) (db.JSONRaw, error) {
	n, err := Parse(def)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("segments: encode definition: %w", err)
	}
	return db.JSONRaw(b), nil
}

func (s *Service) apply(ctx context.Context, seg *Segment, in Input) error {
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		if name == "" {
			return errs.Invalid("name", "is required")
		}
		if utf8.RuneCountInString(name) > 200 {
			return errs.Invalid("name", "is longer than 200 characters")
		}
		seg.Name = name
	}
	if in.Description != nil {
		if utf8.RuneCountInString(*in.Description) > 2000 {
			return errs.Invalid("description", "is longer than 2000 characters")
		}
		seg.Description = strings.TrimSpace(*in.Description)
	}
	if in.Definition != nil {
		expr, err := s.Compile(ctx, in.Definition)
		if err != nil {
			return err
		}
		canon, err := normalise(in.Definition)
		if err != nil {
			return err
		}
		seg.Definition = canon
		seg.Reads = "," + strings.Join(expr.Reads, ",") + ","
		seg.TimeRelative = expr.TimeRelative
	}
	return nil
}

// Create stores a new segment and computes its membership.
func (s *Service) Create(ctx context.Context, in Input) (Segment, error) {
	if in.Template != nil {
		if in.Definition != nil {
			return Segment{}, errs.Invalid("definition", "give a definition or a template, not both")
		}
		t, def, err := s.FromTemplate(*in.Template, in.Params)
		if err != nil {
			return Segment{}, err
		}
		in.Definition = def
		if in.Name == nil {
			in.Name = &t.Name
		}
		if in.Description == nil {
			in.Description = &t.Description
		}
	} else if in.Params != nil {
		return Segment{}, errs.Invalid("params", "apply only with a template")
	}
	if in.Name == nil {
		return Segment{}, errs.Invalid("name", "is required")
	}
	if in.Definition == nil {
		return Segment{}, errs.Invalid("definition", "is required")
	}
	var seg Segment
	if err := s.apply(ctx, &seg, in); err != nil {
		return Segment{}, err
	}
	if err := s.db.WithContext(ctx).Create(&seg).Error; err != nil {
		return Segment{}, fmt.Errorf("segments: create: %w", err)
	}
	if _, err := s.Refresh(ctx, seg.ID); err != nil {
		return Segment{}, err
	}
	return s.Get(ctx, seg.ID)
}

// Update changes a segment; a new definition recomputes its membership.
func (s *Service) Update(ctx context.Context, id int64, in Input) (Segment, error) {
	if in.Template != nil || in.Params != nil {
		// A segment made from a template holds an ordinary definition,
		// which is what an edit changes.
		return Segment{}, errs.Invalid("template", "applies only when creating a segment: edit the definition instead")
	}
	seg, err := s.Get(ctx, id)
	if err != nil {
		return Segment{}, err
	}
	if err := s.apply(ctx, &seg, in); err != nil {
		return Segment{}, err
	}
	// Write only what a client sets: Save would also write back the
	// member_count and refreshed_at read above, undoing a refresh that
	// ran in between.
	err = s.db.WithContext(ctx).Model(&Segment{ID: id}).
		Select("name", "description", "definition", "reads", "time_relative", "updated_at").
		Updates(&seg).Error
	if err != nil {
		return Segment{}, fmt.Errorf("segments: update %d: %w", id, err)
	}
	if in.Definition != nil {
		if _, err := s.Refresh(ctx, id); err != nil {
			return Segment{}, err
		}
	}
	return s.Get(ctx, id)
}

// Get returns a segment.
func (s *Service) Get(ctx context.Context, id int64) (Segment, error) {
	var seg Segment
	err := s.db.WithContext(ctx).Take(&seg, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Segment{}, errs.NotFound("segment", id)
	}
	if err != nil {
		return Segment{}, fmt.Errorf("segments: get %d: %w", id, err)
	}
	return seg, nil
}

// List returns a page of segments in id order and the next cursor.
func (s *Service) List(ctx context.Context, after int64, limit int) ([]Segment, int64, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var segs []Segment
	if err := s.db.WithContext(ctx).Where("id > ?", after).Order("id").Limit(limit + 1).Find(&segs).Error; err != nil {
		return nil, 0, fmt.Errorf("segments: list: %w", err)
	}
	var next int64
	if len(segs) > limit {
		segs = segs[:limit]
		next = segs[len(segs)-1].ID
	}
	return segs, next, nil
}

// Delete removes a segment and its membership.
func (s *Service) Delete(ctx context.Context, id int64) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("segment_id = ?", id).Delete(&Member{}).Error; err != nil {
			return err
		}
		if err := tx.Where("segment_id = ?", id).Delete(&Change{}).Error; err != nil {
			return err
		}
		res := tx.Delete(&Segment{}, id)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return gorm.ErrRecordNotFound
		}
		return nil
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return errs.NotFound("segment", id)
	}
	if err != nil {
		return fmt.Errorf("segments: delete %d: %w", id, err)
	}
	return nil
}

// Preview counts the contacts a definition matches now and returns the
// first few of them.
func (s *Service) Preview(ctx context.Context, def []byte, sample int) (int64, []contacts.Contact, error) {
	expr, err := s.Compile(ctx, def)
	if err != nil {
		return 0, nil, err
	}
	var n int64
	if err := s.db.WithContext(ctx).Model(&contacts.Contact{}).Where(expr.SQL, expr.Args...).Count(&n).Error; err != nil {
		return 0, nil, fmt.Errorf("segments: preview count: %w", err)
	}
	var cs []contacts.Contact
	if sample > 0 && n > 0 {
		if err := s.db.WithContext(ctx).Where(expr.SQL, expr.Args...).Order("id").Limit(sample).Find(&cs).Error; err != nil {
			return 0, nil, fmt.Errorf("segments: preview sample: %w", err)
		}
	}
	return n, cs, nil
}

// RefreshResult tells what a refresh changed.
type RefreshResult struct {
	Entered int64
	Exited  int64
	Members int64
}

// DefinitionError is a stored segment whose definition no longer
// compiles, such as one reading a custom field deleted before deleting a
// field in use was refused. Its membership stays as it was until the
// definition is edited. It matches errs.ErrConflict: nothing is wrong with
// the request, only with the segment, and retrying cannot help.
type DefinitionError struct {
	SegmentID int64
	Name      string
	// Reason is the compiler's *errs.InvalidError, with the path of the
	// rule that fails.
	Reason error

	conflict error
}

func newDefinitionError(seg Segment, reason error) *DefinitionError {
	return &DefinitionError{
		SegmentID: seg.ID, Name: seg.Name, Reason: reason,
		conflict: errs.Conflict("segment %d %q cannot be refreshed: its definition no longer compiles (%v); edit the definition", seg.ID, seg.Name, reason),
	}
}

func (e *DefinitionError) Error() string { return "segments: " + e.conflict.Error() }

// Unwrap gives the conflict, whose message errs.Message passes on.
func (e *DefinitionError) Unwrap() error { return e.conflict }

// BrokenSegments separates, in an error of RefreshStale or ContactsChanged,
// the segments skipped because their definitions no longer compile (to be
// reported, not retried) from the other failures, returned as rest (nil
// when there are none).
func BrokenSegments(err error) (broken []*DefinitionError, rest error) {
	var others []error
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var de *DefinitionError
		if errors.As(err, &de) {
			broken = append(broken, de)
			return
		}
		others = append(others, err)
	}
	if err != nil {
		walk(err)
	}
	return broken, errors.Join(others...)
}

// Refresh recomputes a segment's membership, recording who entered and
// who exited. A segment whose definition no longer compiles is a
// *DefinitionError.
func (s *Service) Refresh(ctx context.Context, id int64) (RefreshResult, error) {
	fields, err := s.customFields(ctx)
	if err != nil {
		return RefreshResult{}, err
	}
	res, _, err := s.refresh(ctx, id, fields, nil, nil)
	return res, err
}

// customFields reads the custom field definitions a refresh compiles
// with. Callers refreshing several segments, or one in chunks, read them
// once and pass them down: reading them per refresh would add a query per
// segment to every event batch. They are read outside the refresh's
// transaction: inside it, a second connection would be needed while this
// one holds the lock, and with every pooled connection held by a refresh
// waiting for that lock (SQLite's write lock, PostgreSQL's row lock) none
// would be free.
func (s *Service) customFields(ctx context.Context) (map[string]contacts.CustomField, error) {
	fields, err := s.fields.Fields(ctx)
	if err != nil {
		return nil, fmt.Errorf("segments: %w", err)
	}
	return fields, nil
}

// RefreshStale makes the full refreshes that are due, oldest first: of
// the segments not refreshed in full for every (or never), and of the
// time-relative ones (is_today, within_last, month_is "current", ...) not
// refreshed since the day began in the service's time zone, so that they
// follow the calendar whenever the check runs. A segment another process
// refreshed in the meantime is left alone. Every due segment is tried; the
// error joins a *DefinitionError for each one whose definition no longer
// compiles (see BrokenSegments) and any other failure. It returns how
// many segments were refreshed.
func (s *Service) RefreshStale(ctx context.Context, every time.Duration) (int, error) {
	now := s.now()
	cutoff := now.Add(-every)
	local := now.In(s.loc)
	dayStart := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, s.loc).UTC()
	due := func(seg Segment) bool {
		return seg.RefreshedAt == nil || seg.RefreshedAt.Before(cutoff) || (seg.TimeRelative && seg.RefreshedAt.Before(dayStart))
	}
	var ids []int64
	err := s.db.WithContext(ctx).Model(&Segment{}).
		Where("refreshed_at IS NULL OR refreshed_at < ? OR (time_relative = ? AND refreshed_at < ?)", cutoff, true, dayStart).
		Order("CASE WHEN refreshed_at IS NULL THEN 0 ELSE 1 END, refreshed_at, id").
		Pluck("id", &ids).Error
	if err != nil {
		return 0, fmt.Errorf("segments: find segments due for a refresh: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	fields, err := s.customFields(ctx)
	if err != nil {
		return 0, err
	}
	var failed []error
	n := 0
	for _, id := range ids {
		if ctx.Err() != nil {
			failed = append(failed, fmt.Errorf("segments: refresh stopped: %w", ctx.Err()))
			break
		}
		_, done, err := s.refresh(ctx, id, fields, nil, due)
		switch {
		case errors.Is(err, errs.ErrNotFound):
			// Deleted since it was listed.
		case err != nil:
			failed = append(failed, err)
		case done:
			n++
		}
	}
	return n, errors.Join(failed...)
}

// RefreshContacts re-evaluates only the given contacts against a segment:
// the incremental path taken when a contact changes or an event arrives.
// Long lists are taken in chunks so that no statement binds thousands of
// arguments (the pure-Go SQLite driver binds them in quadratic time).
func (s *Service) RefreshContacts(ctx context.Context, id int64, contactIDs []int64) (RefreshResult, error) {
	if len(contactIDs) == 0 {
		return RefreshResult{}, nil
	}
	fields, err := s.customFields(ctx)
	if err != nil {
		return RefreshResult{}, err
	}
	return s.refreshContacts(ctx, id, fields, contactIDs)
}

// refreshContacts is RefreshContacts with the custom fields already read.
func (s *Service) refreshContacts(ctx context.Context, id int64, fields map[string]contacts.CustomField, contactIDs []int64) (RefreshResult, error) {
	var total RefreshResult
	for start := 0; start < len(contactIDs); start += refreshChunk {
		res, _, err := s.refresh(ctx, id, fields, contactIDs[start:min(start+refreshChunk, len(contactIDs))], nil)
		total.Entered += res.Entered
		total.Exited += res.Exited
		total.Members = res.Members
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// refreshChunk is the number of contacts RefreshContacts re-evaluates per
// statement.
const refreshChunk = 500

// refresh recomputes the membership of segment id, of the contacts only
// when only is not nil, compiling with fields (see customFields). When due
// is given, it is asked again once the segment is locked, and a segment it
// no longer holds due is left as it is: done tells whether the refresh was
// made.
func (s *Service) refresh(ctx context.Context, id int64, fields map[string]contacts.CustomField, only []int64, due func(Segment) bool) (res RefreshResult, done bool, err error) {
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var seg Segment
		q := tx
		if db.IsPostgres(tx) {
			// Serialise refreshes of one segment; SQLite's write lock does it there.
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		if err := q.Take(&seg, id).Error; err != nil {
			return err
		}
		if due != nil && !due(seg) {
			return nil
		}
		now := s.now()
		// Thresholds are read on the refresh's own connection; an
		// incremental refresh may take one computed in the last
		// topCacheTTL (see topCache).
		expr, err := s.compileWith(seg.Definition, now, fields, s.thresholds(ctx, tx, only != nil))
		if _, invalid := errs.AsInvalid(err); invalid {
			return newDefinitionError(seg, err)
		}
		if err != nil {
			return err
		}
		done = true
		scope, scopeArgs := "", []any{}
		memberScope := ""
		if only != nil {
			scope = " AND contacts.id IN (" + placeholders(len(only)) + ")"
			memberScope = " AND m.contact_id IN (" + placeholders(len(only)) + ")"
			for _, id := range only {
				scopeArgs = append(scopeArgs, id)
			}
		}
		args := func(parts ...[]any) []any {
			var out []any
			for _, p := range parts {
				out = append(out, p...)
			}
			return out
		}
		// The definition is evaluated once for exits and once for entries,
		// into segment_changes; membership then follows the rows just
		// recorded. Evaluating it again for segment_members could give a
		// different answer under PostgreSQL's READ COMMITTED (each
		// statement sees the latest commits), leaving a member without an
		// "entered" change or an "entered" change without a member. Rows
		// of this refresh are those of this segment above mark: the lock
		// above keeps other refreshes of the segment out, and ids are
		// allocated after mark was read.
		var mark int64
		if err := tx.Raw("SELECT COALESCE(MAX(id), 0) FROM segment_changes").Scan(&mark).Error; err != nil {
			return err
		}
		recorded := "SELECT c.contact_id FROM segment_changes c WHERE c.segment_id = ? AND c.kind = ? AND c.id > ?"
		matches := "SELECT 1 FROM contacts WHERE contacts.id = m.contact_id AND " + expr.SQL
		exits := tx.Exec("INSERT INTO segment_changes (segment_id, contact_id, kind, changed_at) SELECT m.segment_id, m.contact_id, ?, ? FROM segment_members m WHERE m.segment_id = ?"+memberScope+" AND NOT EXISTS ("+matches+")",
			args([]any{Exited, now, id}, scopeArgs, expr.Args)...)
		if exits.Error != nil {
			return exits.Error
		}
		res.Exited = exits.RowsAffected
		if res.Exited > 0 {
			del := tx.Exec("DELETE FROM segment_members WHERE segment_id = ? AND contact_id IN ("+recorded+")", id, id, Exited, mark)
			if del.Error != nil {
				return del.Error
			}
		}
		notMember := "NOT EXISTS (SELECT 1 FROM segment_members m WHERE m.segment_id = ? AND m.contact_id = contacts.id)"
		enters := tx.Exec("INSERT INTO segment_changes (segment_id, contact_id, kind, changed_at) SELECT ?, contacts.id, ?, ? FROM contacts WHERE "+expr.SQL+scope+" AND "+notMember,
			args([]any{id, Entered, now}, expr.Args, scopeArgs, []any{id})...)
		if enters.Error != nil {
			return enters.Error
		}
		res.Entered = enters.RowsAffected
		if res.Entered > 0 {
			ins := tx.Exec("INSERT INTO segment_members (segment_id, contact_id, entered_at) SELECT ?, c.contact_id, ? FROM segment_changes c WHERE c.segment_id = ? AND c.kind = ? AND c.id > ?",
				id, now, id, Entered, mark)
			if ins.Error != nil {
				return ins.Error
			}
		}
		if only == nil {
			if err := tx.Model(&Member{}).Where("segment_id = ?", id).Count(&res.Members).Error; err != nil {
				return err
			}
		} else {
			// Every change to the membership goes through a refresh holding
			// the segment's lock, so the count read with the segment is
			// exact: counting a segment of 300,000 members again would cost
			// an incremental refresh of one contact tens of milliseconds.
			// A full refresh counts afresh.
			res.Members = seg.MemberCount + res.Entered - res.Exited
		}
		updates := map[string]any{"member_count": res.Members}
		if only == nil {
			updates["refreshed_at"] = now
		}
		return tx.Model(&Segment{}).Where("id = ?", id).Updates(updates).Error
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return RefreshResult{}, false, errs.NotFound("segment", id)
	}
	var de *DefinitionError
	if errors.As(err, &de) {
		return RefreshResult{}, false, de
	}
	if err != nil {
		return RefreshResult{}, false, fmt.Errorf("segments: refresh %d: %w", id, err)
	}
	return res, done, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// Members returns a page of a segment's members in contact id order.
func (s *Service) Members(ctx context.Context, id int64, after int64, limit int) ([]contacts.Contact, int64, error) {
	return s.ListMembers(ctx, id, contacts.ListQuery{After: after, Limit: limit})
}

// ListMembers returns a page of a segment's members that match q's search
// and status, in contact id order, and the cursor of the next page.
func (s *Service) ListMembers(ctx context.Context, id int64, q contacts.ListQuery) ([]contacts.Contact, int64, error) {
	if _, err := s.Get(ctx, id); err != nil {
		return nil, 0, err
	}
	var cs []contacts.Contact
	err := s.db.WithContext(ctx).Scopes(q.Scope).
		Where("id IN (SELECT contact_id FROM segment_members WHERE segment_id = ? AND contact_id > ?)", id, q.After).
		Find(&cs).Error
	if err != nil {
		return nil, 0, fmt.Errorf("segments: members of %d: %w", id, err)
	}
	cs, next := q.Page(cs)
	return cs, next, nil
}

// OfContact returns the segments a contact is a member of, by name.
func (s *Service) OfContact(ctx context.Context, contactID int64) ([]Segment, error) {
	var segs []Segment
	err := s.db.WithContext(ctx).
		Where("id IN (SELECT segment_id FROM segment_members WHERE contact_id = ?)", contactID).
		Order("name, id").Limit(500).Find(&segs).Error
	if err != nil {
		return nil, fmt.Errorf("segments: of contact %d: %w", contactID, err)
	}
	return segs, nil
}

// IDs returns the ids of all segments.
func (s *Service) IDs(ctx context.Context) ([]int64, error) {
	var ids []int64
	if err := s.db.WithContext(ctx).Model(&Segment{}).Order("id").Pluck("id", &ids).Error; err != nil {
		return nil, fmt.Errorf("segments: ids: %w", err)
	}
	return ids, nil
}

// derivedReads are the contact fields an event changes through the
// activity roll-ups (see contacts.Store.RecordEvents): a change reported as
// "event.purchase" concerns the segments that read total_spent too.
var derivedReads = map[string][]string{
	"event." + contacts.EventPurchase:    {"orders_count", "total_spent", "first_purchase_at", "last_purchase_at", "avg_days_between_purchases"},
	"event." + contacts.EventOpen:        {"last_open_at"},
	"event." + contacts.EventClick:       {"last_click_at"},
	"event." + contacts.EventVisit:       {"last_visit_at"},
	"event." + contacts.EventUnsubscribe: {"status"},
	"event." + contacts.EventComplaint:   {"status"},
	"event." + contacts.EventBounce:      {"status"},
}

// Reads turns the fields a contact change reports (contacts.ChangeFunc's,
// or "deliveries") into the names a definition's Expr.Reads holds, events
// widened to the roll-ups they move: what a rule must read for the change
// to matter to it.
func Reads(fields []string) map[string]bool {
	reads := map[string]bool{}
	for _, f := range fields {
		reads[f] = true
		for _, r := range derivedReads[f] {
			reads[r] = true
		}
	}
	return reads
}

// ContactsChanged re-evaluates the given contacts against every segment
// whose definition reads one of the changed fields (Segment.Reads): the
// incremental refresh that keeps membership current as contacts change and
// events arrive. fields are as contacts.ChangeFunc reports them ("city",
// "attributes", "event.purchase", "created", "deleted", ...) or
// "deliveries" when campaigns were sent to the contacts. A created or
// deleted contact is re-evaluated against every segment. Every segment is
// tried; the error joins the failures, among them a *DefinitionError for
// each segment skipped because its definition no longer compiles (see
// BrokenSegments).
func (s *Service) ContactsChanged(ctx context.Context, ids []int64, fields []string) error {
	if len(ids) == 0 || len(fields) == 0 {
		return nil
	}
	reads := Reads(fields)
	everySegment := reads["created"] || reads["deleted"]
	q := s.db.WithContext(ctx).Model(&Segment{}).Order("id")
	if !everySegment {
		names := make([]string, 0, len(reads))
		for r := range reads {
			names = append(names, r)
		}
		sort.Strings(names)
		conds := make([]string, len(names))
		args := make([]any, len(names))
		for i, r := range names {
			conds[i] = `reads LIKE ? ESCAPE '\'`
			args[i] = "%," + escapeLike(r) + ",%"
		}
		q = q.Where(strings.Join(conds, " OR "), args...)
	}
	var segIDs []int64
	if err := q.Pluck("id", &segIDs).Error; err != nil {
		return fmt.Errorf("segments: find segments reading %v: %w", fields, err)
	}
	if len(segIDs) == 0 {
		return nil
	}
	custom, err := s.customFields(ctx)
	if err != nil {
		return err
	}
	var failed []error
	for _, id := range segIDs {
		if _, err := s.refreshContacts(ctx, id, custom, ids); err != nil && !errors.Is(err, errs.ErrNotFound) {
			failed = append(failed, err)
		}
	}
	return errors.Join(failed...)
}

// UsingField describes the segments whose definitions read the custom
// field name (attr.NAME), such as `segment 3 "VIPs"`: deleting the field
// would leave them unable to refresh (contacts.FieldUsers).
func (s *Service) UsingField(ctx context.Context, name string) ([]string, error) {
	// Every attr.NAME rule records "attributes" in Reads (the fuzz test
	// holds the compiler to it), so only those definitions are parsed.
	var segs []Segment
	err := s.db.WithContext(ctx).Select("id", "name", "definition").
		Where("reads LIKE ?", "%,attributes,%").Order("id").Find(&segs).Error
	if err != nil {
		return nil, fmt.Errorf("segments: find the segments using %s: %w", name, err)
	}
	var out []string
	for _, seg := range segs {
		n, err := Parse(seg.Definition)
		if err != nil {
			continue // stored definitions are canonical; this one reads nothing
		}
		if n.readsField("attr." + name) {
			out = append(out, fmt.Sprintf("segment %d %q", seg.ID, seg.Name))
		}
	}
	return out, nil
}
