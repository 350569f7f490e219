package contacts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

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
	Created bool  // this item created the contact; later items of its email update it
	Skipped bool  // the contact already existed and CreateMissing left it alone
	Err     error // an *errs.InvalidError for bad items
}

// writeChunk is the number of rows per INSERT: the pure-Go SQLite driver
// binds arguments in a loop that grows with the square of their number.
const writeChunk = 100

// UpsertMany upserts many contacts by email, answering per item: invalid
// items are reported by index and the valid ones are stored. When an email
// appears twice, the later item applies on top of the earlier one.
func (s *Store) UpsertMany(ctx context.Context, ins []Input) ([]BatchResult, error) {
	return s.upsertMany(ctx, ins, false)
}

// CreateMissing is UpsertMany for contacts that do not exist yet: an item
// whose email is already a contact leaves it as it is and answers Skipped.
// Later items of an email the batch creates still apply on top.
func (s *Store) CreateMissing(ctx context.Context, ins []Input) ([]BatchResult, error) {
	return s.upsertMany(ctx, ins, true)
}

func (s *Store) upsertMany(ctx context.Context, ins []Input, skipExisting bool) ([]BatchResult, error) {
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
		if err := s.upsertChunk(ctx, ins[start:end], start, results, fields, skipExisting); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// errChunkRaced is returned inside a chunk's transaction when another
// writer created one of the chunk's new emails first; the chunk is retried
// and then finds that contact.
var errChunkRaced = errors.New("contacts: a new email was created concurrently")

// chunkOutcome is what one attempt at a chunk decided, applied to the
// results only once its transaction committed.
type chunkOutcome struct {
	errs    []error
	created []bool
	skipped []bool
	final   map[string]Contact
	dirty   map[string]bool
	fields  map[string]bool
}

func (s *Store) upsertChunk(ctx context.Context, ins []Input, offset int, results []BatchResult, fields map[string]CustomField, skipExisting bool) error {
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
	if len(emails) == 0 {
		return nil
	}
	// New rows are inserted in email order, so that two batches creating
	// the same emails never wait for each other in a circle.
	sort.Strings(emails)
	emails = slices.Compact(emails)

	var out chunkOutcome
	for attempt := 0; ; attempt++ {
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var err error
			out, err = s.writeChunk(tx, ins, itemEmail, emails, fields, skipExisting)
			return err
		})
		if errors.Is(err, errChunkRaced) && attempt < 3 {
			continue
		}
		if err != nil {
			return fmt.Errorf("contacts: batch write: %w", err)
		}
		break
	}

	ids := make([]int64, 0, len(out.dirty))
	for i := range ins {
		r := &results[offset+i]
		if itemEmail[i] == "" {
			continue
		}
		if out.errs[i] != nil {
			r.Err = out.errs[i]
			continue
		}
		r.Skipped = out.skipped[i]
		r.Created = out.created[i]
		r.Contact = out.final[itemEmail[i]]
	}
	for _, e := range emails {
		if out.dirty[e] {
			ids = append(ids, out.final[e].ID)
		}
	}
	if len(ids) > 0 {
		fs := make([]string, 0, len(out.fields))
		for f := range out.fields {
			fs = append(fs, f)
		}
		sort.Strings(fs)
		s.changed(ctx, ids, fs)
	}
	return nil
}

// writeChunk reads the chunk's existing contacts (locked until the
// transaction ends, so that nothing written meanwhile is overwritten),
// applies the items in order, writes the rows that changed and reads the
// final rows back.
func (s *Store) writeChunk(tx *gorm.DB, ins []Input, itemEmail, emails []string, fields map[string]CustomField, skipExisting bool) (chunkOutcome, error) {
	out := chunkOutcome{
		errs:    make([]error, len(ins)),
		created: make([]bool, len(ins)),
		skipped: make([]bool, len(ins)),
		final:   make(map[string]Contact, len(emails)),
		dirty:   map[string]bool{},
		fields:  map[string]bool{},
	}
	// Existing rows are locked in id order, as RecordEvents locks them.
	var existing []Contact
	if err := forUpdate(tx).Where("email IN ?", emails).Order("id").Find(&existing).Error; err != nil {
		return out, fmt.Errorf("lookup: %w", err)
	}
	byEmail := make(map[string]*Contact, len(emails))
	for i := range existing {
		byEmail[existing[i].Email] = &existing[i]
	}
	var fresh []string
	for _, e := range emails {
		if byEmail[e] == nil {
			fresh = append(fresh, e)
		}
	}
	sup, err := suppressed(tx, fresh)
	if err != nil {
		return out, err
	}
	from := make(map[string]Status, len(emails))
	for e, c := range byEmail {
		from[e] = c.Status
	}
	isNew := map[string]bool{}
	now := s.opts.Now()
	for i := range ins {
		e := itemEmail[i]
		if e == "" {
			continue
		}
		in := ins[i]
		in.Email = &e
		c, ok := byEmail[e]
		if ok && skipExisting && !isNew[e] {
			out.skipped[i] = true
			continue
		}
		var work Contact
		if ok {
			work = *c
			work.Attributes = copyMap(c.Attributes)
		} else {
			work = Contact{Status: Subscribed, Attributes: map[string]any{}}
			if reason, ok := sup[e]; ok {
				work.Status = statusOf(reason)
			}
		}
		changed, err := in.apply(&work, fields)
		if err != nil {
			out.errs[i] = err
			continue
		}
		if !ok {
			if work.SignupAt == nil {
				work.SignupAt = &now
			}
			isNew[e] = true
			out.created[i] = true // the first item of a new email creates it
			changed = append(changed, "created")
		}
		byEmail[e] = &work
		if len(changed) > 0 {
			out.dirty[e] = true
			for _, f := range changed {
				out.fields[f] = true
			}
		}
	}
	var newRows, oldRows []Contact
	for _, e := range emails {
		if !out.dirty[e] {
			continue
		}
		c := *byEmail[e]
		c.UpdatedAt = now
		if isNew[e] {
			c.ID = 0
			c.CreatedAt = now
			newRows = append(newRows, c)
		} else {
			oldRows = append(oldRows, c)
		}
	}
	for start := 0; start < len(newRows); start += writeChunk {
		chunk := newRows[start:min(start+writeChunk, len(newRows))]
		// Another writer may have created one of these emails since the
		// lookup: nothing is overwritten, and the chunk starts again.
		res := tx.Omit("id").Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "email"}}, DoNothing: true}).Create(&chunk)
		if res.Error != nil {
			return out, fmt.Errorf("insert: %w", res.Error)
		}
		if res.RowsAffected != int64(len(chunk)) {
			return out, errChunkRaced
		}
	}
	for start := 0; start < len(oldRows); start += writeChunk {
		chunk := oldRows[start:min(start+writeChunk, len(oldRows))]
		for i := range chunk {
			chunk[i].ID = 0 // the email decides which row; ids are re-read below
		}
		err := tx.Omit("id").Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "email"}},
			DoUpdates: clause.AssignmentColumns(writableColumns),
		}).Create(&chunk).Error
		if err != nil {
			return out, fmt.Errorf("update: %w", err)
		}
	}
	// Read back the final rows so every result carries its id and state.
	var final []Contact
	if err := tx.Where("email IN ?", emails).Find(&final).Error; err != nil {
		return out, fmt.Errorf("read back: %w", err)
	}
	for _, c := range final {
		out.final[c.Email] = c
		if !out.dirty[c.Email] {
			continue
		}
		var err error
		if isNew[c.Email] {
			_, onList := sup[c.Email]
			err = s.recordNewStatus(tx, c, onList, now)
		} else if c.Status != from[c.Email] {
			err = s.recordStatus(tx, c, statusChange{from: from[c.Email], to: c.Status, by: "api"}, now)
		}
		if err != nil {
			return out, fmt.Errorf("status change: %w", err)
		}
	}
	return out, nil
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
