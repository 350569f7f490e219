package campaigns

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// SegmentUser is a campaign or an automation that targets a segment.
type SegmentUser struct {
	Kind string `json:"kind"` // "campaign" or "automation"
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// SegmentUsers maps each segment id to the campaigns that target or
// exclude it and are still to send or sending: a sent or cancelled
// campaign keeps its deliveries and needs its segments no more.
func (s *Service) SegmentUsers(ctx context.Context) (map[int64][]SegmentUser, error) {
	out := map[int64][]SegmentUser{}
	var cs []Campaign
	err := s.db.WithContext(ctx).Select("id", "name", "segment_ids", "exclude_segment_ids").
		Where("kind = ? AND status IN ?", KindCampaign, []Status{CampaignDraft, CampaignScheduled, CampaignSending, CampaignPaused}).
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
	return out, nil
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
