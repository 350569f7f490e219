package automations

import (
	"fmt"

	"gorm.io/gorm"
)

// ExportContact reads the runs of contact id through automations, in tx.
func ExportContact(tx *gorm.DB, id int64) ([]Run, error) {
	var rs []Run
	if err := tx.Where("contact_id = ?", id).Order("id").Find(&rs).Error; err != nil {
		return nil, fmt.Errorf("automations: export runs of %d: %w", id, err)
	}
	return rs, nil
}

// EraseContact removes the runs of contact id: its place in every flow.
func EraseContact(tx *gorm.DB, id int64) error {
	if err := tx.Where("contact_id = ?", id).Delete(&Run{}).Error; err != nil {
		return fmt.Errorf("automations: erase runs of %d: %w", id, err)
	}
	return nil
}
