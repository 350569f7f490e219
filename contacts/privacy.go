package contacts

import (
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"herald/internal/errs"
)

// PersonData is what this package holds on one contact.
type PersonData struct {
	Contact Contact
	Events  []Event
	// Suppressed is the reason the address is on the suppression list,
	// empty when it is not.
	Suppressed string
}

// ExportContact reads everything this package holds on contact id, in tx.
func ExportContact(tx *gorm.DB, id int64) (PersonData, error) {
	var d PersonData
	if err := tx.Take(&d.Contact, id).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return d, errs.NotFound("contact", id)
		}
		return d, fmt.Errorf("contacts: export %d: %w", id, err)
	}
	if err := tx.Where("contact_id = ?", id).Order("occurred_at, id").Find(&d.Events).Error; err != nil {
		return d, fmt.Errorf("contacts: export events of %d: %w", id, err)
	}
	sup, err := suppressed(tx, []string{d.Contact.Email})
	if err != nil {
		return d, err
	}
	d.Suppressed = sup[d.Contact.Email]
	return d, nil
}

// EraseContact removes contact id and its events in tx, leaving only the
// hash of its address on the suppression list (with the opt-out reason it
// had, or SuppressedErased), so that an old list imported again cannot
// bring the person back as a subscriber. It returns the address, which
// the caller needs to erase what other packages hold under it.
func EraseContact(tx *gorm.DB, id int64, now time.Time) (string, error) {
	var c Contact
	if err := forUpdate(tx).Select("id", "email", "status").Take(&c, id).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return "", errs.NotFound("contact", id)
		}
		return "", fmt.Errorf("contacts: erase %d: %w", id, err)
	}
	reason := SuppressedErased
	if suppresses(c.Status) {
		reason = string(c.Status)
	}
	if err := suppress(tx, c.Email, reason, now); err != nil {
		return "", fmt.Errorf("contacts: erase %d: %w", id, err)
	}
	if err := tx.Where("contact_id = ?", id).Delete(&Event{}).Error; err != nil {
		return "", fmt.Errorf("contacts: erase events of %d: %w", id, err)
	}
	if err := tx.Delete(&Contact{}, id).Error; err != nil {
		return "", fmt.Errorf("contacts: erase %d: %w", id, err)
	}
	return c.Email, nil
}
