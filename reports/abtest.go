package reports

import (
	"context"
	"fmt"
	"math"
	"time"

	"herald/campaigns"
	"herald/contacts"
)

// ABReport is an A/B test's figures: each variant's test messages and
// what they did, the variant ahead by the test's metric, the winner once
// recorded, and whether the lead over the runner-up is more than chance.
type ABReport struct {
	WinnerMetric campaigns.Metric `json:"winner_metric"`
	TestPercent  int              `json:"test_percent"`
	TestHours    int              `json:"test_hours"`
	State        string           `json:"state"`
	TestEndsAt   *time.Time       `json:"test_ends_at"`
	Variants     []VariantFigures `json:"variants"`
	// Leader is the variant ahead now by the metric (ties go to the
	// earlier letter); Winner is the one recorded, empty until then.
	Leader         string     `json:"leader"`
	Winner         string     `json:"winner"`
	WinnerPickedAt *time.Time `json:"winner_picked_at"`
	WinnerPickedBy string     `json:"winner_picked_by"`
	// Significant tells whether the leader's lead over the runner-up
	// passes a test at the 5% level (PValue below 0.05): a two-proportion
	// z-test for opens and clicks, Welch's t-test on the revenue per
	// message for revenue. Note says it in words.
	Significant bool    `json:"significant"`
	PValue      float64 `json:"p_value"`
	Note        string  `json:"note"`
	// Level tells that the leader and the runner-up have the same rate
	// (no opens yet, say): the leader is then only the earlier letter,
	// and no variant is ahead.
	Level bool `json:"level"`

	leader int
}

// VariantFigures are one variant's test messages and what they did;
// rates are per message sent.
type VariantFigures struct {
	Label    string `json:"label"`
	Subject  string `json:"subject"`
	FromName string `json:"from_name"`
	Sent     int64  `json:"sent"`
	// OpensUnique and ClicksUnique count people, machines left out.
	OpensUnique  int64   `json:"opens_unique"`
	ClicksUnique int64   `json:"clicks_unique"`
	Revenue      float64 `json:"revenue"`
	OpenRate     float64 `json:"open_rate"`
	ClickRate    float64 `json:"click_rate"`
	// RevenuePerMessage is Revenue / Sent.
	RevenuePerMessage float64 `json:"revenue_per_message"`

	revenue, revenueSq float64 // minor units, for the t-test
}

// LeadingVariant is the number (1 for A) of the variant of campaign id's
// A/B test that is ahead by the test's metric now: the one to record as
// the winner when the test's time is up.
func (s *Service) LeadingVariant(ctx context.Context, id int64) (int, error) {
	c, err := s.campaigns.Get(ctx, id)
	if err != nil {
		return 0, err
	}
	if c.ABTest == nil {
		return 0, fmt.Errorf("reports: campaign %d has no a/b test", id)
	}
	r, err := s.abReport(ctx, c)
	if err != nil {
		return 0, err
	}
	return r.leader, nil
}

func (s *Service) abReport(ctx context.Context, c campaigns.Campaign) (*ABReport, error) {
	t := c.ABTest
	r := &ABReport{WinnerMetric: t.WinnerMetric, TestPercent: t.TestPercent, TestHours: t.TestHours,
		State: string(c.ABState), TestEndsAt: utcPtr(c.ABTestEndsAt), WinnerPickedAt: utcPtr(c.ABWinnerAt), WinnerPickedBy: c.ABWinnerBy}
	if r.State == "" {
		r.State = "waiting"
	}
	if c.ABWinner > 0 {
		r.Winner = campaigns.Label(c.ABWinner)
	}
	r.Variants = make([]VariantFigures, len(t.Variants))
	for i, v := range t.Variants {
		r.Variants[i] = VariantFigures{Label: campaigns.Label(i + 1), Subject: v.Subject, FromName: v.FromName}
		if v.Subject == "" {
			r.Variants[i].Subject = c.Subject
		}
		if v.FromName == "" {
			r.Variants[i].FromName = c.FromName
		}
	}
	at := func(variant int) *VariantFigures {
		if variant < 1 || variant > len(r.Variants) {
			return nil
		}
		return &r.Variants[variant-1]
	}
	type count struct {
		Variant int
		N       int64
	}
	var sent []count
	err := s.db.WithContext(ctx).Model(&campaigns.Delivery{}).Select("variant, COUNT(*) AS n").
		Where("campaign_id = ? AND status = ? AND variant > 0", c.ID, campaigns.DeliverySent).Group("variant").Scan(&sent).Error
	if err != nil {
		return nil, fmt.Errorf("reports: a/b test sent of %d: %w", c.ID, err)
	}
	for _, n := range sent {
		if f := at(n.Variant); f != nil {
			f.Sent = n.N
		}
	}
	type people struct {
		Variant int
		Type    string
		N       int64
	}
	var ps []people
	err = s.db.WithContext(ctx).Raw(`SELECT d.variant, e.type, COUNT(DISTINCT e.contact_id) AS n
		FROM events e JOIN deliveries d ON d.campaign_id = e.campaign_id AND d.contact_id = e.contact_id
		WHERE e.campaign_id = ? AND e.type IN ? AND e.machine = ? AND d.variant > 0
		GROUP BY d.variant, e.type`, c.ID, []string{contacts.EventOpen, contacts.EventClick}, false).Scan(&ps).Error
	if err != nil {
		return nil, fmt.Errorf("reports: a/b test engagement of %d: %w", c.ID, err)
	}
	for _, p := range ps {
		if f := at(p.Variant); f != nil {
			if p.Type == contacts.EventOpen {
				f.OpensUnique = p.N
			} else {
				f.ClicksUnique = p.N
			}
		}
	}
	if err := s.variantRevenue(ctx, c.ID, at); err != nil {
		return nil, err
	}
	cur := s.contacts.Currency()
	for i := range r.Variants {
		f := &r.Variants[i]
		f.Revenue = contacts.ToMajor(int64(f.revenue), cur)
		if f.Sent > 0 {
			f.OpenRate = round4(float64(f.OpensUnique) / float64(f.Sent))
			f.ClickRate = round4(float64(f.ClicksUnique) / float64(f.Sent))
			f.RevenuePerMessage = round4(f.Revenue / float64(f.Sent))
		}
	}
	judge(r)
	return r, nil
}

// variantRevenue adds each test recipient's attributed revenue to their
// variant's figures.
func (s *Service) variantRevenue(ctx context.Context, id int64, at func(int) *VariantFigures) error {
	perContact, _, err := s.attributed(ctx, id)
	if err != nil || len(perContact) == 0 {
		return err
	}
	ids := make([]int64, 0, len(perContact))
	for cid := range perContact {
		ids = append(ids, cid)
	}
	for start := 0; start < len(ids); start += 500 {
		var ds []campaigns.Delivery
		err := s.db.WithContext(ctx).Select("contact_id", "variant").
			Where("campaign_id = ? AND variant > 0 AND contact_id IN ?", id, ids[start:min(start+500, len(ids))]).Find(&ds).Error
		if err != nil {
			return fmt.Errorf("reports: a/b test revenue of %d: %w", id, err)
		}
		for _, d := range ds {
			if f := at(d.Variant); f != nil {
				v := float64(perContact[d.ContactID])
				f.revenue += v
				f.revenueSq += v * v
			}
		}
	}
	return nil
}

// judge finds the leader by the metric and tests its lead; when a person
// picked another variant than the one ahead, the note says so rather than
// read as if the leader had won.
func judge(r *ABReport) {
	judgeFigures(r)
	if r.Winner != "" && r.Winner != r.Leader && !r.Level && r.Note != tooFewToCompare {
		r.Note += fmt.Sprintf(" %s was picked as the winner all the same.", r.Winner)
	}
}

// tooFewToCompare is the note of a test with under two messages sent to
// the leader or the runner-up.
const tooFewToCompare = "Too few messages sent to compare the variants yet."

// judgeFigures finds the leader by the metric, per message sent (ties go
// to the earlier letter), and tests its lead over the runner-up.
func judgeFigures(r *ABReport) {
	score := func(f VariantFigures) float64 {
		if f.Sent == 0 {
			return 0
		}
		switch r.WinnerMetric {
		case campaigns.MetricClicks:
			return float64(f.ClicksUnique) / float64(f.Sent)
		case campaigns.MetricRevenue:
			return f.revenue / float64(f.Sent)
		default:
			return float64(f.OpensUnique) / float64(f.Sent)
		}
	}
	lead, second := 0, -1
	for i := 1; i < len(r.Variants); i++ {
		if score(r.Variants[i]) > score(r.Variants[lead]) {
			lead = i
		}
	}
	for i := range r.Variants {
		if i != lead && (second < 0 || score(r.Variants[i]) > score(r.Variants[second])) {
			second = i
		}
	}
	r.leader = lead + 1
	r.Leader = campaigns.Label(lead + 1)
	a, b := r.Variants[lead], r.Variants[second]
	r.Level = score(a) == score(b)
	if a.Sent < 2 || b.Sent < 2 {
		r.PValue = 1
		r.Note = tooFewToCompare
		return
	}
	switch r.WinnerMetric {
	case campaigns.MetricClicks:
		r.PValue = twoProportionP(a.ClicksUnique, a.Sent, b.ClicksUnique, b.Sent)
	case campaigns.MetricRevenue:
		r.PValue = welchP(a.revenue, a.revenueSq, a.Sent, b.revenue, b.revenueSq, b.Sent)
	default:
		r.PValue = twoProportionP(a.OpensUnique, a.Sent, b.OpensUnique, b.Sent)
	}
	r.PValue = round4(r.PValue)
	r.Significant = r.PValue < 0.05
	if r.Level {
		r.Note = fmt.Sprintf("%s and %s are level so far: no variant is ahead.", a.Label, b.Label)
	} else if r.Significant {
		r.Note = fmt.Sprintf("%s is ahead of %s by more than chance would explain (p = %.4f).", a.Label, b.Label, r.PValue)
	} else {
		r.Note = fmt.Sprintf("The difference between %s and %s is not significant (p = %.4f): it may be chance.", a.Label, b.Label, r.PValue)
	}
}

// twoProportionP is the two-sided p-value of a two-proportion z-test of
// x1 of n1 against x2 of n2.
func twoProportionP(x1, n1, x2, n2 int64) float64 {
	p := float64(x1+x2) / float64(n1+n2)
	se := math.Sqrt(p * (1 - p) * (1/float64(n1) + 1/float64(n2)))
	if se == 0 {
		return 1
	}
	z := (float64(x1)/float64(n1) - float64(x2)/float64(n2)) / se
	return math.Erfc(math.Abs(z) / math.Sqrt2)
}

// welchP is the two-sided p-value of Welch's t-test on the revenue per
// message of two variants, from each one's sum and sum of squares over
// its n messages (those without a purchase count as 0). The t statistic
// is read against the normal distribution, which the test's samples of
// hundreds of messages make close enough.
func welchP(sum1, sq1 float64, n1 int64, sum2, sq2 float64, n2 int64) float64 {
	m1, m2 := sum1/float64(n1), sum2/float64(n2)
	v1 := (sq1 - float64(n1)*m1*m1) / float64(n1-1)
	v2 := (sq2 - float64(n2)*m2*m2) / float64(n2-1)
	se := math.Sqrt(math.Max(v1, 0)/float64(n1) + math.Max(v2, 0)/float64(n2))
	if se == 0 {
		return 1
	}
	return math.Erfc(math.Abs((m1-m2)/se) / math.Sqrt2)
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
