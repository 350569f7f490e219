package campaigns

import (
	"context"
	"errors"
	"fmt"

	"herald/contacts"
	"herald/internal/errs"
)

// Audience is who a campaign would go to now: the subscribed members of
// its segments that are in none of its excluded segments.
type Audience struct {
	Count int64 `json:"count"`
	// FirstContactID is the member with the lowest id (0 when there is
	// none): the contact a preview shows first.
	FirstContactID int64 `json:"first_contact_id"`
}

// AudienceOf counts the audience of the segments given, evaluated live as
// the launch will (the frequency cap aside: it defers, it does not drop).
// Unknown segment ids are an *errs.InvalidError naming the list and index.
func (s *Service) AudienceOf(ctx context.Context, include, exclude []int64) (Audience, error) {
	for _, l := range []struct {
		name string
		ids  []int64
	}{{"segment_ids", include}, {"exclude_segment_ids", exclude}} {
		for i, id := range l.ids {
			if _, err := s.segments.Get(ctx, id); err != nil {
				if errors.Is(err, errs.ErrNotFound) {
					return Audience{}, errs.Invalid(fmt.Sprintf("%s[%d]", l.name, i), "no segment has the id %d", id)
				}
				return Audience{}, err
			}
		}
	}
	if len(include) == 0 {
		return Audience{}, nil
	}
	where, args, err := s.target(ctx, Campaign{SegmentIDs: include, ExcludeSegmentIDs: exclude})
	if err != nil {
		return Audience{}, err
	}
	return s.audienceWhere(ctx, where, args)
}

// audienceWhere counts the contacts a target condition selects now.
func (s *Service) audienceWhere(ctx context.Context, where string, args []any) (Audience, error) {
	var a Audience
	q := s.db.WithContext(ctx).Model(&contacts.Contact{}).Where(where, args...)
	if err := q.Count(&a.Count).Error; err != nil {
		return Audience{}, fmt.Errorf("campaigns: count audience: %w", err)
	}
	if a.Count > 0 {
		var ids []int64
		if err := s.db.WithContext(ctx).Model(&contacts.Contact{}).Where(where, args...).
			Order("contacts.id").Limit(1).Pluck("contacts.id", &ids).Error; err != nil {
			return Audience{}, fmt.Errorf("campaigns: first of audience: %w", err)
		}
		if len(ids) == 1 {
			a.FirstContactID = ids[0]
		}
	}
	return a, nil
}
