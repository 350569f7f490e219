package campaigns

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"herald/internal/db"
	"herald/internal/errs"
	"herald/templates"
)

// An A/B test sends 2 to 4 variants of a campaign's message (another
// subject, from name or body) to a test share of its audience, split
// evenly, and after the test time the variant that did best (unique human
// opens, human clicks or attributed revenue, per message sent) to the
// rest. The ledger stays the one record of who gets what: the launch
// writes every delivery as held, the split queues the test share with
// their variant, and recording the winner queues the held rest in the
// same transaction, so each contact still has one delivery, sent at most
// once, whatever the phase.

// ABTest is what a user sets for a campaign's A/B test.
type ABTest struct {
	Variants []Variant `json:"variants"`
	// TestPercent is the share of the audience the variants go to.
	TestPercent int `json:"test_percent"`
	// WinnerMetric decides the winner: opens, clicks or revenue.
	WinnerMetric Metric `json:"winner_metric"`
	// TestHours is how long after the split the winner is picked.
	TestHours int `json:"test_hours"`
}

// Variant is one version of the message; an empty field is the
// campaign's own. A variant with an HTML body and no text body has its
// text made from its HTML, as a campaign's would be.
type Variant struct {
	Label    string `json:"label"`
	Subject  string `json:"subject"`
	FromName string `json:"from_name"`
	HTMLBody string `json:"html_body"`
	TextBody string `json:"text_body"`
}

// Metric is what an A/B test's winner is picked by.
type Metric string

// Winner metrics.
const (
	MetricOpens   Metric = "opens"
	MetricClicks  Metric = "clicks"
	MetricRevenue Metric = "revenue"
)

// ABState is how far a campaign's A/B test went: "" before the launch has
// split the audience, testing while the variants are out, decided once
// the winner is recorded.
type ABState string

// A/B test states.
const (
	ABTesting ABState = "testing"
	ABDecided ABState = "decided"
)

// ActionPickWinner is the Action of a winner picked by a person.
const ActionPickWinner = "pick_winner"

// A/B test limits.
const (
	MinVariants       = 2
	MaxVariants       = 4
	MinTestPercent    = 5
	MaxTestPercent    = 50
	MaxTestHours      = 7 * 24
	defaultTestPct    = 20
	defaultTestHours  = 4
	variantLinkOffset = 100000
)

// Label is the letter of variant n (1 is A).
func Label(n int) string { return string(rune('A' + n - 1)) }

// ParseLabel returns the number of variant label ("A" is 1), or 0.
func ParseLabel(label string) int {
	l := strings.ToUpper(strings.TrimSpace(label))
	if len(l) != 1 || l[0] < 'A' || l[0] >= 'A'+MaxVariants {
		return 0
	}
	return int(l[0]-'A') + 1
}

// Value stores the test as JSON.
func (t ABTest) Value() (driver.Value, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("campaigns: encode a/b test: %w", err)
	}
	return string(b), nil
}

// Scan reads the JSON of a test.
func (t *ABTest) Scan(v any) error {
	var b []byte
	switch x := v.(type) {
	case nil:
		return nil
	case []byte:
		b = x
	case string:
		b = []byte(x)
	default:
		return fmt.Errorf("campaigns: cannot read an a/b test from %T", v)
	}
	if err := json.Unmarshal(b, t); err != nil {
		return fmt.Errorf("campaigns: decode a/b test: %w", err)
	}
	return nil
}

// GormDBDataType picks the column type per engine.
func (ABTest) GormDBDataType(g *gorm.DB, _ *schema.Field) string {
	if db.IsPostgres(g) {
		return "jsonb"
	}
	return "text"
}

// variantCampaign is c as variant n renders it: the variant's fields over
// the campaign's. A variant with a body of its own numbers its links from
// n*variantLinkOffset, so a click token names the link of the body it
// came from.
func variantCampaign(c Campaign, n int) Campaign {
	if c.ABTest == nil || n < 1 || n > len(c.ABTest.Variants) {
		return c
	}
	v := c.ABTest.Variants[n-1]
	if v.Subject != "" {
		c.Subject = v.Subject
	}
	if v.FromName != "" {
		c.FromName = v.FromName
	}
	if v.HTMLBody != "" {
		c.HTMLBody, c.TextBody = v.HTMLBody, v.TextBody
		c.linkBase = int64(n) * variantLinkOffset
	} else if v.TextBody != "" {
		c.TextBody = v.TextBody
	}
	return c
}

// contentVariant is the variant a delivery is rendered from: its own, or
// the winner for the deliveries that waited for it.
func contentVariant(c *Campaign, variant int) int {
	if variant == 0 && c.ABTest != nil {
		return c.ABWinner
	}
	return variant
}

// applyABTest checks and sets the A/B test of in on c; an empty list of
// variants removes it.
func (s *Service) applyABTest(ctx context.Context, c *Campaign, in *ABTest) error {
	if in == nil {
		return nil
	}
	if len(in.Variants) == 0 {
		c.ABTest = nil
		return nil
	}
	if c.Kind != KindCampaign {
		// An automation's message (or one being checked as one) goes to
		// each contact when the trigger brings them in: there is no
		// audience to split.
		return errs.Invalid("ab_test", "an automation's message cannot have an A/B test")
	}
	if len(in.Variants) < MinVariants || len(in.Variants) > MaxVariants {
		return errs.Invalid("ab_test.variants", "give %d to %d variants, got %d", MinVariants, MaxVariants, len(in.Variants))
	}
	t := ABTest{TestPercent: in.TestPercent, WinnerMetric: in.WinnerMetric, TestHours: in.TestHours}
	if t.TestPercent == 0 {
		t.TestPercent = defaultTestPct
	}
	if t.TestPercent < MinTestPercent || t.TestPercent > MaxTestPercent {
		return errs.Invalid("ab_test.test_percent", "must be between %d and %d", MinTestPercent, MaxTestPercent)
	}
	switch t.WinnerMetric {
	case "":
		t.WinnerMetric = MetricOpens
	case MetricOpens, MetricClicks, MetricRevenue:
	default:
		return errs.Invalid("ab_test.winner_metric", "must be opens, clicks or revenue, not %q", t.WinnerMetric)
	}
	if t.TestHours == 0 {
		t.TestHours = defaultTestHours
	}
	if t.TestHours < 1 || t.TestHours > MaxTestHours {
		return errs.Invalid("ab_test.test_hours", "must be between 1 and %d", MaxTestHours)
	}
	for i, v := range in.Variants {
		path := fmt.Sprintf("ab_test.variants[%d]", i)
		v.Label = Label(i + 1)
		v.Subject = strings.TrimSpace(v.Subject)
		v.FromName = strings.TrimSpace(v.FromName)
		if v.Subject == "" && v.FromName == "" && strings.TrimSpace(v.HTMLBody) == "" && strings.TrimSpace(v.TextBody) == "" {
			return errs.Invalid(path, "changes nothing: give it a subject, from_name, html_body or text_body")
		}
		if err := headerText(path+".from_name", v.FromName); err != nil {
			return err
		}
		if utf8.RuneCountInString(v.FromName) > 200 {
			return errs.Invalid(path+".from_name", "is longer than 200 characters")
		}
		t.Variants = append(t.Variants, v)
	}
	c.ABTest = &t
	return nil
}

// compileVariants checks the content of each variant as it renders; a
// template error names the variant's field, line and column.
func (s *Service) compileVariants(ctx context.Context, c *Campaign) ([]*templates.Compiled, error) {
	if c.ABTest == nil {
		return nil, nil
	}
	out := make([]*templates.Compiled, len(c.ABTest.Variants))
	for i := range c.ABTest.Variants {
		vc := variantCampaign(*c, i+1)
		comp, err := s.compile(ctx, &vc)
		var ie *errs.InvalidError
		if errors.As(err, &ie) {
			return nil, errs.Invalid(fmt.Sprintf("ab_test.variants[%d].%s", i, ie.Path), "%s", ie.Message)
		}
		if err != nil {
			return nil, err
		}
		out[i] = comp
	}
	return out, nil
}

// variantLinks are the links of the variants that have a body of their
// own, numbered apart from the campaign's.
func variantLinks(c *Campaign, comps []*templates.Compiled) []Link {
	var links []Link
	for i, comp := range comps {
		vc := variantCampaign(*c, i+1)
		if vc.linkBase == 0 {
			continue
		}
		for j, u := range comp.Links {
			links = append(links, Link{CampaignID: c.ID, Idx: int(vc.linkBase) + j + 1, URL: u})
		}
	}
	return links
}

// heldStatus is the status the launch writes a campaign's deliveries in:
// held until the split for an A/B test, queued otherwise.
func heldStatus(c Campaign) DeliveryStatus {
	if c.ABTest != nil && c.ABState == "" {
		return DeliveryHeld
	}
	return DeliveryQueued
}

// TestShares is how many of total recipients each variant of a test of
// pct percent gets: round(total*pct/100), split evenly, the first
// variants taking one more each while a remainder is left.
func TestShares(total int64, pct, variants int) []int64 {
	test := int64(math.Round(float64(total) * float64(pct) / 100))
	out := make([]int64, variants)
	for i := range out {
		out[i] = test / int64(variants)
		if int64(i) < test%int64(variants) {
			out[i]++
		}
	}
	return out
}

// splitABTest gives the test share of a launched A/B campaign its
// variants and queues them, once: the state moves to testing in the
// same transaction. The test share is drawn in a fixed pseudo-random
// order of the deliveries (a multiplicative hash of the id mixed with the
// campaign's), the same on SQLite and PostgreSQL, so that contact ids,
// which follow signup order, do not decide who is in the test.
func (s *Service) splitABTest(ctx context.Context, id int64) (bool, error) {
	now := s.cfg.Now()
	var c Campaign
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if c, err = lockCampaign(tx, id); err != nil {
			return err
		}
		if c.ABTest == nil || c.ABState != "" || c.LaunchedAt == nil || c.Status != CampaignSending {
			return errStopped
		}
		var held int64
		if err := tx.Model(&Delivery{}).Where("campaign_id = ? AND status = ?", id, DeliveryHeld).Count(&held).Error; err != nil {
			return err
		}
		status, notBefore := s.releaseAs(c, now)
		for i, n := range TestShares(held, c.ABTest.TestPercent, len(c.ABTest.Variants)) {
			if n == 0 {
				continue
			}
			err := tx.Exec(`UPDATE deliveries SET variant = ?, status = ?, not_before = ?, error = '' WHERE id IN (
				SELECT id FROM deliveries WHERE campaign_id = ? AND status = ? AND variant = 0
				ORDER BY ((id + campaign_id * 7919) * 2654435761) % 4294967296, id LIMIT ?)`,
				i+1, status, notBefore, id, DeliveryHeld, n).Error
			if err != nil {
				return err
			}
		}
		ends := now.Add(time.Duration(c.ABTest.TestHours) * time.Hour)
		c.ABTestEndsAt = &ends
		return tx.Model(&Campaign{}).Where("id = ?", id).Updates(map[string]any{"ab_state": ABTesting, "ab_test_ends_at": ends}).Error
	})
	if errors.Is(err, errStopped) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("campaigns: split the a/b test of %d: %w", id, err)
	}
	if err := s.releaseDeferred(ctx, now); err != nil {
		return true, err
	}
	// The winner is picked when the launch runs again at the test's end
	// (and at every sweep after it, should that task be lost).
	if err := s.queue.EnqueueLaunch(ctx, id, *c.ABTestEndsAt); err != nil {
		s.cfg.Log.Error("campaigns: enqueue the a/b winner's launch failed; the sweep will run it", "campaign", id, "err", err)
	}
	return true, nil
}

// advanceABTest moves a launched A/B campaign on: it splits the test
// share off once, and after the winner is recorded queues what is still
// held (after a crash in the middle of a release).
func (s *Service) advanceABTest(ctx context.Context, c Campaign) error {
	switch c.ABState {
	case "":
		_, err := s.splitABTest(ctx, c.ID)
		return err
	case ABDecided:
		if c.Status != CampaignSending {
			return nil
		}
		return s.releaseHeld(ctx, c)
	}
	return nil
}

// releaseAs is the status held deliveries leave for: queued, or deferred
// until now for a campaign under the frequency cap, so that the sweep's
// release (releaseDeferred) holds back contacts the cap holds.
func (s *Service) releaseAs(c Campaign, now time.Time) (DeliveryStatus, *time.Time) {
	if c.IgnoreFrequencyCap || s.cfg.Cap.Messages <= 0 || s.cfg.Cap.Window <= 0 {
		return DeliveryQueued, nil
	}
	return DeliveryDeferred, &now
}

// WinnerDue tells whether campaign id's A/B test has run its time and
// waits for its winner to be recorded.
func (s *Service) WinnerDue(ctx context.Context, id int64) (bool, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return false, err
	}
	return c.Status == CampaignSending && c.ABState == ABTesting && c.ABTestEndsAt != nil && !s.cfg.Now().Before(*c.ABTestEndsAt), nil
}

// DecideWinner records variant (1 for A, ...) as the winner of campaign
// id's A/B test, then queues the deliveries held for it, so the rest are
// sent the winner's content and nothing else. by is who picked it; empty
// when picked by its figures at the end of the test, otherwise the pick
// is recorded as an Action. It returns the number of deliveries that
// waited for the winner.
//
// Nothing held is sent before the winner is recorded, and once it is,
// what a held delivery renders is settled: the release may then go in
// chunks (releaseHeld), and a crash half-way leaves the rest to the next
// launch, which every sweep runs.
func (s *Service) DecideWinner(ctx context.Context, id int64, variant int, by string) (int64, error) {
	now := s.cfg.Now()
	var held int64
	var c Campaign
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		c, err = lockCampaign(tx, id)
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return errs.NotFound("campaign", id)
		}
		if err != nil {
			return err
		}
		if c.ABTest == nil {
			return errs.Conflict("campaign %d has no A/B test", id)
		}
		if variant < 1 || variant > len(c.ABTest.Variants) {
			return errs.Invalid("variant", "campaign %d has variants A to %s", id, Label(len(c.ABTest.Variants)))
		}
		switch {
		case c.ABState == ABDecided:
			return errs.Conflict("campaign %d already has its winner, %s", id, Label(c.ABWinner))
		case c.ABState != ABTesting:
			return errs.Conflict("campaign %d has not sent its variants yet; the winner is picked once they are out", id)
		case c.Status != CampaignSending && c.Status != CampaignPaused:
			return errs.Conflict("campaign %d is %s", id, c.Status)
		}
		if err := tx.Model(&Delivery{}).Where("campaign_id = ? AND status = ?", id, DeliveryHeld).Count(&held).Error; err != nil {
			return err
		}
		err = tx.Model(&Campaign{}).Where("id = ?", id).Updates(map[string]any{
			"ab_state": ABDecided, "ab_winner": variant, "ab_winner_at": now, "ab_winner_by": by}).Error
		if err != nil {
			return err
		}
		if by == "" {
			return nil
		}
		return tx.Create(&Action{CampaignID: id, Kind: ActionPickWinner, Actor: by, Count: held, At: now}).Error
	})
	if err != nil {
		if errors.Is(err, errs.ErrConflict) || errors.Is(err, errs.ErrNotFound) || errors.As(err, new(*errs.InvalidError)) {
			return 0, err
		}
		return 0, fmt.Errorf("campaigns: record the a/b winner of %d: %w", id, err)
	}
	if err := s.releaseHeld(ctx, c); err != nil {
		return held, err
	}
	if err := s.queue.EnqueueLaunch(ctx, id, time.Time{}); err != nil {
		s.cfg.Log.Error("campaigns: enqueue launch failed; the sweep will retry", "campaign", id, "err", err)
	}
	return held, nil
}

// releaseChunk is how many held deliveries one transaction releases.
const releaseChunk = 5000

// releaseHeld queues the deliveries of campaign c's decided A/B test that
// still wait, releaseChunk at a time, each chunk in a short transaction of
// its own: one statement over a large audience would keep the database's
// writers (SQLite has one) waiting for seconds.
func (s *Service) releaseHeld(ctx context.Context, c Campaign) error {
	now := s.cfg.Now()
	status, notBefore := s.releaseAs(c, now)
	for {
		res := s.db.WithContext(ctx).Exec(`UPDATE deliveries SET status = ?, not_before = ?, error = '' WHERE id IN (
			SELECT id FROM deliveries WHERE campaign_id = ? AND status = ? ORDER BY id LIMIT ?)`,
			status, notBefore, c.ID, DeliveryHeld, releaseChunk)
		if res.Error != nil {
			return fmt.Errorf("campaigns: release the held deliveries of %d: %w", c.ID, res.Error)
		}
		if res.RowsAffected < releaseChunk {
			break
		}
	}
	return s.releaseDeferred(ctx, now)
}
