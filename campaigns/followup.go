package campaigns

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"herald/contacts"
	"herald/internal/db"
	"herald/internal/errs"
)

// FollowUpInput asks for a follow-up of a sent campaign: the same message
// with a new subject, to those it reached who did not open it.
type FollowUpInput struct {
	Subject *string `json:"subject"`
	Name    *string `json:"name"`
	// AfterDays schedules the follow-up that many days after the original
	// started sending; SendAt at a time of its own. With neither, the
	// follow-up is a draft to send like any campaign.
	AfterDays *int       `json:"after_days"`
	SendAt    *time.Time `json:"send_at"`
}

// maxFollowUpDays bounds after_days: opens come in the first days, and a
// follow-up months later is a new campaign.
const maxFollowUpDays = 90

// maxFollowUpChain bounds how far a follow-up looks back through the
// follow-ups it follows.
const maxFollowUpChain = 20

// CreateFollowUp makes a follow-up of campaign originalID: a copy of its
// message (sender, bodies, exclusions) with a new subject, whose audience
// is decided at its launch: the contacts the original was delivered to
// (sent, not bounced since) who opened neither it nor any campaign it
// follows up in person (opens by privacy proxies and scanners do not
// count), still subscribed and in none of the excluded segments. It is
// scheduled after_days after the original started, at send_at, or left a
// draft.
func (s *Service) CreateFollowUp(ctx context.Context, originalID int64, in FollowUpInput) (Campaign, error) {
	orig, err := s.Get(ctx, originalID)
	if err != nil {
		return Campaign{}, err
	}
	if orig.Kind != KindCampaign {
		return Campaign{}, errs.Conflict("campaign %d is a step of an automation; follow-ups are for campaigns", originalID)
	}
	if orig.StartedAt == nil {
		return Campaign{}, errs.Conflict("campaign %d has not been sent; a follow-up goes to those it reached", originalID)
	}
	if in.Subject == nil || strings.TrimSpace(*in.Subject) == "" {
		return Campaign{}, errs.Invalid("subject", "is required: the follow-up needs a subject of its own")
	}
	if in.AfterDays != nil && in.SendAt != nil {
		return Campaign{}, errs.Invalid("send_at", "give after_days or send_at, not both")
	}
	now := s.cfg.Now()
	var at *time.Time
	switch {
	case in.AfterDays != nil:
		n := *in.AfterDays
		if n < 1 || n > maxFollowUpDays {
			return Campaign{}, errs.Invalid("after_days", "must be a whole number of days from 1 to %d", maxFollowUpDays)
		}
		t := orig.StartedAt.AddDate(0, 0, n).UTC()
		if !t.After(now) {
			return Campaign{}, errs.Invalid("after_days", "%d days after the original started (%s) is past: give more days, or send the follow-up as a draft", n, t.Format(time.RFC3339))
		}
		at = &t
	case in.SendAt != nil:
		if !in.SendAt.After(now) {
			return Campaign{}, errs.Invalid("send_at", "is in the past")
		}
		t := in.SendAt.UTC()
		at = &t
	}
	name := orig.Name + " (follow-up)"
	if in.Name != nil {
		name = *in.Name
	} else if utf8.RuneCountInString(name) > 200 {
		name = string([]rune(name)[:200])
	}
	// An A/B tested original is followed up with its winner's body and
	// from name.
	src := variantCampaign(orig, orig.ABWinner)
	c := Campaign{
		Kind: KindCampaign, Status: CampaignDraft, ResendOf: &orig.ID,
		HTMLBody: src.HTMLBody, TextBody: src.TextBody, FromName: src.FromName, FromEmail: orig.FromEmail, ReplyTo: orig.ReplyTo,
		SegmentIDs: db.IDs{}, ExcludeSegmentIDs: append(db.IDs{}, orig.ExcludeSegmentIDs...), IgnoreFrequencyCap: orig.IgnoreFrequencyCap,
	}
	if err := s.apply(ctx, &c, Input{Name: &name, Subject: in.Subject}); err != nil {
		return Campaign{}, err
	}
	if err := s.db.WithContext(ctx).Create(&c).Error; err != nil {
		return Campaign{}, fmt.Errorf("campaigns: create follow-up of %d: %w", originalID, err)
	}
	if at == nil {
		return c, nil
	}
	return s.Send(ctx, c.ID, at)
}

// originalFinished tells whether campaign c may launch: a follow-up only
// once its original is sent or cancelled, so that everyone who will get
// the original has had it; any other campaign at once.
func (s *Service) originalFinished(ctx context.Context, c Campaign) (bool, error) {
	if c.ResendOf == nil {
		return true, nil
	}
	var orig Campaign
	err := s.db.WithContext(ctx).Select("id", "status").Take(&orig, *c.ResendOf).Error
	if err != nil {
		return false, fmt.Errorf("campaigns: original %d of follow-up %d: %w", *c.ResendOf, c.ID, err)
	}
	return orig.Status == CampaignSent || orig.Status == CampaignCancelled, nil
}

// checkFollowUpSend refuses to send a follow-up now while its original is
// still going out; scheduled, it waits for it at launch.
func (s *Service) checkFollowUpSend(ctx context.Context, c Campaign, at *time.Time) error {
	if c.ResendOf == nil || (at != nil && at.After(s.cfg.Now())) {
		return nil
	}
	ready, err := s.originalFinished(ctx, c)
	if err != nil {
		return err
	}
	if !ready {
		return errs.Conflict("campaign %d, which this follows up, is still sending: send the follow-up when it is done, or schedule it", *c.ResendOf)
	}
	return nil
}

// followUpChain is the original of follow-up c and the campaigns that one
// follows up in turn, nearest first.
func (s *Service) followUpChain(ctx context.Context, c Campaign) ([]int64, error) {
	var chain []int64
	next := c.ResendOf
	for next != nil && len(chain) < maxFollowUpChain {
		var o Campaign
		err := s.db.WithContext(ctx).Select("id", "resend_of").Take(&o, *next).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			break // deleted: its deliveries and opens went with it
		}
		if err != nil {
			return nil, fmt.Errorf("campaigns: original %d of follow-up %d: %w", *next, c.ID, err)
		}
		chain = append(chain, o.ID)
		next = o.ResendOf
	}
	return chain, nil
}

// followUpTarget is the audience condition of a follow-up (see
// CreateFollowUp), evaluated at launch like any campaign's.
func (s *Service) followUpTarget(ctx context.Context, c Campaign) (string, []any, error) {
	chain, err := s.followUpChain(ctx, c)
	if err != nil {
		return "", nil, err
	}
	if len(chain) == 0 {
		return "1 = 0", nil, nil // the original is gone, and with it whom it reached
	}
	in := strings.TrimSuffix(strings.Repeat("?,", len(chain)), ",")
	sql := "contacts.status = ?" +
		" AND EXISTS (SELECT 1 FROM deliveries d WHERE d.campaign_id = ? AND d.contact_id = contacts.id AND d.status = ?)" +
		" AND NOT EXISTS (SELECT 1 FROM events e WHERE e.contact_id = contacts.id AND e.type = ? AND e.campaign_id = ?)" +
		" AND NOT EXISTS (SELECT 1 FROM events e WHERE e.contact_id = contacts.id AND e.type = ? AND e.machine = ? AND e.campaign_id IN (" + in + "))"
	args := []any{contacts.Subscribed, chain[0], DeliverySent, contacts.EventBounce, chain[0], contacts.EventOpen, false}
	for _, id := range chain {
		args = append(args, id)
	}
	exc, excArgs, err := s.segmentsSQL(ctx, c.ExcludeSegmentIDs)
	if err != nil {
		return "", nil, err
	}
	if exc != "" {
		sql += " AND NOT (" + exc + ")"
		args = append(args, excArgs...)
	}
	return sql, args, nil
}

// FollowUpAudience counts who a follow-up of campaign originalID leaving
// out the segments exclude would reach now (see CreateFollowUp); its
// launch counts again. Unknown segment ids are an *errs.InvalidError
// naming the index.
func (s *Service) FollowUpAudience(ctx context.Context, originalID int64, exclude []int64) (Audience, error) {
	if _, err := s.Get(ctx, originalID); err != nil {
		if errors.Is(err, errs.ErrNotFound) {
			return Audience{}, errs.Invalid("resend_of", "no campaign has the id %d", originalID)
		}
		return Audience{}, err
	}
	for i, id := range exclude {
		if _, err := s.segments.Get(ctx, id); err != nil {
			if errors.Is(err, errs.ErrNotFound) {
				return Audience{}, errs.Invalid(fmt.Sprintf("exclude_segment_ids[%d]", i), "no segment has the id %d", id)
			}
			return Audience{}, err
		}
	}
	where, args, err := s.followUpTarget(ctx, Campaign{ResendOf: &originalID, ExcludeSegmentIDs: exclude})
	if err != nil {
		return Audience{}, err
	}
	return s.audienceWhere(ctx, where, args)
}

// AudienceOfCampaign is AudienceOf for campaign c's own audience: its
// segments, or the non-openers of the campaign it follows up.
func (s *Service) AudienceOfCampaign(ctx context.Context, c Campaign) (Audience, error) {
	if c.ResendOf != nil {
		a, err := s.FollowUpAudience(ctx, *c.ResendOf, c.ExcludeSegmentIDs)
		if ie, ok := errs.AsInvalid(err); ok && ie.Path == "resend_of" {
			return Audience{}, nil // the original was deleted
		}
		return a, err
	}
	return s.AudienceOf(ctx, c.SegmentIDs, c.ExcludeSegmentIDs)
}

// pendingFollowUp returns a follow-up of campaign id still to be sent (0
// when there is none): the original cannot be deleted under it.
func (s *Service) pendingFollowUp(ctx context.Context, id int64) (int64, error) {
	var ids []int64
	err := s.db.WithContext(ctx).Model(&Campaign{}).Where("resend_of = ? AND status IN ?", id, []Status{CampaignDraft, CampaignScheduled, CampaignSending, CampaignPaused}).
		Order("id").Limit(1).Pluck("id", &ids).Error
	if err != nil {
		return 0, fmt.Errorf("campaigns: follow-ups of %d: %w", id, err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	return ids[0], nil
}

// FollowUps lists the follow-ups of campaign id, oldest first.
func (s *Service) FollowUps(ctx context.Context, id int64) ([]Campaign, error) {
	var out []Campaign
	err := s.db.WithContext(ctx).Select("id", "name", "subject", "status", "scheduled_at", "started_at").
		Where("resend_of = ?", id).Order("id").Limit(100).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("campaigns: follow-ups of %d: %w", id, err)
	}
	return out, nil
}
