package reports

import (
	"context"
	"fmt"
	"math"
	"time"

	"herald/campaigns"
)

// ContactDelivery is one message Herald sent, or meant to send, to a
// contact: a line of the contact's activity timeline.
type ContactDelivery struct {
	ID           int64
	CampaignID   int64
	CampaignName string
	Kind         campaigns.Kind
	Status       campaigns.DeliveryStatus
	// At is when it was sent, or when it was queued if it has not been.
	At    time.Time
	Error string
}

// DeliveriesBefore returns up to limit deliveries to a contact, newest
// first, that come before the (at, id) position given; a zero before starts
// at the newest and beforeID 0 takes every delivery at before itself.
func (s *Service) DeliveriesBefore(ctx context.Context, contactID int64, before time.Time, beforeID int64, limit int) ([]ContactDelivery, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	q := s.db.WithContext(ctx).Table("deliveries AS d").
		Select("d.id, d.campaign_id, c.name, c.kind, d.status, d.sent_at, d.created_at, d.error").
		Joins("JOIN campaigns c ON c.id = d.campaign_id").
		Where("d.contact_id = ?", contactID)
	if !before.IsZero() {
		if beforeID <= 0 {
			beforeID = math.MaxInt64
		}
		q = q.Where("COALESCE(d.sent_at, d.created_at) < ? OR (COALESCE(d.sent_at, d.created_at) = ? AND d.id < ?)", before, before, beforeID)
	}
	rows, err := q.Order("COALESCE(d.sent_at, d.created_at) DESC, d.id DESC").Limit(limit).Rows()
	if err != nil {
		return nil, fmt.Errorf("reports: deliveries of contact %d: %w", contactID, err)
	}
	defer rows.Close()
	var out []ContactDelivery
	for rows.Next() {
		var (
			d       ContactDelivery
			sentAt  *time.Time
			created time.Time
		)
		if err := rows.Scan(&d.ID, &d.CampaignID, &d.CampaignName, &d.Kind, &d.Status, &sentAt, &created, &d.Error); err != nil {
			return nil, fmt.Errorf("reports: deliveries of contact %d: %w", contactID, err)
		}
		d.At = created
		if sentAt != nil {
			d.At = *sentAt
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reports: deliveries of contact %d: %w", contactID, err)
	}
	return out, nil
}
