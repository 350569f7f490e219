package campaigns

import (
	"context"
	"fmt"
	"time"

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
	err := s.db.WithContext(ctx).Model(&Delivery{}).Select(day+" AS day, COUNT(*) AS n").
		Where("status = ? AND sent_at >= ? AND sent_at < ?", Delivered, from, from.AddDate(0, 0, days)).
		Group("day").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("campaigns: sent per day: %w", err)
	}
	for _, r := range rows {
		t, err := time.Parse(time.DateOnly, r.Day)
		if err != nil {
			return nil, fmt.Errorf("campaigns: sent per day %q: %w", r.Day, err)
		}
		if i := int(t.Sub(from).Hours() / 24); i >= 0 && i < days {
			out[i] += r.N
		}
	}
	return out, nil
}

// InProgress returns the campaigns sending or paused mid-send, oldest
// start first.
func (s *Service) InProgress(ctx context.Context) ([]Campaign, error) {
	var cs []Campaign
	err := s.db.WithContext(ctx).Where("kind = ? AND status IN ?", KindCampaign, []Status{Sending, Paused}).
		Order("started_at, id").Limit(20).Find(&cs).Error
	if err != nil {
		return nil, fmt.Errorf("campaigns: in progress: %w", err)
	}
	return cs, nil
}

// RecentlyStarted returns the last n campaigns that began sending (sent,
// sending, paused or cancelled after starting), newest first.
func (s *Service) RecentlyStarted(ctx context.Context, n int) ([]Campaign, error) {
	var cs []Campaign
	err := s.db.WithContext(ctx).Where("kind = ? AND started_at IS NOT NULL", KindCampaign).
		Order("started_at DESC, id DESC").Limit(n).Find(&cs).Error
	if err != nil {
		return nil, fmt.Errorf("campaigns: recent: %w", err)
	}
	return cs, nil
}

// FlowActivity is what one automation did in a period.
type FlowActivity struct {
	Flow    Flow
	Entered int64 // runs started
	Done    int64 // runs that walked every step
	Exited  int64 // runs that left early (bought again, unsubscribed, the exit rule)
	Sent    int64 // messages its send steps sent
	// Active counts the runs under way now, whenever they began.
	Active int64
}

// FlowActivitySince counts, for every automation, the runs that began and
// ended and the messages sent since since.
func (s *Service) FlowActivitySince(ctx context.Context, since time.Time) ([]FlowActivity, error) {
	fs, err := s.ListFlows(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]FlowActivity, len(fs))
	index := make(map[int64]int, len(fs))
	stepOf := map[int64]int{} // step campaign -> flow index
	for i, f := range fs {
		out[i].Flow = f
		index[f.ID] = i
		steps, err := StepsOf(f)
		if err != nil {
			return nil, err
		}
		for _, st := range steps {
			if st.CampaignID != 0 {
				stepOf[st.CampaignID] = i
			}
		}
	}
	if len(fs) == 0 {
		return out, nil
	}
	type runRow struct {
		FlowID int64
		N      int64
	}
	count := func(where string, args ...any) ([]runRow, error) {
		var rows []runRow
		err := s.db.WithContext(ctx).Model(&FlowRun{}).Select("flow_id, COUNT(*) AS n").
			Where(where, args...).Group("flow_id").Scan(&rows).Error
		return rows, err
	}
	for _, q := range []struct {
		dst   func(*FlowActivity) *int64
		where string
		args  []any
	}{
		{func(a *FlowActivity) *int64 { return &a.Entered }, "started_at >= ?", []any{since}},
		{func(a *FlowActivity) *int64 { return &a.Done }, "status = ? AND finished_at >= ?", []any{RunDone, since}},
		{func(a *FlowActivity) *int64 { return &a.Exited }, "status = ? AND finished_at >= ?", []any{RunExited, since}},
		{func(a *FlowActivity) *int64 { return &a.Active }, "status = ?", []any{RunActive}},
	} {
		rows, err := count(q.where, q.args...)
		if err != nil {
			return nil, fmt.Errorf("campaigns: flow activity: %w", err)
		}
		for _, r := range rows {
			if i, ok := index[r.FlowID]; ok {
				*q.dst(&out[i]) = r.N
			}
		}
	}
	if len(stepOf) > 0 {
		ids := make([]int64, 0, len(stepOf))
		for id := range stepOf {
			ids = append(ids, id)
		}
		type sentRow struct {
			CampaignID int64
			N          int64
		}
		var rows []sentRow
		err := s.db.WithContext(ctx).Model(&Delivery{}).Select("campaign_id, COUNT(*) AS n").
			Where("campaign_id IN ? AND status = ? AND sent_at >= ?", ids, Delivered, since).
			Group("campaign_id").Scan(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("campaigns: flow messages: %w", err)
		}
		for _, r := range rows {
			out[stepOf[r.CampaignID]].Sent += r.N
		}
	}
	return out, nil
}
