package contacts

import (
	"context"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"herald/internal/errs"
)

// MaxBatch is the largest number of items one batch call takes.
const MaxBatch = 10000

// BatchResult is the outcome of one item of a batch, by its index.
type BatchResult struct {
	Index   int
	Contact Contact
	Created bool
	Err     error // an *errs.InvalidError for bad items
}

// writeChunk is the number of rows per INSERT: the pure-Go SQLite driver
// binds arguments in a loop that grows with the square of their number.
const writeChunk = 100

// UpsertMany upserts many contacts by email, answering per item: invalid
// items are reported by index and the valid ones are stored. When an email
// appears twice, the later item applies on top of the earlier one.
func (s *Store) UpsertMany(ctx context.Context, ins []Input) ([]BatchResult, error) {
	if len(ins) > MaxBatch {
		return nil, errs.Invalid("", "a batch holds at most %d items, got %d", MaxBatch, len(ins))
	}
	fields, err := s.Fields(ctx)
	if err != nil {
		return nil, err
	}
	results := make([]BatchResult, len(ins))
	for start := 0; start < len(ins); start += 500 {
		end := min(start+500, len(ins))
		if err := s.upsertChunk(ctx, ins[start:end], start, results, fields); err != nil {
			return nil, err
		}
	}
	return results, nil
}

func (s *Store) upsertChunk(ctx context.Context, ins []Input, offset int, results []BatchResult, fields map[string]CustomField) error {
	emails := make([]string, 0, len(ins))
	itemEmail := make([]string, len(ins))
	for i, in := range ins {
		results[offset+i].Index = offset + i
		if in.Email == nil {
			results[offset+i].Err = errs.Invalid("email", "is required")
			continue
		}
		e, err := NormalizeEmail(*in.Email)
		if err != nil {
			results[offset+i].Err = errs.Invalid("email", "%v", err)
			continue
		}
		itemEmail[i] = e
		emails = append(emails, e)
	}
	var existing []Contact
	if len(emails) > 0 {
		if err := s.db.WithContext(ctx).Where("email IN ?", emails).Find(&existing).Error; err != nil {
			return fmt.Errorf("contacts: batch lookup: %w", err)
		}
	}
	byEmail := make(map[string]*Contact, len(emails))
	isNew := map[string]bool{}
	for i := range existing {
		byEmail[existing[i].Email] = &existing[i]
	}
	dirty := map[string]bool{}
	var dirtyOrder []string // input order, so new rows get ids in that order
	changedFields := map[string]bool{}
	now := s.opts.Now()
	for i := range ins {
		e := itemEmail[i]
		if e == "" {
			continue
		}
		in := ins[i]
		in.Email = &e
		c, ok := byEmail[e]
		var work Contact
		if ok {
			work = *c
			work.Attributes = copyMap(c.Attributes)
		} else {
			work = Contact{Status: Subscribed, Attributes: map[string]any{}}
		}
		changed, err := in.apply(&work, fields)
		if err != nil {
			results[offset+i].Err = err
			continue
		}
		if !ok {
			if work.SignupAt == nil {
				work.SignupAt = &now
			}
			isNew[e] = true
			changed = append(changed, "created")
		}
		byEmail[e] = &work
		results[offset+i].Created = isNew[e]
		if len(changed) > 0 {
			if !dirty[e] {
				dirtyOrder = append(dirtyOrder, e)
			}
			dirty[e] = true
			for _, f := range changed {
				changedFields[f] = true
			}
		}
	}
	var rows []Contact
	for _, e := range dirtyOrder {
		c := byEmail[e]
		c.UpdatedAt = now
		if c.CreatedAt.IsZero() {
			c.CreatedAt = now
		}
		rows = append(rows, *c)
	}
	if len(rows) > 0 {
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			for start := 0; start < len(rows); start += writeChunk {
				chunk := rows[start:min(start+writeChunk, len(rows))]
				for i := range chunk {
					chunk[i].ID = 0 // the email decides which row; ids are re-read below
				}
				err := tx.Omit("id").Clauses(clause.OnConflict{
					Columns:   []clause.Column{{Name: "email"}},
					DoUpdates: clause.AssignmentColumns(writableColumns),
				}).Create(&chunk).Error
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("contacts: batch write: %w", err)
		}
	}
	// Read back the final rows so every result carries its id and state.
	var final []Contact
	if len(emails) > 0 {
		if err := s.db.WithContext(ctx).Where("email IN ?", emails).Find(&final).Error; err != nil {
			return fmt.Errorf("contacts: batch read back: %w", err)
		}
	}
	finalBy := make(map[string]Contact, len(final))
	ids := make([]int64, 0, len(dirty))
	for _, c := range final {
		finalBy[c.Email] = c
		if dirty[c.Email] {
			ids = append(ids, c.ID)
		}
	}
	for i := range ins {
		if r := &results[offset+i]; r.Err == nil && itemEmail[i] != "" {
			r.Contact = finalBy[itemEmail[i]]
		}
	}
	if len(ids) > 0 {
		fs := make([]string, 0, len(changedFields))
		for f := range changedFields {
			fs = append(fs, f)
		}
		s.changed(ctx, ids, fs)
	}
	return nil
}

// writableColumns are the columns a client sets; roll-ups are left alone.
var writableColumns = []string{
	"first_name", "last_name", "city", "country", "language", "timezone",
	"birthday", "birthday_md", "anniversary", "anniversary_md", "family_status",
	"source", "signup_at", "status", "status_changed_at", "attributes", "updated_at",
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
