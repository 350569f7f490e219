package automations

import (
	"context"
	"fmt"
	"time"

	"herald/campaigns"
)

// Activity is what one automation did in a period.
type Activity struct {
	Automation Automation
	Entered    int64 // runs started
	Done       int64 // runs that walked every step
	Exited     int64 // runs that left early (bought again, unsubscribed, the exit rule)
	Sent       int64 // messages its send steps sent
	// Active counts the runs under way now, whenever they began.
	Active int64
}

// ActivitySince counts, for every automation, the runs that began and
// ended and the messages sent since since (the dashboard's week).
func (s *Service) ActivitySince(ctx context.Context, since time.Time) ([]Activity, error) {
	fs, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Activity, len(fs))
	index := make(map[int64]int, len(fs))
	stepOf := map[int64]int{} // step campaign -> flow index
	for i, f := range fs {
		out[i].Automation = f
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
		AutomationID int64
		N            int64
	}
	count := func(where string, args ...any) ([]runRow, error) {
		var rows []runRow
		err := s.db.WithContext(ctx).Model(&Run{}).Select("flow_id AS automation_id, COUNT(*) AS n").
			Where(where, args...).Group("flow_id").Scan(&rows).Error
		return rows, err
	}
	for _, q := range []struct {
		dst   func(*Activity) *int64
		where string
		args  []any
	}{
		{func(a *Activity) *int64 { return &a.Entered }, "started_at >= ?", []any{since}},
		{func(a *Activity) *int64 { return &a.Done }, "status = ? AND finished_at >= ?", []any{RunDone, since}},
		{func(a *Activity) *int64 { return &a.Exited }, "status = ? AND finished_at >= ?", []any{RunExited, since}},
		{func(a *Activity) *int64 { return &a.Active }, "status = ?", []any{RunActive}},
	} {
		rows, err := count(q.where, q.args...)
		if err != nil {
			return nil, fmt.Errorf("automations: activity: %w", err)
		}
		for _, r := range rows {
			if i, ok := index[r.AutomationID]; ok {
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
		err := s.db.WithContext(ctx).Model(&campaigns.Delivery{}).Select("campaign_id, COUNT(*) AS n").
			Where("campaign_id IN ? AND status = ? AND sent_at >= ?", ids, campaigns.DeliverySent, since).
			Group("campaign_id").Scan(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("automations: messages sent: %w", err)
		}
		for _, r := range rows {
			out[stepOf[r.CampaignID]].Sent += r.N
		}
	}
	return out, nil
}
