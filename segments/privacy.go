package segments

import (
	"fmt"

	"gorm.io/gorm"
)

// ExportContact reads the segments contact id is in and their entries
// and exits, in tx.
func ExportContact(tx *gorm.DB, id int64) ([]Member, []Change, error) {
	var ms []Member
	if err := tx.Where("contact_id = ?", id).Order("segment_id").Find(&ms).Error; err != nil {
		return nil, nil, fmt.Errorf("segments: export memberships of %d: %w", id, err)
	}
	var cs []Change
	if err := tx.Where("contact_id = ?", id).Order("id").Find(&cs).Error; err != nil {
		return nil, nil, fmt.Errorf("segments: export changes of %d: %w", id, err)
	}
	return ms, cs, nil
}

// EraseContact removes contact id from every segment and its history.
func EraseContact(tx *gorm.DB, id int64) error {
	if err := tx.Where("contact_id = ?", id).Delete(&Member{}).Error; err != nil {
		return fmt.Errorf("segments: erase memberships of %d: %w", id, err)
	}
	if err := tx.Where("contact_id = ?", id).Delete(&Change{}).Error; err != nil {
		return fmt.Errorf("segments: erase changes of %d: %w", id, err)
	}
	return nil
}
