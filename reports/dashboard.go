package reports

import (
	"context"
	"fmt"
	"time"

	"herald/campaigns"
	"herald/internal/db"
)

// SentPerDay counts the messages sent (by campaigns and automations) on
// each of days UTC days starting with the day of from; index 0 is that day.
func (s *Service) SentPerDay(ctx context.Context, from time.Time, days int) ([]int64, error) {
	from = from.UTC().Truncate(24 * time.Hour)
	out := make([]int64, days)
	day := "substr(sent_at, 1, 10)"
	if db.IsPostgres(s.db) {
		day = "to_char(sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
	}
	type row struct {
		Day string
		N   int64
	}
	var rows []row
	err := s.db.WithContext(ctx).Model(&campaigns.Delivery{}).Select(day+" AS day, COUNT(*) AS n").
		Where("status = ? AND sent_at >= ? AND sent_at < ?", campaigns.DeliverySent, from, from.AddDate(0, 0, days)).
		Group("day").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("reports: sent per day: %w", err)
	}
	for _, r := range rows {
		t, err := time.Parse(time.DateOnly, r.Day)
		if err != nil {
			return nil, fmt.Errorf("reports: sent per day %q: %w", r.Day, err)
		}
		if i := int(t.Sub(from).Hours() / 24); i >= 0 && i < days {
			out[i] += r.N
		}
	}
	return out, nil
}

// InProgress returns the campaigns sending or paused mid-send, oldest
// start first.
func (s *Service) InProgress(ctx context.Context) ([]campaigns.Campaign, error) {
	var cs []campaigns.Campaign
	err := s.db.WithContext(ctx).Where("kind = ? AND status IN ?", campaigns.KindCampaign, []campaigns.Status{campaigns.CampaignSending, campaigns.CampaignPaused}).
		Order("started_at, id").Limit(20).Find(&cs).Error
	if err != nil {
		return nil, fmt.Errorf("reports: in progress: %w", err)
	}
	return cs, nil
}

// RecentlyStarted returns the last n campaigns that began sending (sent,
// sending, paused or cancelled after starting), newest first.
func (s *Service) RecentlyStarted(ctx context.Context, n int) ([]campaigns.Campaign, error) {
	var cs []campaigns.Campaign
	err := s.db.WithContext(ctx).Where("kind = ? AND started_at IS NOT NULL", campaigns.KindCampaign).
		Order("started_at DESC, id DESC").Limit(n).Find(&cs).Error
	if err != nil {
		return nil, fmt.Errorf("reports: recent: %w", err)
	}
	return cs, nil
}
