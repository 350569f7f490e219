package reports

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/db"
	"herald/internal/errs"
)

// ActivityBucket counts the opens and clicks of one stretch of time after
// a campaign started: an hour in its first 48 hours, a day after that.
type ActivityBucket struct {
	Start         time.Time `json:"start"`
	Hourly        bool      `json:"hourly"`
	Opens         int64     `json:"opens"`  // by people
	Clicks        int64     `json:"clicks"` // by people
	OpensMachine  int64     `json:"opens_machine"`
	ClicksMachine int64     `json:"clicks_machine"`
}

// activityHours is how long a campaign's activity is counted by the hour;
// most opens come in the first day or two, later ones thin out and read
// better by the day.
const activityHours = 48

// activityDays is how many days after its first 48 hours a campaign's
// activity spans at least (up to now); events later than that extend it.
const activityDays = 28

// Activity returns a campaign's opens and clicks over time since it
// started, with no gaps: by the hour for its first 48 hours, then by the
// day (days counted from the start, not calendar days) up to now or its
// last event. A campaign that has not started has none.
func (s *Service) Activity(ctx context.Context, id int64) ([]ActivityBucket, error) {
	c, err := s.campaigns.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.StartedAt == nil {
		return []ActivityBucket{}, nil
	}
	hours, err := s.timeline(ctx, id)
	if err != nil {
		return nil, err
	}
	start := c.StartedAt.UTC().Truncate(time.Hour)
	dayZero := start.Add(activityHours * time.Hour)
	end := s.cfg.Now().UTC()
	if limit := dayZero.Add(activityDays * 24 * time.Hour); end.After(limit) {
		end = limit
	}
	if n := len(hours); n > 0 && hours[n-1].Hour.After(end) {
		end = hours[n-1].Hour
	}
	var out []ActivityBucket
	for t := start; !t.After(end) && t.Before(dayZero); t = t.Add(time.Hour) {
		out = append(out, ActivityBucket{Start: t, Hourly: true})
	}
	for t := dayZero; !t.After(end); t = t.Add(24 * time.Hour) {
		out = append(out, ActivityBucket{Start: t})
	}
	if len(out) == 0 {
		out = append(out, ActivityBucket{Start: start, Hourly: true})
	}
	for _, h := range hours {
		i := 0 // an event before the start (a clock apart) counts in the first hour
		switch {
		case h.Hour.Before(start):
		case h.Hour.Before(dayZero):
			i = int(h.Hour.Sub(start) / time.Hour)
		default:
			i = activityHours + int(h.Hour.Sub(dayZero)/(24*time.Hour))
		}
		i = min(i, len(out)-1)
		b := &out[i]
		b.Opens += h.Opens
		b.Clicks += h.Clicks
		b.OpensMachine += h.OpensMachine
		b.ClicksMachine += h.ClicksMachine
	}
	return out, nil
}

// PeopleKind names a list of a campaign's recipients on its report.
type PeopleKind string

// The lists of a campaign's report. Opened and Clicked count people only:
// a contact whose every open came from a privacy proxy or a link scanner
// is not in them.
const (
	PeopleOpened       PeopleKind = "opened"
	PeopleClicked      PeopleKind = "clicked"
	PeopleBounced      PeopleKind = "bounced"
	PeopleUnsubscribed PeopleKind = "unsubscribed"
	PeopleComplained   PeopleKind = "complained"
	PeopleUnknown      PeopleKind = "unknown"
)

// PeopleKinds are the lists in the order a report shows them.
var PeopleKinds = []PeopleKind{PeopleOpened, PeopleClicked, PeopleBounced, PeopleUnsubscribed, PeopleComplained, PeopleUnknown}

// Person is a contact in one of a campaign's lists.
type Person struct {
	ContactID int64     `json:"contact_id"`
	Email     string    `json:"email"`
	FirstName string    `json:"first_name"`
	LastName  string    `json:"last_name"`
	At        time.Time `json:"at"`    // first time (an unknown delivery: when it was queued)
	Count     int64     `json:"count"` // how many times (opens, clicks)
	// Detail is what Herald knows: a bounce's or an unknown delivery's
	// reason.
	Detail string `json:"detail"`
	// Resent tells an unknown delivery that was already sent once more.
	Resent bool `json:"resent"`
}

// People returns up to limit contacts of one of a campaign's lists, by
// contact id after the cursor given, and the cursor of the next page (0
// at the end).
func (s *Service) People(ctx context.Context, id int64, kind PeopleKind, after int64, limit int) ([]Person, int64, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	var q *gorm.DB
	g := s.db.WithContext(ctx)
	switch kind {
	case PeopleOpened, PeopleClicked:
		typ := contacts.EventOpen
		if kind == PeopleClicked {
			typ = contacts.EventClick
		}
		// (type, campaign_id, machine, contact_id) is an index: the page
		// is read in its order.
		q = g.Model(&contacts.Event{}).Select("contact_id, MIN(occurred_at) AS at, COUNT(*) AS n, '' AS detail, "+falseSQL(g)+" AS resent").
			Where("type = ? AND campaign_id = ? AND machine = ? AND contact_id > ?", typ, id, false, after).
			Group("contact_id")
	case PeopleBounced, PeopleUnsubscribed, PeopleComplained:
		typ := contacts.EventBounce
		switch kind {
		case PeopleUnsubscribed:
			typ = contacts.EventUnsubscribe
		case PeopleComplained:
			typ = contacts.EventComplaint
		}
		q = g.Model(&contacts.Event{}).Select("contact_id, MIN(occurred_at) AS at, COUNT(*) AS n, '' AS detail, "+falseSQL(g)+" AS resent").
			Where("type = ? AND campaign_id = ? AND contact_id > ?", typ, id, after).
			Group("contact_id")
	case PeopleUnknown:
		q = g.Model(&campaigns.Delivery{}).Select("contact_id, created_at AS at, 1 AS n, error AS detail, resent").
			Where("campaign_id = ? AND status = ? AND contact_id > ?", id, campaigns.DeliveryUnknown, after)
	default:
		return nil, 0, errs.Invalid("list", "no list is named %q; choose opened, clicked, bounced, unsubscribed, complained or unknown", kind)
	}
	rows, err := q.Order("contact_id").Limit(limit + 1).Rows()
	if err != nil {
		return nil, 0, fmt.Errorf("reports: %s of %d: %w", kind, id, err)
	}
	defer rows.Close()
	var out []Person
	for rows.Next() {
		var (
			p  Person
			at any
		)
		if err := rows.Scan(&p.ContactID, &at, &p.Count, &p.Detail, &p.Resent); err != nil {
			return nil, 0, fmt.Errorf("reports: %s of %d: %w", kind, id, err)
		}
		if p.At, err = db.ScanTime(at); err != nil {
			return nil, 0, fmt.Errorf("reports: %s of %d: %w", kind, id, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("reports: %s of %d: %w", kind, id, err)
	}
	var next int64
	if len(out) > limit {
		out = out[:limit]
		next = out[len(out)-1].ContactID
	}
	if kind == PeopleBounced && len(out) > 0 {
		if err := s.bounceReasons(ctx, id, out); err != nil {
			return nil, 0, err
		}
	}
	if err := s.namePeople(ctx, out); err != nil {
		return nil, 0, err
	}
	if out == nil {
		out = []Person{}
	}
	return out, next, nil
}

// falseSQL is a false boolean literal both databases scan into a bool.
func falseSQL(g *gorm.DB) string {
	if db.IsPostgres(g) {
		return "FALSE"
	}
	return "0"
}

// bounceReasons fills in the error of the deliveries the server refused
// when they were sent (a later bounce reported as an event has none).
func (s *Service) bounceReasons(ctx context.Context, id int64, ps []Person) error {
	ids := make([]int64, len(ps))
	for i, p := range ps {
		ids[i] = p.ContactID
	}
	var ds []campaigns.Delivery
	err := s.db.WithContext(ctx).Select("contact_id", "error").
		Where("campaign_id = ? AND contact_id IN ? AND status = ?", id, ids, campaigns.DeliveryBounced).Find(&ds).Error
	if err != nil {
		return fmt.Errorf("reports: bounce reasons of %d: %w", id, err)
	}
	reason := make(map[int64]string, len(ds))
	for _, d := range ds {
		reason[d.ContactID] = d.Error
	}
	// A bounce reported later (a provider's webhook, a DSN) carries the
	// receiving server's diagnostic in its event.
	var evs []contacts.Event
	err = s.db.WithContext(ctx).Select("contact_id", "properties").
		Where("type = ? AND campaign_id = ? AND contact_id IN ?", contacts.EventBounce, id, ids).Order("occurred_at").Find(&evs).Error
	if err != nil {
		return fmt.Errorf("reports: bounce reasons of %d: %w", id, err)
	}
	later := make(map[int64]string, len(evs))
	for _, ev := range evs {
		if d, _ := ev.Properties["diagnostic"].(string); d != "" {
			if _, ok := later[ev.ContactID]; !ok {
				later[ev.ContactID] = d
			}
		}
	}
	for i := range ps {
		if r, ok := reason[ps[i].ContactID]; ok {
			ps[i].Detail = r
		} else if d := later[ps[i].ContactID]; d != "" {
			ps[i].Detail = "reported after the message was accepted: " + d
		} else {
			ps[i].Detail = "reported after the message was accepted"
		}
	}
	return nil
}

// namePeople fills in the contacts' email and names (a deleted contact
// keeps only its id).
func (s *Service) namePeople(ctx context.Context, ps []Person) error {
	if len(ps) == 0 {
		return nil
	}
	ids := make([]int64, len(ps))
	for i, p := range ps {
		ids[i] = p.ContactID
	}
	var cs []contacts.Contact
	if err := s.db.WithContext(ctx).Select("id", "email", "first_name", "last_name").Where("id IN ?", ids).Find(&cs).Error; err != nil {
		return fmt.Errorf("reports: people's names: %w", err)
	}
	byID := make(map[int64]contacts.Contact, len(cs))
	for _, c := range cs {
		byID[c.ID] = c
	}
	for i := range ps {
		c := byID[ps[i].ContactID]
		ps[i].Email, ps[i].FirstName, ps[i].LastName = c.Email, c.FirstName, c.LastName
	}
	return nil
}

// Actions returns the actions taken on a campaign, oldest first.
func (s *Service) Actions(ctx context.Context, id int64) ([]campaigns.Action, error) {
	var as []campaigns.Action
	if err := s.db.WithContext(ctx).Where("campaign_id = ?", id).Order("id").Find(&as).Error; err != nil {
		return nil, fmt.Errorf("reports: actions of %d: %w", id, err)
	}
	return as, nil
}

// UnknownResendable counts a campaign's unknown deliveries that were never
// sent once more: what campaigns.Service.ResendUnknown would send.
func (s *Service) UnknownResendable(ctx context.Context, id int64) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&campaigns.Delivery{}).
		Where("campaign_id = ? AND status = ? AND resent = ?", id, campaigns.DeliveryUnknown, false).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("reports: unknown deliveries of %d: %w", id, err)
	}
	return n, nil
}

// Summary is a campaign as the campaign list shows it.
type Summary struct {
	campaigns.Campaign
	// Audience is the number of recipients: the deliveries written once it
	// launched, before that who its segments hold now (-1 when they cannot
	// be counted, such as a deleted segment).
	Audience            int64
	Sent                int64
	Delivered           int64
	OpensUnique         int64 // people
	ClicksUnique        int64 // people
	OpensUniqueMachine  int64 // contacts with a machine open
	ClicksUniqueMachine int64
	OpenRate            float64 // people who opened / delivered
	ClickRate           float64
	Revenue             float64
	Currency            string
}

// Overview returns a page of campaigns (of the status given, or all),
// newest first, with their figures, and the next cursor.
func (s *Service) Overview(ctx context.Context, status campaigns.Status, before int64, limit int) ([]Summary, int64, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	q := s.db.WithContext(ctx).Where("kind = ?", campaigns.KindCampaign).Order("id DESC").Limit(limit + 1)
	if status != "" {
		q = q.Where("status = ?", status)
	}
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	var cs []campaigns.Campaign
	if err := q.Find(&cs).Error; err != nil {
		return nil, 0, fmt.Errorf("reports: overview: %w", err)
	}
	var next int64
	if len(cs) > limit {
		cs = cs[:limit]
		next = cs[len(cs)-1].ID
	}
	out := make([]Summary, len(cs))
	if len(cs) == 0 {
		return out, 0, nil
	}
	ids := make([]int64, len(cs))
	index := make(map[int64]int, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
		index[c.ID] = i
		out[i] = Summary{Campaign: c, Audience: c.Total, Currency: s.contacts.Currency()}
	}
	type sentRow struct {
		CampaignID int64
		N          int64
	}
	var sent []sentRow
	err := s.db.WithContext(ctx).Model(&campaigns.Delivery{}).Select("campaign_id, COUNT(*) AS n").
		Where("campaign_id IN ? AND status = ?", ids, campaigns.DeliverySent).Group("campaign_id").Scan(&sent).Error
	if err != nil {
		return nil, 0, fmt.Errorf("reports: overview sent: %w", err)
	}
	for _, r := range sent {
		out[index[r.CampaignID]].Sent = r.N
	}
	type evRow struct {
		CampaignID int64
		Type       string
		Machine    bool
		People     int64
	}
	var evs []evRow
	err = s.db.WithContext(ctx).Model(&contacts.Event{}).
		Select("campaign_id, type, machine, COUNT(DISTINCT contact_id) AS people").
		Where("type IN ? AND campaign_id IN ?", []string{contacts.EventOpen, contacts.EventClick}, ids).
		Group("campaign_id, type, machine").Scan(&evs).Error
	if err != nil {
		return nil, 0, fmt.Errorf("reports: overview engagement: %w", err)
	}
	for _, e := range evs {
		sm := &out[index[e.CampaignID]]
		switch {
		case e.Type == contacts.EventOpen && e.Machine:
			sm.OpensUniqueMachine = e.People
		case e.Type == contacts.EventOpen:
			sm.OpensUnique = e.People
		case e.Machine:
			sm.ClicksUniqueMachine = e.People
		default:
			sm.ClicksUnique = e.People
		}
	}
	for i := range out {
		sm := &out[i]
		switch sm.Status {
		case campaigns.CampaignDraft, campaigns.CampaignScheduled:
			// A follow-up has no segments: its audience is the original's
			// non-openers.
			if len(sm.SegmentIDs) == 0 && sm.ResendOf == nil {
				sm.Audience = 0
			} else if a, err := s.campaigns.AudienceOfCampaign(ctx, sm.Campaign); err == nil {
				sm.Audience = a.Count
			} else {
				sm.Audience = -1
			}
			continue
		}
		if sm.Sent == 0 {
			continue
		}
		bounced, err := s.bouncedAfterSend(ctx, sm.ID)
		if err != nil {
			return nil, 0, err
		}
		sm.Delivered = sm.Sent - bounced
		if sm.Delivered > 0 {
			sm.OpenRate = round4(float64(sm.OpensUnique) / float64(sm.Delivered))
			sm.ClickRate = round4(float64(sm.ClicksUnique) / float64(sm.Delivered))
		}
		if sm.ClicksUnique > 0 {
			if sm.Revenue, _, err = s.revenue(ctx, sm.ID); err != nil {
				return nil, 0, err
			}
		}
	}
	return out, next, nil
}
