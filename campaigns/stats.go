package campaigns

import (
	"context"
	"fmt"
	"math"
	"time"

	"herald/contacts"
)

// Stats is where a campaign stands. Unique opens and clicks count people
// and leave out machine (privacy proxy, scanner) events; the totals count
// every event, machines included, and the machine counts say how many.
type Stats struct {
	Total         int64   `json:"total"`
	Queued        int64   `json:"queued"`
	InFlight      int64   `json:"in_flight"`
	Sent          int64   `json:"sent"`
	Failed        int64   `json:"failed"`
	Bounced       int64   `json:"bounced"`
	Skipped       int64   `json:"skipped"`
	Unknown       int64   `json:"unknown"`
	Unsubscribed  int64   `json:"unsubscribed"`
	OpensUnique   int64   `json:"opens_unique"`
	ClicksUnique  int64   `json:"clicks_unique"`
	OpensTotal    int64   `json:"opens_total"`
	ClicksTotal   int64   `json:"clicks_total"`
	OpensMachine  int64   `json:"opens_machine"`
	ClicksMachine int64   `json:"clicks_machine"`
	OpenRate      float64 `json:"open_rate"`  // unique human opens / sent
	ClickRate     float64 `json:"click_rate"` // unique human clicks / sent
	// Rate is messages sent per second over the last minute; ETASeconds
	// the time left at that rate (nil when not sending).
	Rate       float64  `json:"rate"`
	ETASeconds *float64 `json:"eta_seconds"`
}

// Stats counts a campaign's deliveries and engagement.
func (s *Service) Stats(ctx context.Context, id int64) (Stats, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return Stats{}, err
	}
	var st Stats
	type row struct {
		Status DeliveryStatus
		N      int64
	}
	var rows []row
	err = s.db.WithContext(ctx).Model(&Delivery{}).Select("status, COUNT(*) AS n").
		Where("campaign_id = ?", id).Group("status").Scan(&rows).Error
	if err != nil {
		return Stats{}, fmt.Errorf("campaigns: stats of %d: %w", id, err)
	}
	for _, r := range rows {
		st.Total += r.N
		switch r.Status {
		case Queued:
			st.Queued = r.N
		case InFlight:
			st.InFlight = r.N
		case Delivered:
			st.Sent = r.N
		case Failed:
			st.Failed = r.N
		case Bounced:
			st.Bounced = r.N
		case Skipped:
			st.Skipped = r.N
		case Unknown:
			st.Unknown = r.N
		}
	}
	type evRow struct {
		Type    string
		Machine bool
		N       int64
		People  int64
	}
	var evs []evRow
	err = s.db.WithContext(ctx).Model(&contacts.Event{}).
		Select("type, machine, COUNT(*) AS n, COUNT(DISTINCT contact_id) AS people").
		Where("campaign_id = ? AND type IN ?", id, []string{contacts.EventOpen, contacts.EventClick, contacts.EventUnsubscribe}).
		Group("type, machine").Scan(&evs).Error
	if err != nil {
		return Stats{}, fmt.Errorf("campaigns: engagement of %d: %w", id, err)
	}
	for _, e := range evs {
		switch e.Type {
		case contacts.EventOpen:
			st.OpensTotal += e.N
			if e.Machine {
				st.OpensMachine += e.N
			} else {
				st.OpensUnique = e.People
			}
		case contacts.EventClick:
			st.ClicksTotal += e.N
			if e.Machine {
				st.ClicksMachine += e.N
			} else {
				st.ClicksUnique = e.People
			}
		case contacts.EventUnsubscribe:
			st.Unsubscribed += e.People
		}
	}
	if st.Sent > 0 {
		st.OpenRate = round4(float64(st.OpensUnique) / float64(st.Sent))
		st.ClickRate = round4(float64(st.ClicksUnique) / float64(st.Sent))
	}
	if c.Status == Sending {
		var recent int64
		since := s.cfg.Now().Add(-time.Minute)
		err = s.db.WithContext(ctx).Model(&Delivery{}).
			Where("campaign_id = ? AND status = ? AND sent_at >= ?", id, Delivered, since).Count(&recent).Error
		if err != nil {
			return Stats{}, fmt.Errorf("campaigns: rate of %d: %w", id, err)
		}
		window := time.Minute.Seconds()
		if c.StartedAt != nil {
			if el := s.cfg.Now().Sub(*c.StartedAt).Seconds(); el > 0 && el < window {
				window = el
			}
		}
		st.Rate = math.Round(float64(recent)/window*10) / 10
		if st.Rate > 0 {
			eta := math.Round(float64(st.Queued+st.InFlight) / st.Rate)
			st.ETASeconds = &eta
		}
	}
	return st, nil
}

func round4(f float64) float64 { return math.Round(f*10000) / 10000 }
