// Package privacy answers a person's rights over their data: an export of
// everything Herald holds on a contact, and an erase that removes it,
// keeping only the hash of the address on the suppression list (so the
// person is never written to again from an old list) and the anonymous
// delivery rows that campaign counts are made of. Each package reads and
// erases its own tables; this one runs them in one transaction.
package privacy

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"herald/automations"
	"herald/campaigns"
	"herald/contacts"
	"herald/internal/db"
	"herald/internal/errs"
	"herald/outbox"
	"herald/segments"
)

// Service exports and erases contacts.
type Service struct {
	db  *gorm.DB
	now func() time.Time
}

// NewService returns a Service on g.
func NewService(g *gorm.DB) *Service { return &Service{db: g, now: db.Now} }

// Export is everything Herald holds on one person.
type Export struct {
	ExportedAt time.Time
	Contact    contacts.Contact
	Events     []contacts.Event
	// Suppressed is why the address is on the suppression list, if it is.
	Suppressed  string
	Deliveries  []campaigns.PersonDelivery
	Coupons     []campaigns.PersonCoupon
	Segments    []segments.Member
	SegmentLog  []segments.Change
	Automations []automations.Run
	// Messages are the copies of sent messages the embedded capture keeps.
	Messages []outbox.Message
}

// Export reads, in one consistent snapshot, everything held on contact id.
func (s *Service) Export(ctx context.Context, id int64) (Export, error) {
	out := Export{ExportedAt: s.now()}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		pd, err := contacts.ExportContact(tx, id)
		if err != nil {
			return err
		}
		out.Contact, out.Events, out.Suppressed = pd.Contact, pd.Events, pd.Suppressed
		if out.Deliveries, out.Coupons, err = campaigns.ExportContact(tx, id); err != nil {
			return err
		}
		if out.Segments, out.SegmentLog, err = segments.ExportContact(tx, id); err != nil {
			return err
		}
		if out.Automations, err = automations.ExportContact(tx, id); err != nil {
			return err
		}
		out.Messages, err = outbox.ExportAddress(tx, pd.Contact.Email)
		return err
	})
	if err != nil {
		if _, ok := errs.AsInvalid(err); ok {
			return Export{}, err
		}
		return Export{}, fmt.Errorf("privacy: export %d: %w", id, err)
	}
	return out, nil
}

// Erase removes contact id and everything that leads back to them, in one
// transaction: nothing is half erased.
func (s *Service) Erase(ctx context.Context, id int64) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		email, err := contacts.EraseContact(tx, id, s.now())
		if err != nil {
			return err
		}
		for _, erase := range []func(*gorm.DB, int64) error{campaigns.EraseContact, segments.EraseContact, automations.EraseContact} {
			if err := erase(tx, id); err != nil {
				return err
			}
		}
		return outbox.EraseAddress(tx, email)
	})
	if err != nil {
		return fmt.Errorf("privacy: erase %d: %w", id, err)
	}
	return nil
}
