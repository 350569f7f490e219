package contacts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"herald/internal/db"
	"herald/internal/errs"
)

// EventStatus records a change of a contact's status on their timeline:
// properties from, to, by (api, import, page, person, event) and reason.
const EventStatus = "contact.status"

// Suppression reasons beyond the opt-out statuses.
const (
	// SuppressedErased is an address whose person asked to be forgotten.
	SuppressedErased = "erased"
)

// Suppression is an address Herald must not write to: one that
// unsubscribed, complained or bounced, or whose person was erased. It is
// keyed by a hash of the normalised address and outlives the contact, so
// a deleted or erased contact imported again from an old list comes back
// with the opt-out, not subscribed.
type Suppression struct {
	EmailHash string `gorm:"primaryKey;size:64"`
	Reason    string `gorm:"size:16;not null"`
	CreatedAt time.Time
}

// TableName keeps the table name explicit.
func (Suppression) TableName() string { return "suppressions" }

// EmailHash is the suppression list's key of a normalised address.
func EmailHash(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return hex.EncodeToString(sum[:])
}

// optedOut reports whether a contact of status st is only to be written
// to again when they ask for it themselves (or a recorded decision says
// so).
func optedOut(st Status) bool { return st == Unsubscribed || st == Complained }

// suppresses reports whether st puts the address on the suppression list.
func suppresses(st Status) bool { return st == Unsubscribed || st == Complained || st == Bounced }

// statusOf is the status a new contact gets from a suppression reason.
func statusOf(reason string) Status {
	if st := Status(reason); st.Valid() {
		return st
	}
	return Unsubscribed
}

// Suppressed returns the reasons of those of emails on the suppression
// list, by email.
func (s *Store) Suppressed(ctx context.Context, emails []string) (map[string]string, error) {
	return suppressed(s.db.WithContext(ctx), emails)
}

func suppressed(tx *gorm.DB, emails []string) (map[string]string, error) {
	out := map[string]string{}
	if len(emails) == 0 {
		return out, nil
	}
	byHash := make(map[string]string, len(emails))
	hashes := make([]string, 0, len(emails))
	for _, e := range emails {
		h := EmailHash(e)
		byHash[h] = e
		hashes = append(hashes, h)
	}
	for start := 0; start < len(hashes); start += 500 {
		var rows []Suppression
		if err := tx.Where("email_hash IN ?", hashes[start:min(start+500, len(hashes))]).Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("contacts: read suppressions: %w", err)
		}
		for _, r := range rows {
			out[byHash[r.EmailHash]] = r.Reason
		}
	}
	return out, nil
}

// suppress puts an address on the list; an address already there keeps
// its first reason.
func suppress(tx *gorm.DB, email, reason string, now time.Time) error {
	return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&Suppression{EmailHash: EmailHash(email), Reason: reason, CreatedAt: now}).Error
}

// statusChange is what a change of status leaves behind, in the same
// transaction: the suppression list follows the status, and the
// contact's timeline gets the change with who made it and why.
type statusChange struct {
	from, to   Status
	by, reason string
}

func (s *Store) recordStatus(tx *gorm.DB, c Contact, ch statusChange, now time.Time) error {
	switch {
	case suppresses(ch.to):
		if err := suppress(tx, c.Email, string(ch.to), now); err != nil {
			return err
		}
	case ch.to == Subscribed:
		if err := tx.Where("email_hash = ?", EmailHash(c.Email)).Delete(&Suppression{}).Error; err != nil {
			return err
		}
	}
	props := map[string]any{"to": string(ch.to), "by": ch.by}
	if ch.from != "" {
		props["from"] = string(ch.from)
	}
	if ch.reason != "" {
		props["reason"] = ch.reason
	}
	return tx.Create(&Event{ContactID: c.ID, Type: EventStatus, OccurredAt: now, Properties: props}).Error
}

func refuseResubscribe(c Contact) error {
	return errs.Invalid("status", "%s is %s; only the person can subscribe again (from the link in any email, which sends them a confirmation), or POST /api/contacts/:id/resubscribe with a reason", c.Email, c.Status)
}

// Resubscribe turns an unsubscribed, complained or bounced contact back to
// subscribed: a decision that must be explicit and is recorded with who
// made it and why.
func (s *Store) Resubscribe(ctx context.Context, id int64, by, reason string) (Contact, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return Contact{}, errs.Invalid("reason", "say why this contact may be written to again (for example: asked by phone on 2026-03-01)")
	}
	if len(reason) > 500 || strings.ContainsAny(reason, "\r\n\x00") {
		return Contact{}, errs.Invalid("reason", "is one line of at most 500 characters")
	}
	var c Contact
	now := s.opts.Now()
	changed := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := forUpdate(tx).Take(&c, id).Error; err != nil {
			return err
		}
		if c.Status == Subscribed {
			return nil
		}
		from := c.Status
		c.Status, c.StatusChangedAt, c.UpdatedAt = Subscribed, &now, now
		if err := tx.Model(&Contact{}).Where("id = ?", id).Updates(map[string]any{"status": Subscribed, "status_changed_at": now, "updated_at": now}).Error; err != nil {
			return err
		}
		changed = true
		return s.recordStatus(tx, c, statusChange{from: from, to: Subscribed, by: by, reason: reason}, now)
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Contact{}, errs.NotFound("contact", id)
	}
	if err != nil {
		return Contact{}, fmt.Errorf("contacts: resubscribe %d: %w", id, err)
	}
	if changed {
		s.changed(ctx, []int64{id}, []string{"status"})
	}
	return c, nil
}

// ApplySuppressions gives every contact of byID whose address is on the
// suppression list the status of its reason, so that a sender skipping
// all but subscribed contacts skips them too, whatever their row says.
func (s *Store) ApplySuppressions(ctx context.Context, byID map[int64]Contact) error {
	emails := make([]string, 0, len(byID))
	for _, c := range byID {
		if c.Status == Subscribed {
			emails = append(emails, c.Email)
		}
	}
	sup, err := s.Suppressed(ctx, emails)
	if err != nil || len(sup) == 0 {
		return err
	}
	for id, c := range byID {
		if reason, ok := sup[c.Email]; ok && c.Status == Subscribed {
			c.Status = statusOf(reason)
			byID[id] = c
		}
	}
	return nil
}

// backfillSuppressions puts the addresses of contacts that opted out
// before the list existed on it, a page at a time.
func backfillSuppressions(g *gorm.DB) error {
	var after int64
	for {
		var page []Contact
		if err := g.Select("id", "email", "status").Where("id > ? AND status IN ?", after, []Status{Unsubscribed, Complained, Bounced}).Order("id").Limit(1000).Find(&page).Error; err != nil {
			return fmt.Errorf("contacts: backfill suppressions: %w", err)
		}
		if len(page) == 0 {
			return nil
		}
		rows := make([]Suppression, len(page))
		now := db.Now()
		for i, c := range page {
			rows[i] = Suppression{EmailHash: EmailHash(c.Email), Reason: string(c.Status), CreatedAt: now}
		}
		if err := g.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(rows, 500).Error; err != nil {
			return fmt.Errorf("contacts: backfill suppressions: %w", err)
		}
		after = page[len(page)-1].ID
	}
}
