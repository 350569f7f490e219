package outbox

import (
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// sentTo returns the ids of captured messages addressed to email.
func sentTo(tx *gorm.DB, email string) ([]Message, error) {
	var ms []Message
	like := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(email) + "%"
	if err := tx.Where(`LOWER(rcpt_to) LIKE ? ESCAPE '\'`, like).Order("id").Find(&ms).Error; err != nil {
		return nil, fmt.Errorf("outbox: messages to an address: %w", err)
	}
	out := ms[:0]
	for _, m := range ms {
		for _, to := range strings.Split(m.RcptTo, ",") {
			if strings.EqualFold(strings.TrimSpace(to), email) {
				out = append(out, m)
				break
			}
		}
	}
	return out, nil
}

// ExportAddress returns the captured copies of the messages sent to
// email, in tx.
func ExportAddress(tx *gorm.DB, email string) ([]Message, error) {
	if !tx.Migrator().HasTable(&Message{}) {
		return nil, nil
	}
	return sentTo(tx, email)
}

// EraseAddress removes the captured copies of the messages sent to email.
func EraseAddress(tx *gorm.DB, email string) error {
	if !tx.Migrator().HasTable(&Message{}) {
		return nil
	}
	ms, err := sentTo(tx, email)
	if err != nil || len(ms) == 0 {
		return err
	}
	ids := make([]int64, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	if err := tx.Where("id IN ?", ids).Delete(&Message{}).Error; err != nil {
		return fmt.Errorf("outbox: erase messages to an address: %w", err)
	}
	return nil
}
