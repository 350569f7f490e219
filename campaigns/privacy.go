package campaigns

import (
	"fmt"
	"time"

	"gorm.io/gorm"
)

// PersonDelivery is one message Herald sent or meant to send a contact.
type PersonDelivery struct {
	CampaignID   int64          `json:"campaign_id"`
	CampaignName string         `json:"campaign_name"`
	Occurrence   string         `json:"occurrence,omitempty"`
	Status       DeliveryStatus `json:"status"`
	Attempts     int            `json:"attempts"`
	SentAt       *time.Time     `json:"sent_at"`
	Error        string         `json:"error,omitempty"`
	CreatedAt    time.Time      `json:"created_at"`
}

// PersonCoupon is a coupon code given to a contact.
type PersonCoupon struct {
	Pool       string     `json:"pool"`
	Code       string     `json:"code"`
	CampaignID *int64     `json:"campaign_id"`
	AssignedAt *time.Time `json:"assigned_at"`
}

// ExportContact reads the deliveries and coupons of contact id, in tx.
func ExportContact(tx *gorm.DB, id int64) ([]PersonDelivery, []PersonCoupon, error) {
	var ds []PersonDelivery
	err := tx.Table("deliveries AS d").
		Select("d.campaign_id, c.name AS campaign_name, d.occurrence, d.status, d.attempts, d.sent_at, d.error, d.created_at").
		Joins("JOIN campaigns c ON c.id = d.campaign_id").
		Where("d.contact_id = ?", id).Order("d.id").Scan(&ds).Error
	if err != nil {
		return nil, nil, fmt.Errorf("campaigns: export deliveries of %d: %w", id, err)
	}
	var cs []PersonCoupon
	if err := tx.Model(&Coupon{}).Select("pool, code, campaign_id, assigned_at").Where("contact_id = ?", id).Order("id").Scan(&cs).Error; err != nil {
		return nil, nil, fmt.Errorf("campaigns: export coupons of %d: %w", id, err)
	}
	if ds == nil {
		ds = []PersonDelivery{}
	}
	if cs == nil {
		cs = []PersonCoupon{}
	}
	return ds, cs, nil
}

// EraseContact keeps the deliveries of contact id, which the campaigns'
// counts are made of, without what could lead back to the person: the
// server's answer (which often quotes the address). Coupon codes given to
// them stay given (a code is never handed out twice) but to nobody.
func EraseContact(tx *gorm.DB, id int64) error {
	if err := tx.Model(&Delivery{}).Where("contact_id = ? AND error <> ''", id).Update("error", "").Error; err != nil {
		return fmt.Errorf("campaigns: erase deliveries of %d: %w", id, err)
	}
	if err := tx.Model(&Coupon{}).Where("contact_id = ?", id).Update("contact_id", nil).Error; err != nil {
		return fmt.Errorf("campaigns: erase coupons of %d: %w", id, err)
	}
	return nil
}
