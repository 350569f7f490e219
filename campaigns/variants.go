package campaigns

import (
	"context"
	"fmt"

	"herald/internal/errs"
	"herald/templates"
)

// variantKey names the compiled content of one variant of a campaign.
type variantKey struct {
	campaign int64
	variant  int
}

// compileVariant returns c as variant n renders it and its compiled
// content, compiled once per campaign version like the campaign's own.
func (s *Sender) compileVariant(ctx context.Context, c *Campaign, n int) (*Campaign, *templates.Compiled, error) {
	vc := variantCampaign(*c, n)
	k := variantKey{c.ID, n}
	s.mu.Lock()
	e, ok := s.variants[k]
	s.mu.Unlock()
	if ok && e.updatedAt.Equal(c.UpdatedAt) {
		return &vc, e.comp, nil
	}
	comp, err := s.svc.compile(ctx, &vc)
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	s.variants[k] = compiledEntry{c.UpdatedAt, comp}
	s.mu.Unlock()
	return &vc, comp, nil
}

// content is the campaign and compiled content a delivery of variant
// renders: the campaign's own, its variant's, or, for the deliveries
// that waited for an A/B test, the winner's.
func (b *batch) content(variant int) (*Campaign, *templates.Compiled, error) {
	if variant == 0 && b.c.ABTest != nil && b.c.ABWinner == 0 {
		// The winner was recorded after this batch read the campaign and
		// before it read the deliveries it released.
		c, err := b.s.svc.Get(b.ctx, b.campaignID)
		if err != nil {
			return nil, nil, err
		}
		if c.ABWinner == 0 {
			return nil, nil, fmt.Errorf("campaigns: campaign %d has a delivery waiting for its A/B test's winner queued before the winner", b.campaignID)
		}
		b.c.ABWinner = c.ABWinner
	}
	n := contentVariant(&b.c, variant)
	if n == 0 {
		return &b.c, b.comp, nil
	}
	return b.s.compileVariant(b.ctx, &b.c, n)
}

// pickVariant is c as variant n (0 for the campaign itself) renders it, or
// an error naming the variant when c has no such variant.
func pickVariant(c Campaign, n int) (Campaign, error) {
	if n == 0 {
		return c, nil
	}
	if c.ABTest == nil {
		return Campaign{}, errs.Invalid("variant", "campaign %d has no A/B test", c.ID)
	}
	if n < 1 || n > len(c.ABTest.Variants) {
		return Campaign{}, errs.Invalid("variant", "campaign %d has variants A to %s", c.ID, Label(len(c.ABTest.Variants)))
	}
	return variantCampaign(c, n), nil
}

// contentVariantOf is the variant campaign c's message to contact renders
// (0 for the campaign's own content, also when the contact has no
// delivery of it).
func (s *Service) contentVariantOf(ctx context.Context, c *Campaign, contactID int64) (int, error) {
	var ds []Delivery
	if err := s.db.WithContext(ctx).Select("variant").Where("campaign_id = ? AND contact_id = ?", c.ID, contactID).Limit(1).Find(&ds).Error; err != nil {
		return 0, fmt.Errorf("campaigns: variant of a delivery of %d: %w", c.ID, err)
	}
	if len(ds) == 0 {
		return contentVariant(c, 0), nil
	}
	return contentVariant(c, ds[0].Variant), nil
}

// variantViewKey keeps a variant's compiled web view apart from its
// campaign's, whose key is the campaign id.
func variantViewKey(campaignID int64, n int) int64 {
	if n == 0 {
		return campaignID
	}
	return -(campaignID*MaxVariants + int64(n))
}

// AsVariant is c as A/B test variant n (1 for A) renders it: the
// variant's subject, from name and body over the campaign's. c itself for
// 0 or a variant it does not have.
func (c Campaign) AsVariant(n int) Campaign { return variantCampaign(c, n) }
