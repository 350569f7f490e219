package reports

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/db"
	"herald/tracking"
)

// Stats is where a campaign stands. Unique opens and clicks count people
// and leave out machine (privacy proxy, scanner) events; the totals count
// every event, machines included, and the machine counts say how many.
// The human counts are the totals without machines; the unique machine
// counts are the contacts that had at least one machine event (a contact
// can be in both: Apple's proxy fetched the pixel, then they opened).
type Stats struct {
	Total    int64 `json:"total"`
	Queued   int64 `json:"queued"`
	InFlight int64 `json:"in_flight"`
	Sent     int64 `json:"sent"`
	Failed   int64 `json:"failed"`
	Bounced  int64 `json:"bounced"` // refused by the receiving server when sent
	Skipped  int64 `json:"skipped"`
	Unknown  int64 `json:"unknown"`
	// Deferred wait for a later time: the frequency cap's, or, for
	// WaitingLocalTime of them, their own local hour.
	Deferred     int64 `json:"deferred"`
	Unsubscribed int64 `json:"unsubscribed"`
	// Complained counts the people who reported the message as spam
	// (email.complaint events for the campaign, from a provider's
	// feedback loop).
	Complained int64 `json:"complained"`
	// BouncedAfterSend counts messages accepted when sent that bounced
	// later (an email.bounce event for the campaign and a contact whose
	// delivery is sent, such as a DSN reported through POST /api/events).
	BouncedAfterSend    int64 `json:"bounced_after_send"`
	WaitingLocalTime    int64 `json:"waiting_local_time"` // deferred until their contact's local hour
	OpensUnique         int64 `json:"opens_unique"`
	ClicksUnique        int64 `json:"clicks_unique"`
	OpensTotal          int64 `json:"opens_total"`
	ClicksTotal         int64 `json:"clicks_total"`
	OpensMachine        int64 `json:"opens_machine"`
	ClicksMachine       int64 `json:"clicks_machine"`
	OpensHuman          int64 `json:"opens_human"`
	ClicksHuman         int64 `json:"clicks_human"`
	OpensUniqueMachine  int64 `json:"opens_unique_machine"`
	ClicksUniqueMachine int64 `json:"clicks_unique_machine"`
	// Delivered is Sent less BouncedAfterSend.
	Delivered   int64   `json:"delivered"`
	OpenRate    float64 `json:"open_rate"`          // unique human opens / delivered
	ClickRate   float64 `json:"click_rate"`         // unique human clicks / delivered (click-through rate)
	ClickToOpen float64 `json:"click_to_open_rate"` // unique human clicks / unique human opens
	// Revenue is the sum of purchases (major units of Currency, the store
	// currency) made by people who clicked, within the attribution window
	// after one of their clicks.
	Revenue        float64      `json:"revenue"`
	Currency       string       `json:"currency"`
	RevenueOrders  int64        `json:"revenue_orders"`
	AttributionDay int          `json:"attribution_days"`
	Links          []LinkStats  `json:"links"`
	Timeline       []HourBucket `json:"timeline"`
	// Rate is messages sent per second over the last minute; ETASeconds
	// the time left at that rate (nil when not sending).
	Rate       float64  `json:"rate"`
	ETASeconds *float64 `json:"eta_seconds"`
	// Held wait for an A/B test's winner; ABTest is the test's figures.
	Held   int64     `json:"held"`
	ABTest *ABReport `json:"ab_test,omitempty"`
}

// Stats counts a campaign's deliveries and engagement.
func (s *Service) Stats(ctx context.Context, id int64) (Stats, error) {
	c, err := s.campaigns.Get(ctx, id)
	if err != nil {
		return Stats{}, err
	}
	var st Stats
	if err := s.countDeliveries(ctx, id, &st); err != nil {
		return Stats{}, err
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
		Where("campaign_id = ? AND type IN ?", id, []string{contacts.EventOpen, contacts.EventClick, contacts.EventUnsubscribe, contacts.EventComplaint}).
		Group("type, machine").Scan(&evs).Error
	if err != nil {
		return Stats{}, fmt.Errorf("reports: engagement of %d: %w", id, err)
	}
	for _, e := range evs {
		switch e.Type {
		case contacts.EventOpen:
			st.OpensTotal += e.N
			if e.Machine {
				st.OpensMachine += e.N
				st.OpensUniqueMachine = e.People
			} else {
				st.OpensHuman += e.N
				st.OpensUnique = e.People
			}
		case contacts.EventClick:
			st.ClicksTotal += e.N
			if e.Machine {
				st.ClicksMachine += e.N
				st.ClicksUniqueMachine = e.People
			} else {
				st.ClicksHuman += e.N
				st.ClicksUnique = e.People
			}
		case contacts.EventUnsubscribe:
			st.Unsubscribed += e.People
		case contacts.EventComplaint:
			st.Complained += e.People
		}
	}
	if st.BouncedAfterSend, err = s.bouncedAfterSend(ctx, id); err != nil {
		return Stats{}, err
	}
	st.Delivered = st.Sent - st.BouncedAfterSend
	if st.Delivered > 0 {
		st.OpenRate = round4(float64(st.OpensUnique) / float64(st.Delivered))
		st.ClickRate = round4(float64(st.ClicksUnique) / float64(st.Delivered))
	}
	if st.OpensUnique > 0 {
		st.ClickToOpen = round4(float64(st.ClicksUnique) / float64(st.OpensUnique))
	}
	if st.Links, err = s.linkStats(ctx, id); err != nil {
		return Stats{}, err
	}
	if st.Timeline, err = s.timeline(ctx, id); err != nil {
		return Stats{}, err
	}
	st.AttributionDay = s.cfg.AttributionDays
	st.Currency = s.contacts.Currency()
	if st.Revenue, st.RevenueOrders, err = s.revenue(ctx, id); err != nil {
		return Stats{}, err
	}
	if err := s.sendRate(ctx, c, &st); err != nil {
		return Stats{}, err
	}
	if c.ABTest != nil {
		if st.ABTest, err = s.abReport(ctx, c); err != nil {
			return Stats{}, err
		}
	}
	return st, nil
}

// Progress is where a sending campaign stands: its deliveries by status,
// the send rate and the time left, without the engagement figures (a
// progress bar asks for it every second or two).
func (s *Service) Progress(ctx context.Context, id int64) (campaigns.Campaign, Stats, error) {
	c, err := s.campaigns.Get(ctx, id)
	if err != nil {
		return campaigns.Campaign{}, Stats{}, err
	}
	var st Stats
	if err := s.countDeliveries(ctx, id, &st); err != nil {
		return campaigns.Campaign{}, Stats{}, err
	}
	if err := s.sendRate(ctx, c, &st); err != nil {
		return campaigns.Campaign{}, Stats{}, err
	}
	return c, st, nil
}

// countDeliveries fills in st's counts of deliveries by status.
func (s *Service) countDeliveries(ctx context.Context, id int64, st *Stats) error {
	type row struct {
		Status campaigns.DeliveryStatus
		N      int64
	}
	var rows []row
	err := s.db.WithContext(ctx).Model(&campaigns.Delivery{}).Select("status, COUNT(*) AS n").
		Where("campaign_id = ?", id).Group("status").Scan(&rows).Error
	if err != nil {
		return fmt.Errorf("reports: stats of %d: %w", id, err)
	}
	for _, r := range rows {
		st.Total += r.N
		switch r.Status {
		case campaigns.DeliveryQueued:
			st.Queued = r.N
		case campaigns.DeliverySending:
			st.InFlight = r.N
		case campaigns.DeliverySent:
			st.Sent = r.N
		case campaigns.DeliveryFailed:
			st.Failed = r.N
		case campaigns.DeliveryBounced:
			st.Bounced = r.N
		case campaigns.DeliverySkipped:
			st.Skipped = r.N
		case campaigns.DeliveryUnknown:
			st.Unknown = r.N
		case campaigns.DeliveryDeferred:
			st.Deferred = r.N
		case campaigns.DeliveryHeld:
			st.Held = r.N
		}
	}
	if st.Deferred > 0 {
		err := s.db.WithContext(ctx).Model(&campaigns.Delivery{}).
			Where("campaign_id = ? AND status = ? AND error LIKE ?", id, campaigns.DeliveryDeferred, campaigns.LocalTimeReason+"%").
			Count(&st.WaitingLocalTime).Error
		if err != nil {
			return fmt.Errorf("reports: deliveries of %d waiting for local time: %w", id, err)
		}
	}
	return nil
}

// sendRate fills in the messages sent per second over the last minute
// and the time left at that rate, while c is sending.
func (s *Service) sendRate(ctx context.Context, c campaigns.Campaign, st *Stats) error {
	id := c.ID
	if c.Status == campaigns.CampaignSending {
		var recent int64
		since := s.cfg.Now().Add(-time.Minute)
		err := s.db.WithContext(ctx).Model(&campaigns.Delivery{}).
			Where("campaign_id = ? AND status = ? AND sent_at >= ?", id, campaigns.DeliverySent, since).Count(&recent).Error
		if err != nil {
			return fmt.Errorf("reports: rate of %d: %w", id, err)
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
	return nil
}

func round4(f float64) float64 { return math.Round(f*10000) / 10000 }

// LinkStats counts the clicks of one campaign link.
type LinkStats struct {
	Link                int    `json:"link"`
	URL                 string `json:"url"`
	ClicksUnique        int64  `json:"clicks_unique"` // people
	ClicksTotal         int64  `json:"clicks_total"`  // every click, machines included
	ClicksHuman         int64  `json:"clicks_human"`
	ClicksMachine       int64  `json:"clicks_machine"`
	ClicksUniqueMachine int64  `json:"clicks_unique_machine"` // contacts with a machine click
}

func (s *Service) linkStats(ctx context.Context, id int64) ([]LinkStats, error) {
	links, err := s.campaigns.Links(ctx, id)
	if err != nil {
		return nil, err
	}
	type row struct {
		LinkID  int64
		Machine bool
		N       int64
		People  int64
	}
	var rows []row
	err = s.db.WithContext(ctx).Model(&contacts.Event{}).
		Select("link_id, machine, COUNT(*) AS n, COUNT(DISTINCT contact_id) AS people").
		Where("campaign_id = ? AND type = ? AND link_id IS NOT NULL", id, contacts.EventClick).
		Group("link_id, machine").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("reports: link stats of %d: %w", id, err)
	}
	out := make([]LinkStats, len(links))
	index := map[int64]int{}
	for i, l := range links {
		out[i] = LinkStats{Link: l.Idx, URL: l.URL}
		index[int64(l.Idx)] = i
	}
	for _, r := range rows {
		i, ok := index[r.LinkID]
		if !ok {
			continue
		}
		out[i].ClicksTotal += r.N
		if r.Machine {
			out[i].ClicksMachine += r.N
			out[i].ClicksUniqueMachine = r.People
		} else {
			out[i].ClicksHuman += r.N
			out[i].ClicksUnique = r.People
		}
	}
	return out, nil
}

// HourBucket counts opens and clicks of one hour (UTC).
type HourBucket struct {
	Hour          time.Time `json:"hour"`
	Opens         int64     `json:"opens"`  // by people
	Clicks        int64     `json:"clicks"` // by people
	OpensMachine  int64     `json:"opens_machine"`
	ClicksMachine int64     `json:"clicks_machine"`
}

func (s *Service) timeline(ctx context.Context, id int64) ([]HourBucket, error) {
	// Times are stored in UTC: text on SQLite, so its first 13 characters
	// are the hour; timestamptz on PostgreSQL.
	hour := "substr(occurred_at, 1, 13)"
	if db.IsPostgres(s.db) {
		hour = "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')"
	}
	type row struct {
		Hour    string
		Type    string
		Machine bool
		N       int64
	}
	var rows []row
	err := s.db.WithContext(ctx).Model(&contacts.Event{}).
		Select(hour+" AS hour, type, machine, COUNT(*) AS n").
		Where("campaign_id = ? AND type IN ?", id, []string{contacts.EventOpen, contacts.EventClick}).
		Group("hour, type, machine").Order("hour").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("reports: timeline of %d: %w", id, err)
	}
	var out []HourBucket
	for _, r := range rows {
		t, err := time.Parse("2006-01-02 15", strings.Replace(r.Hour, "T", " ", 1))
		if err != nil {
			return nil, fmt.Errorf("reports: timeline hour %q: %w", r.Hour, err)
		}
		if len(out) == 0 || !out[len(out)-1].Hour.Equal(t) {
			out = append(out, HourBucket{Hour: t})
		}
		b := &out[len(out)-1]
		switch {
		case r.Type == contacts.EventOpen && r.Machine:
			b.OpensMachine += r.N
		case r.Type == contacts.EventOpen:
			b.Opens += r.N
		case r.Machine:
			b.ClicksMachine += r.N
		default:
			b.Clicks += r.N
		}
	}
	if out == nil {
		out = []HourBucket{}
	}
	return out, nil
}

// bouncedAfterSend counts the campaign's messages that were accepted when
// sent and bounced later. A refusal at send time records its bounce event
// with a campaigns.SendBounceKeyPrefix dedupe key and leaves its delivery bounced or
// failed, so it is not counted; the other bounce events are later reports,
// at most one per message sent to the contact (an automation's campaign
// sends one contact several). Sent deliveries are counted per bounced
// contact through idx_deliveries_once, so a campaign of many recipients
// and few bounces reads few of its deliveries.
func (s *Service) bouncedAfterSend(ctx context.Context, id int64) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Raw(`SELECT CAST(COALESCE(SUM(CASE WHEN b.bounces < b.sent THEN b.bounces ELSE b.sent END), 0) AS BIGINT)
FROM (SELECT e.n AS bounces,
		(SELECT COUNT(*) FROM deliveries d WHERE d.campaign_id = ? AND d.contact_id = e.contact_id AND d.status = ?) AS sent
	FROM (SELECT contact_id, COUNT(*) AS n FROM events
		WHERE type = ? AND campaign_id = ? AND (dedupe_key IS NULL OR dedupe_key NOT LIKE ?)
		GROUP BY contact_id) e) b`,
		id, campaigns.DeliverySent, contacts.EventBounce, id, campaigns.SendBounceKeyPrefix+"%").Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("reports: bounces of %d: %w", id, err)
	}
	return n, nil
}

// revenue sums the purchases made within the attribution window after a
// person's click on the campaign; each purchase counts once. Amounts are
// in the store currency; a purchase recorded in another one (before the
// setting changed) cannot be added and is left out.
func (s *Service) revenue(ctx context.Context, id int64) (float64, int64, error) {
	byContact, orders, err := s.attributed(ctx, id)
	if err != nil {
		return 0, 0, err
	}
	var total int64
	for _, v := range byContact {
		total += v
	}
	return contacts.ToMajor(total, s.contacts.Currency()), orders, nil
}

// attributed returns the revenue (minor units of the store currency)
// attributed to campaign id per contact who bought, and the orders.
func (s *Service) attributed(ctx context.Context, id int64) (map[int64]int64, int64, error) {
	var clicks []contacts.Event
	err := s.db.WithContext(ctx).Select("contact_id", "occurred_at").
		Where("campaign_id = ? AND type = ? AND machine = ?", id, contacts.EventClick, false).
		Order("contact_id, occurred_at").Find(&clicks).Error
	if err != nil {
		return nil, 0, fmt.Errorf("reports: revenue clicks of %d: %w", id, err)
	}
	if len(clicks) == 0 {
		return nil, 0, nil
	}
	window := time.Duration(s.cfg.AttributionDays) * 24 * time.Hour
	byContact := map[int64][]time.Time{}
	var ids []int64
	first := clicks[0].OccurredAt
	for _, c := range clicks {
		if _, ok := byContact[c.ContactID]; !ok {
			ids = append(ids, c.ContactID)
		}
		byContact[c.ContactID] = append(byContact[c.ContactID], c.OccurredAt)
		if c.OccurredAt.Before(first) {
			first = c.OccurredAt
		}
	}
	var orders int64
	perContact := map[int64]int64{}
	cur := s.contacts.Currency()
	for start := 0; start < len(ids); start += 500 {
		var buys []contacts.Event
		err := s.db.WithContext(ctx).Select("contact_id", "occurred_at", "amount").
			Where("type = ? AND contact_id IN ? AND occurred_at >= ? AND currency IN ?", contacts.EventPurchase, ids[start:min(start+500, len(ids))], first, []string{cur, ""}).
			Find(&buys).Error
		if err != nil {
			return nil, 0, fmt.Errorf("reports: revenue purchases of %d: %w", id, err)
		}
		for _, b := range buys {
			for _, at := range byContact[b.ContactID] {
				if !b.OccurredAt.Before(at) && b.OccurredAt.Sub(at) <= window {
					perContact[b.ContactID] += b.Amount
					orders++
					break
				}
			}
		}
	}
	return perContact, orders, nil
}

// SentTimes returns when each recipient's messages were sent, oldest
// first, for the tracking classifier (a hit seconds after its message was
// sent is a machine's). One query per campaign of the batch.
func (s *Service) SentTimes(ctx context.Context, rs []tracking.Recipient) (map[tracking.Recipient][]time.Time, error) {
	out := make(map[tracking.Recipient][]time.Time, len(rs))
	for campaignID, ids := range byCampaign(rs) {
		for start := 0; start < len(ids); start += 500 {
			var rows []campaigns.Delivery
			in, list := db.InIDs(s.db, ids[start:min(start+500, len(ids))])
			err := s.db.WithContext(ctx).Select("contact_id", "sent_at").
				Where("campaign_id = ? AND contact_id "+in+" AND sent_at IS NOT NULL", campaignID, list).
				Order("sent_at").Find(&rows).Error
			if err != nil {
				return nil, fmt.Errorf("reports: sent times of %d: %w", campaignID, err)
			}
			for _, d := range rows {
				r := tracking.Recipient{CampaignID: campaignID, ContactID: d.ContactID}
				out[r] = append(out[r], d.SentAt.UTC())
			}
		}
	}
	return out, nil
}

// Clicks returns the stored clicks of the recipients between from and to,
// for the tracking classifier's burst rule.
func (s *Service) Clicks(ctx context.Context, rs []tracking.Recipient, from, to time.Time) ([]tracking.PastClick, error) {
	var out []tracking.PastClick
	for campaignID, ids := range byCampaign(rs) {
		for start := 0; start < len(ids); start += 500 {
			// The campaign is filtered here, not in SQL: with it in the
			// WHERE clause SQLite picks the (type, campaign) index and
			// reads every click of the campaign, where the (contact, type,
			// time) index reads a handful.
			var rows []contacts.Event
			in, list := db.InIDs(s.db, ids[start:min(start+500, len(ids))])
			err := s.db.WithContext(ctx).Select("contact_id", "campaign_id", "link_id", "occurred_at").
				Where("contact_id "+in+" AND type = ? AND occurred_at >= ? AND occurred_at <= ?",
					list, contacts.EventClick, from.UTC(), to.UTC()).
				Find(&rows).Error
			if err != nil {
				return nil, fmt.Errorf("reports: recent clicks of %d: %w", campaignID, err)
			}
			for _, ev := range rows {
				if ev.CampaignID == nil || *ev.CampaignID != campaignID {
					continue
				}
				c := tracking.PastClick{Recipient: tracking.Recipient{CampaignID: campaignID, ContactID: ev.ContactID}, At: ev.OccurredAt.UTC()}
				if ev.LinkID != nil {
					c.LinkID = *ev.LinkID
				}
				out = append(out, c)
			}
		}
	}
	return out, nil
}

func byCampaign(rs []tracking.Recipient) map[int64][]int64 {
	out := map[int64][]int64{}
	for _, r := range rs {
		out[r.CampaignID] = append(out[r.CampaignID], r.ContactID)
	}
	return out
}
