package contacts

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"herald/internal/db"
	"herald/internal/errs"
)

// ChangeFunc is told which contacts changed and which of their fields, after
// the change is committed. Segments use it to re-evaluate just those contacts.
type ChangeFunc func(ctx context.Context, ids []int64, fields []string)

// Options configure a Store.
type Options struct {
	// OnChange, when set, is called after contacts or their roll-ups change.
	OnChange ChangeFunc
	// CreateUnknown makes events for an unknown email create the contact
	// instead of being rejected.
	CreateUnknown bool
	// Currency is the store currency (ISO 4217); DefaultCurrency when
	// empty. Events in another currency are refused (see Store.Currency).
	Currency string
	// Now is the clock; db.Now when nil.
	Now func() time.Time
}

// Store reads and writes contacts and their events.
type Store struct {
	db   *gorm.DB
	opts Options
}

// NewStore returns a Store on g. The currency is normalised here, once, so
// that everything reading Store.Currency (per event, per recipient) gets
// the upper-case code without repeating the work.
func NewStore(g *gorm.DB, opts Options) *Store {
	if opts.Now == nil {
		opts.Now = db.Now
	}
	opts.Currency = cmp.Or(strings.ToUpper(strings.TrimSpace(opts.Currency)), DefaultCurrency)
	return &Store{db: g, opts: opts}
}

func (s *Store) changed(ctx context.Context, ids []int64, fields []string) {
	if s.opts.OnChange != nil && len(ids) > 0 && len(fields) > 0 {
		s.opts.OnChange(ctx, ids, fields)
	}
}

// Get returns the contact with id.
func (s *Store) Get(ctx context.Context, id int64) (Contact, error) {
	var c Contact
	err := s.db.WithContext(ctx).Take(&c, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Contact{}, errs.NotFound("contact", id)
	}
	if err != nil {
		return Contact{}, fmt.Errorf("contacts: get %d: %w", id, err)
	}
	return c, nil
}

// GetByEmail returns the contact with the (normalised) email.
func (s *Store) GetByEmail(ctx context.Context, email string) (Contact, error) {
	e, err := NormalizeEmail(email)
	if err != nil {
		return Contact{}, errs.Invalid("email", "%v", err)
	}
	var c Contact
	err = s.db.WithContext(ctx).Where("email = ?", e).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Contact{}, errs.NotFound("contact", e)
	}
	if err != nil {
		return Contact{}, fmt.Errorf("contacts: get by email: %w", err)
	}
	return c, nil
}

// GetMany returns the contacts with the given ids, in no particular order.
func (s *Store) GetMany(ctx context.Context, ids []int64) ([]Contact, error) {
	var cs []Contact
	if len(ids) == 0 {
		return cs, nil
	}
	if err := s.db.WithContext(ctx).Where("id IN ?", ids).Find(&cs).Error; err != nil {
		return nil, fmt.Errorf("contacts: get many: %w", err)
	}
	return cs, nil
}

// ListQuery selects a page of contacts in id order.
type ListQuery struct {
	After  int64  // the last id of the previous page
	Limit  int    // 1..1000, 100 by default
	Search string // matches the start of email, first or last name
	Status Status // only contacts with this status when set
}

// List returns a page of contacts and the cursor of the next page (0 at the end).
func (s *Store) List(ctx context.Context, q ListQuery) ([]Contact, int64, error) {
	var cs []Contact
	if err := s.db.WithContext(ctx).Scopes(q.Scope).Find(&cs).Error; err != nil {
		return nil, 0, fmt.Errorf("contacts: list: %w", err)
	}
	cs, next := q.Page(cs)
	return cs, next, nil
}

// Scope applies q to a query of contacts: its filters, id order and one
// row more than the page, which Page then cuts. Packages that list
// contacts through their own tables (segment members) use the two so that
// search and paging mean the same everywhere.
func (q ListQuery) Scope(tx *gorm.DB) *gorm.DB {
	tx = tx.Where("id > ?", q.After).Order("id").Limit(q.limit() + 1)
	if q.Status != "" {
		tx = tx.Where("status = ?", q.Status)
	}
	if q.Search != "" {
		p := escapeLike(strings.ToLower(strings.TrimSpace(q.Search))) + "%"
		tx = tx.Where(`(email LIKE ? ESCAPE '\' OR LOWER(first_name) LIKE ? ESCAPE '\' OR LOWER(last_name) LIKE ? ESCAPE '\')`, p, p, p)
	}
	return tx
}

// Page cuts what Scope read to the page and returns the next cursor.
func (q ListQuery) Page(cs []Contact) ([]Contact, int64) {
	if n := q.limit(); len(cs) > n {
		cs = cs[:n]
		return cs, cs[len(cs)-1].ID
	}
	return cs, 0
}

func (q ListQuery) limit() int {
	if q.Limit <= 0 || q.Limit > 1000 {
		return 100
	}
	return q.Limit
}

// Count returns the number of contacts.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&Contact{}).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("contacts: count: %w", err)
	}
	return n, nil
}

// Upsert creates the contact with in.Email or updates the existing one with
// the fields in has set. created tells which happened.
func (s *Store) Upsert(ctx context.Context, in Input) (c Contact, created bool, err error) {
	if in.Email == nil {
		return Contact{}, false, errs.Invalid("email", "is required")
	}
	email, err := NormalizeEmail(*in.Email)
	if err != nil {
		return Contact{}, false, errs.Invalid("email", "%v", err)
	}
	in.Email = &email
	fields, err := s.Fields(ctx)
	if err != nil {
		return Contact{}, false, err
	}
	// Two requests for a new address can race; the unique index makes one
	// of them fail, and the retry then finds the row and updates it. An
	// existing row is locked while it is read and written, so that a
	// concurrent change (an attribute, an unsubscribe, a roll-up) is not
	// overwritten with what was read before it.
	for attempt := 0; attempt < 2; attempt++ {
		var changed []string
		c, created = Contact{}, false
		err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			err := forUpdate(tx).Where("email = ?", email).Take(&c).Error
			switch {
			case errors.Is(err, gorm.ErrRecordNotFound):
				c = Contact{Status: Subscribed, Attributes: map[string]any{}, Email: email}
				sup, err := suppressed(tx, []string{email})
				if err != nil {
					return err
				}
				reason, onList := sup[email]
				if onList {
					c.Status = statusOf(reason)
				}
				if changed, err = in.apply(&c, fields); err != nil {
					return err
				}
				now := s.opts.Now()
				if c.SignupAt == nil {
					c.SignupAt = &now
				}
				created = true
				changed = append(changed, "created")
				if err := tx.Create(&c).Error; err != nil {
					return err
				}
				return s.recordNewStatus(tx, c, onList, now)
			case err != nil:
				return err
			}
			created = false
			from := c.Status
			if changed, err = in.apply(&c, fields); err != nil {
				return err
			}
			if len(changed) == 0 {
				return nil
			}
			if err := tx.Save(&c).Error; err != nil {
				return err
			}
			if c.Status != from {
				return s.recordStatus(tx, c, statusChange{from: from, to: c.Status, by: "api"}, s.opts.Now())
			}
			return nil
		})
		if errors.Is(err, gorm.ErrDuplicatedKey) && attempt == 0 {
			continue
		}
		if err != nil {
			if _, ok := errs.AsInvalid(err); ok {
				return Contact{}, false, err
			}
			return Contact{}, false, fmt.Errorf("contacts: upsert: %w", err)
		}
		s.changed(ctx, []int64{c.ID}, changed)
		return c, created, nil
	}
	return Contact{}, false, fmt.Errorf("contacts: upsert: %w", err)
}

// Update applies in to the contact with id.
func (s *Store) Update(ctx context.Context, id int64, in Input) (Contact, error) {
	fields, err := s.Fields(ctx)
	if err != nil {
		return Contact{}, err
	}
	var (
		c       Contact
		changed []string
	)
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := forUpdate(tx).Take(&c, id).Error; err != nil {
			return err
		}
		from := c.Status
		if changed, err = in.apply(&c, fields); err != nil {
			return err
		}
		if len(changed) == 0 {
			return nil
		}
		if err := tx.Save(&c).Error; err != nil {
			return err
		}
		if c.Status != from {
			return s.recordStatus(tx, c, statusChange{from: from, to: c.Status, by: "api"}, s.opts.Now())
		}
		return nil
	})
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return Contact{}, errs.NotFound("contact", id)
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return Contact{}, errs.Invalid("email", "another contact has this email")
	case err != nil:
		if _, ok := errs.AsInvalid(err); ok {
			return Contact{}, err
		}
		return Contact{}, fmt.Errorf("contacts: update %d: %w", id, err)
	}
	s.changed(ctx, []int64{c.ID}, changed)
	return c, nil
}

// Delete removes a contact and its events.
func (s *Store) Delete(ctx context.Context, id int64) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// An opt-out outlives the contact: its address stays on the
		// suppression list (as a hash) when the row goes.
		var c Contact
		if err := tx.Select("id", "email", "status").Take(&c, id).Error; err != nil {
			return err
		}
		if suppresses(c.Status) {
			if err := suppress(tx, c.Email, string(c.Status), s.opts.Now()); err != nil {
				return err
			}
		}
		if err := tx.Where("contact_id = ?", id).Delete(&Event{}).Error; err != nil {
			return err
		}
		res := tx.Delete(&Contact{}, id)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return gorm.ErrRecordNotFound
		}
		return nil
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return errs.NotFound("contact", id)
	}
	if err != nil {
		return fmt.Errorf("contacts: delete %d: %w", id, err)
	}
	s.changed(ctx, []int64{id}, []string{"deleted"})
	return nil
}

// SetStatus changes a contact's status (unsubscribe, bounce) and reports
// whether it changed. Subscribing a contact that unsubscribed or
// complained is refused: that takes Resubscribe.
func (s *Store) SetStatus(ctx context.Context, id int64, st Status) (bool, error) {
	return s.SetStatusBy(ctx, id, st, "api", "")
}

// SetStatusBy is SetStatus recording who changed the status (page,
// person, api) and, when given, why.
func (s *Store) SetStatusBy(ctx context.Context, id int64, st Status, by, reason string) (bool, error) {
	if !st.Valid() {
		return false, errs.Invalid("status", "%q is not a status", st)
	}
	now := s.opts.Now()
	changed := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var c Contact
		if err := forUpdate(tx).Take(&c, id).Error; err != nil {
			return err
		}
		if c.Status == st {
			return nil
		}
		if st == Subscribed && optedOut(c.Status) {
			return refuseResubscribe(c)
		}
		from := c.Status
		if err := tx.Model(&Contact{}).Where("id = ?", id).
			Updates(map[string]any{"status": st, "status_changed_at": now, "updated_at": now}).Error; err != nil {
			return err
		}
		c.Status = st
		changed = true
		return s.recordStatus(tx, c, statusChange{from: from, to: st, by: by, reason: reason}, now)
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return false, errs.NotFound("contact", id)
	}
	if _, ok := errs.AsInvalid(err); ok {
		return false, err
	}
	if err != nil {
		return false, fmt.Errorf("contacts: set status of %d: %w", id, err)
	}
	if changed {
		s.changed(ctx, []int64{id}, []string{"status"})
	}
	return changed, nil
}

// recordNewStatus notes the status of a contact just created when it is
// not the default: kept from the suppression list, or given as such.
func (s *Store) recordNewStatus(tx *gorm.DB, c Contact, onList bool, now time.Time) error {
	switch {
	case onList:
		return s.recordStatus(tx, c, statusChange{to: c.Status, by: "suppression list", reason: "the address opted out before"}, now)
	case c.Status != Subscribed:
		return s.recordStatus(tx, c, statusChange{to: c.Status, by: "api"}, now)
	}
	return nil
}

// forUpdate locks the rows the query reads until the transaction ends.
// SQLite has no row locks and no FOR UPDATE: there every transaction takes
// the database's write lock when it begins (_txlock=immediate), which
// serialises writers just as well.
func forUpdate(tx *gorm.DB) *gorm.DB {
	if db.IsPostgres(tx) {
		return tx.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return tx
}

func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// CountStatus returns the number of contacts with status st.
func (s *Store) CountStatus(ctx context.Context, st Status) (int64, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&Contact{}).Where("status = ?", st).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("contacts: count %s: %w", st, err)
	}
	return n, nil
}
