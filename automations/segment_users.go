package automations

import (
	"context"
	"encoding/json"
	"fmt"

	"herald/campaigns"
	"herald/internal/errs"
)

// SegmentUsers maps each segment id to the automations whose trigger is
// entering it, whatever their status: a paused automation can be resumed.
func (s *Service) SegmentUsers(ctx context.Context) (map[int64][]campaigns.SegmentUser, error) {
	var as []Automation
	if err := s.db.WithContext(ctx).Select("id", "name", "trigger").Order("id").Find(&as).Error; err != nil {
		return nil, fmt.Errorf("automations: segment users: %w", err)
	}
	out := map[int64][]campaigns.SegmentUser{}
	for _, a := range as {
		var t Trigger
		if json.Unmarshal(a.Trigger, &t) != nil || t.Type != TriggerSegmentEntered || t.SegmentID == 0 {
			continue
		}
		out[t.SegmentID] = append(out[t.SegmentID], campaigns.SegmentUser{Kind: "automation", ID: a.ID, Name: a.Name})
	}
	return out, nil
}

// AllSegmentUsers is every campaign and automation that targets each
// segment.
func (s *Service) AllSegmentUsers(ctx context.Context) (map[int64][]campaigns.SegmentUser, error) {
	out, err := s.campaigns.SegmentUsers(ctx)
	if err != nil {
		return nil, err
	}
	autos, err := s.SegmentUsers(ctx)
	if err != nil {
		return nil, err
	}
	for id, us := range autos {
		out[id] = append(out[id], us...)
	}
	return out, nil
}

// DeleteSegment deletes a segment unless a campaign or an automation
// targets it: the refusal (errs.ErrConflict) names them, so the marketer
// knows what to change first.
func (s *Service) DeleteSegment(ctx context.Context, id int64) error {
	users, err := s.AllSegmentUsers(ctx)
	if err != nil {
		return err
	}
	if us := users[id]; len(us) > 0 {
		sg, err := s.segments.Get(ctx, id)
		if err != nil {
			return err
		}
		return errs.Conflict("segment %q is used by %s; change or delete them first", sg.Name, campaigns.DescribeUsers(us))
	}
	return s.segments.Delete(ctx, id)
}
