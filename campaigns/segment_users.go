package campaigns

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"herald/internal/errs"
)

// SegmentUser is a campaign or an automation that targets a segment.
type SegmentUser struct {
	Kind string `json:"kind"` // "campaign" or "automation"
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// SegmentUsers maps each segment id to the campaigns and automations that
// target it: campaigns that are still to send or sending (a sent or
// cancelled campaign keeps its deliveries and needs its segments no more)
// and automations whose trigger is entering the segment, whatever their
// status, since a paused automation can be resumed.
func (s *Service) SegmentUsers(ctx context.Context) (map[int64][]SegmentUser, error) {
	out := map[int64][]SegmentUser{}
	var cs []Campaign
	err := s.db.WithContext(ctx).Select("id", "name", "segment_ids", "exclude_segment_ids").
		Where("kind = ? AND status IN ?", KindCampaign, []Status{Draft, Scheduled, Sending, Paused}).
		Order("id").Find(&cs).Error
	if err != nil {
		return nil, fmt.Errorf("campaigns: segment users: %w", err)
	}
	for _, c := range cs {
		seen := map[int64]bool{}
		for _, id := range append(append([]int64{}, c.SegmentIDs...), c.ExcludeSegmentIDs...) {
			if !seen[id] {
				seen[id] = true
				out[id] = append(out[id], SegmentUser{Kind: "campaign", ID: c.ID, Name: c.Name})
			}
		}
	}
	var fs []Flow
	if err := s.db.WithContext(ctx).Select("id", "name", "trigger").Order("id").Find(&fs).Error; err != nil {
		return nil, fmt.Errorf("campaigns: segment users: %w", err)
	}
	for _, f := range fs {
		var t Trigger
		if json.Unmarshal(f.Trigger, &t) != nil || t.Type != TriggerSegmentEntered || t.SegmentID == 0 {
			continue
		}
		out[t.SegmentID] = append(out[t.SegmentID], SegmentUser{Kind: "automation", ID: f.ID, Name: f.Name})
	}
	return out, nil
}

// DeleteSegment deletes a segment unless a campaign or an automation
// targets it: the refusal (errs.ErrConflict) names them, so the marketer
// knows what to change first.
func (s *Service) DeleteSegment(ctx context.Context, id int64) error {
	users, err := s.SegmentUsers(ctx)
	if err != nil {
		return err
	}
	if us := users[id]; len(us) > 0 {
		return errs.Conflict("segment %d is used by %s; change or delete them first", id, DescribeUsers(us))
	}
	return s.segments.Delete(ctx, id)
}

// DescribeUsers names segment users for a message: campaign "Spring sale",
// automation "Welcome".
func DescribeUsers(us []SegmentUser) string {
	names := make([]string, len(us))
	for i, u := range us {
		names[i] = fmt.Sprintf("%s %q", u.Kind, u.Name)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
