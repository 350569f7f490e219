package campaigns

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"herald/internal/db"
)

// Apply checks the input against a campaign and sets it, without saving:
// automations use it to check a step's message where it is written.
func (s *Service) Apply(ctx context.Context, c *Campaign, in Input) error {
	return s.apply(ctx, c, in)
}

// SaveStepMessage creates or updates the campaign of kind flow that holds
// an automation's send step (id 0 creates one) and returns its id. An
// active automation's messages are sending; a paused or draft one's are
// paused, so the sweep leaves them alone.
func (s *Service) SaveStepMessage(ctx context.Context, id int64, in Input, active bool) (int64, error) {
	status := CampaignPaused
	if active {
		status = CampaignSending
	}
	if id != 0 {
		var c Campaign
		if err := s.db.WithContext(ctx).Take(&c, id).Error; err == nil && c.Kind == KindAutomation {
			if err := s.apply(ctx, &c, in); err != nil {
				return 0, err
			}
			if err := s.db.WithContext(ctx).Save(&c).Error; err != nil {
				return 0, fmt.Errorf("campaigns: update flow step: %w", err)
			}
			return c.ID, s.storeLinks(ctx, &c)
		}
	}
	c := Campaign{Kind: KindAutomation, Status: status, SegmentIDs: db.IDs{}, ExcludeSegmentIDs: db.IDs{}}
	if err := s.apply(ctx, &c, in); err != nil {
		return 0, err
	}
	now := s.cfg.Now()
	c.StartedAt = &now
	if err := s.db.WithContext(ctx).Create(&c).Error; err != nil {
		return 0, fmt.Errorf("campaigns: create flow step: %w", err)
	}
	return c.ID, s.storeLinks(ctx, &c)
}

// storeLinks records a campaign's links so clicks on them redirect.
func (s *Service) storeLinks(ctx context.Context, c *Campaign) error {
	comp, err := s.compile(ctx, c)
	if err != nil {
		return err
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("campaign_id = ?", c.ID).Delete(&Link{}).Error; err != nil {
			return err
		}
		for i, u := range comp.Links {
			if err := tx.Create(&Link{CampaignID: c.ID, Idx: i + 1, URL: u}).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("campaigns: links of flow step %d: %w", c.ID, err)
	}
	return nil
}

// EnqueueBatch enqueues the queued deliveries of one batch of a campaign.
func (s *Service) EnqueueBatch(ctx context.Context, campaignID int64, batch int) error {
	return s.enqueueBatch(ctx, campaignID, batch)
}

// NextStepBatch opens a new batch number for an automation message, for
// the deliveries one engine pass writes; ok is false when the campaign is
// gone or is not an automation message.
func (s *Service) NextStepBatch(ctx context.Context, campaignID int64) (batch int, ok bool, err error) {
	var c Campaign
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&Campaign{}).Where("id = ? AND kind = ?", campaignID, KindAutomation).Update("launch_batches", gorm.Expr("launch_batches + 1"))
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		ok = true
		return tx.Select("launch_batches").Take(&c, campaignID).Error
	})
	if err != nil {
		return 0, false, fmt.Errorf("campaigns: step batch: %w", err)
	}
	return c.LaunchBatches, ok, nil
}

// QueueStepDelivery inserts, inside the caller's transaction tx, the
// queued delivery of an automation message to a contact for one
// occurrence of its trigger. The automation moves its run in the same
// transaction, so the run moves on exactly when the delivery exists; the
// ledger's uniqueness makes a second insert for the same occurrence a
// no-op.
func QueueStepDelivery(tx *gorm.DB, campaignID, contactID int64, occurrence string, batch int, now time.Time) error {
	err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&Delivery{
		CampaignID: campaignID, ContactID: contactID, Occurrence: occurrence,
		Status: DeliveryQueued, Batch: batch, CreatedAt: now,
	}).Error
	if err != nil {
		return fmt.Errorf("campaigns: queue step delivery: %w", err)
	}
	return nil
}

// CountStepDelivery adds one to an automation message's total once its
// delivery is committed.
func (s *Service) CountStepDelivery(ctx context.Context, campaignID int64) error {
	if err := s.db.WithContext(ctx).Model(&Campaign{}).Where("id = ?", campaignID).Update("total", gorm.Expr("total + 1")).Error; err != nil {
		return fmt.Errorf("campaigns: count step delivery: %w", err)
	}
	return nil
}
