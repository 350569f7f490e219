package campaigns_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/campaigntest"
	"herald/internal/errs"
	"herald/internal/testenv"
	"herald/reports"
)

// abWorld is the test world on a clock the test moves, with n contacts
// in one segment.
type abWorld struct {
	*campaigntest.World
	clock  time.Time
	rep    *reports.Service
	mailer *campaigntest.Mailer
	sender *campaigns.Sender
	seg    int64
	emails []string
}

func newABWorld(t *testing.T, n int, capCfg campaigns.CapConfig) *abWorld {
	t.Helper()
	w := &abWorld{World: campaigntest.NewWorld(t), clock: time.Date(2026, 4, 6, 9, 0, 0, 0, time.UTC)}
	now := func() time.Time { return w.clock }
	w.Svc = campaigns.NewService(w.DB, w.Contacts, w.Segments, w.Q, nil, campaigns.Config{
		BaseURL: "https://h.example", LaunchPage: 150, ClaimSize: 25, Log: testenv.Logger(), Cap: capCfg, Now: now,
	})
	w.rep = reports.New(w.DB, w.Svc, w.Contacts, reports.Config{Now: now})
	w.mailer = &campaigntest.Mailer{}
	w.sender = campaigns.NewSender(w.Svc, w.mailer, nil)
	w.emails = w.AddContacts(t, n, "NL")
	w.seg = w.Segment(t, "NL", campaigntest.EqSegment("NL"))
	return w
}

// create makes a campaign to everyone with the A/B test ab.
func (w *abWorld) create(t *testing.T, ab campaigns.ABTest) campaigns.Campaign {
	t.Helper()
	name, subj, html, from := "Spring", "Spring sale", `<p>Hi</p><a href="https://shop.example.com/">Shop</a>`, "news@shop.example.com"
	ids := []int64{w.seg}
	c, err := w.Svc.Create(context.Background(), campaigns.Input{Name: &name, Subject: &subj, HTMLBody: &html, FromEmail: &from, SegmentIDs: &ids, ABTest: &ab})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// run launches (or relaunches) the campaign and sends every batch, as
// workers would.
func (w *abWorld) run(t *testing.T, id int64) {
	t.Helper()
	w.Drain(t, id, w.sender)
}

// subjects counts the messages sent by subject.
func (w *abWorld) subjects() map[string]int {
	out := map[string]int{}
	for _, m := range w.mailer.Msgs {
		out[m.Subject]++
	}
	return out
}

// recipients returns the contact ids of the campaign's deliveries of
// variant (0: the rest).
func (w *abWorld) recipients(t *testing.T, id int64, variant int) []int64 {
	t.Helper()
	var ids []int64
	if err := w.DB.Model(&campaigns.Delivery{}).Where("campaign_id = ? AND variant = ?", id, variant).Order("contact_id").Pluck("contact_id", &ids).Error; err != nil {
		t.Fatal(err)
	}
	return ids
}

// engage records one event of type typ, made by a person, for each of the
// contacts ids on the campaign.
func (w *abWorld) engage(t *testing.T, id int64, typ string, ids []int64) {
	t.Helper()
	var evs []contacts.EventInput
	for _, cid := range ids {
		evs = append(evs, contacts.EventInput{ContactID: cid, Type: typ, CampaignID: &id, OccurredAt: w.clock})
	}
	w.RecordEvents(t, evs...)
}

func (w *abWorld) abStats(t *testing.T, id int64) (reports.Stats, *reports.ABReport) {
	t.Helper()
	st, err := w.rep.Stats(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if st.ABTest == nil {
		t.Fatal("stats carry no a/b test")
	}
	return st, st.ABTest
}

// pickWhenDue does what the worker does when the campaign's launch runs:
// once the test's time is up, record the leading variant as the winner.
func (w *abWorld) pickWhenDue(t *testing.T, id int64) bool {
	t.Helper()
	ctx := context.Background()
	due, err := w.Svc.WinnerDue(ctx, id)
	if err != nil || !due {
		if err != nil {
			t.Fatal(err)
		}
		return false
	}
	leader, err := w.rep.LeadingVariant(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Svc.DecideWinner(ctx, id, leader, ""); err != nil {
		t.Fatal(err)
	}
	return true
}

// A 20% test of two subjects on 1,000 contacts: 100 messages of each
// subject go out and 800 wait; nothing of the rest is sent before the
// test's time is up, however often the launch runs; then the variant with
// more unique human opens (machine opens left out) wins and the 800 get
// its subject and body, each contact one message in all.
func TestABTestSendsTheVariantsToTheTestShareAndTheWinnerToTheRest(t *testing.T) {
	w := newABWorld(t, 1000, campaigns.CapConfig{})
	ctx := context.Background()
	bodyB := `<p>Hi, B</p><a href="https://shop.example.com/b">Shop B</a>`
	c := w.create(t, campaigns.ABTest{TestPercent: 20, WinnerMetric: campaigns.MetricOpens, TestHours: 4, Variants: []campaigns.Variant{
		{Subject: "Spring sale: 20% off"},
		{Subject: "Your spring treat inside", HTMLBody: bodyB},
	}})
	if _, err := w.Svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	w.run(t, c.ID)
	if got := w.subjects(); got["Spring sale: 20% off"] != 100 || got["Your spring treat inside"] != 100 || len(w.mailer.Msgs) != 200 {
		t.Fatalf("test phase sent %v, want 100 of each subject", got)
	}
	st, ab := w.abStats(t, c.ID)
	if st.Sent != 200 || st.Held != 800 || ab.State != "testing" || ab.Variants[0].Sent != 100 || ab.Variants[1].Sent != 100 {
		t.Fatalf("after the split: sent %d, held %d, state %s, variants %+v", st.Sent, st.Held, ab.State, ab.Variants)
	}
	// A variant with its own body has its own links, stored apart.
	links, err := w.Svc.Links(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != 2 || links[0].URL != "https://shop.example.com/" || links[1].URL != "https://shop.example.com/b" || links[1].Idx != 200001 {
		t.Fatalf("links = %+v", links)
	}

	a, b := w.recipients(t, c.ID, 1), w.recipients(t, c.ID, 2)
	w.engage(t, c.ID, contacts.EventOpen, a[:10])
	w.engage(t, c.ID, contacts.EventOpen, b[:30])
	// Machine opens do not count: A's would otherwise lead.
	var machine []contacts.EventInput
	for _, cid := range a[10:60] {
		id := c.ID
		machine = append(machine, contacts.EventInput{ContactID: cid, Type: contacts.EventOpen, CampaignID: &id, Machine: true})
	}
	w.RecordEvents(t, machine...)

	w.clock = w.clock.Add(3*time.Hour + 59*time.Minute)
	w.run(t, c.ID)
	if w.pickWhenDue(t, c.ID) || len(w.mailer.Msgs) != 200 {
		t.Fatalf("before the test's time: winner picked or the rest sent (%d messages)", len(w.mailer.Msgs))
	}
	w.clock = w.clock.Add(time.Minute)
	if !w.pickWhenDue(t, c.ID) {
		t.Fatal("the winner was not due at the test's end")
	}
	w.run(t, c.ID)
	w.run(t, c.ID) // a second launch and the same batches again send nothing more

	if got := w.subjects(); got["Spring sale: 20% off"] != 100 || got["Your spring treat inside"] != 900 {
		t.Fatalf("sent %v, want A's subject 100 times and B's 900", got)
	}
	for _, e := range w.emails {
		if n := w.mailer.Count(e); n != 1 {
			t.Fatalf("%s got %d messages", e, n)
		}
	}
	for _, m := range w.mailer.Msgs {
		if m.Subject == "Your spring treat inside" && !strings.Contains(m.HTML, "Hi, B") {
			t.Fatalf("a message with B's subject has the campaign's body: %s", m.HTML)
		}
	}
	st, ab = w.abStats(t, c.ID)
	if st.Sent != 1000 || st.Held != 0 || ab.Winner != "B" || ab.WinnerPickedBy != "" || ab.State != "decided" {
		t.Fatalf("after the winner: sent %d, held %d, winner %q by %q, state %s", st.Sent, st.Held, ab.Winner, ab.WinnerPickedBy, ab.State)
	}
	if ab.Variants[0].OpensUnique != 10 || ab.Variants[1].OpensUnique != 30 || ab.Variants[0].OpenRate != 0.1 || ab.Variants[1].OpenRate != 0.3 {
		t.Fatalf("variant figures = %+v", ab.Variants)
	}
	if !ab.Significant || ab.PValue >= 0.05 || !strings.Contains(ab.Note, "B is ahead of A") {
		t.Fatalf("30%% against 10%% of 100: significant %v, p %v, note %q", ab.Significant, ab.PValue, ab.Note)
	}
	if got, _ := w.Svc.Get(ctx, c.ID); got.Status != campaigns.CampaignSent {
		t.Fatalf("campaign is %s, want sent", got.Status)
	}
	// A follow-up to those who did not open takes the winner's body.
	subject := "Last days of the spring sale"
	fu, err := w.Svc.CreateFollowUp(ctx, c.ID, campaigns.FollowUpInput{Subject: &subject})
	if err != nil || fu.HTMLBody != bodyB || fu.ABTest != nil {
		t.Fatalf("follow-up: body %q, a/b test %+v, %v; want B's body and no test", fu.HTMLBody, fu.ABTest, err)
	}
	// The web view shows each contact the message they were sent.
	rest := w.recipients(t, c.ID, 0)
	for _, tc := range []struct {
		contact int64
		body    string
	}{{a[0], "<p>Hi</p>"}, {b[0], "Hi, B"}, {rest[0], "Hi, B"}} {
		page, err := w.Svc.WebView(ctx, c.ID, tc.contact)
		if err != nil || !strings.Contains(page, tc.body) {
			t.Errorf("web view of contact %d: %v, want %q in %s", tc.contact, err, tc.body, page)
		}
	}
}

// Test shares are round(total * percent / 100), split evenly, the first
// variants taking the remainder one each.
func TestABTestSharesAreExactWithRemaindersToTheFirstVariants(t *testing.T) {
	for _, tc := range []struct {
		total    int
		pct      int
		variants int
		want     []int64
	}{
		{1000, 20, 2, []int64{100, 100}},
		{101, 20, 3, []int64{7, 7, 6}},    // 20.2 -> 20
		{103, 30, 4, []int64{8, 8, 8, 7}}, // 30.9 -> 31
		{10, 5, 4, []int64{1, 0, 0, 0}},   // 0.5 rounds up to 1
	} {
		t.Run(fmt.Sprintf("%d at %d%% in %d", tc.total, tc.pct, tc.variants), func(t *testing.T) {
			if got := campaigns.TestShares(int64(tc.total), tc.pct, tc.variants); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("TestShares = %v, want %v", got, tc.want)
			}
			w := newABWorld(t, tc.total, campaigns.CapConfig{})
			var vs []campaigns.Variant
			for i := 0; i < tc.variants; i++ {
				vs = append(vs, campaigns.Variant{Subject: fmt.Sprintf("Subject %d", i+1)})
			}
			c := w.create(t, campaigns.ABTest{TestPercent: tc.pct, Variants: vs})
			if _, err := w.Svc.Send(context.Background(), c.ID, nil); err != nil {
				t.Fatal(err)
			}
			w.run(t, c.ID)
			st, ab := w.abStats(t, c.ID)
			var test int64
			for i, f := range ab.Variants {
				if f.Sent != tc.want[i] || w.subjects()[fmt.Sprintf("Subject %d", i+1)] != int(tc.want[i]) {
					t.Errorf("variant %s sent %d, want %d", f.Label, f.Sent, tc.want[i])
				}
				test += tc.want[i]
			}
			if st.Held != int64(tc.total)-test || st.Sent != test {
				t.Errorf("sent %d and held %d, want %d and %d", st.Sent, st.Held, test, int64(tc.total)-test)
			}
		})
	}
}

// A person can pick the winner before the test's time: the rest get it at
// once, the pick is recorded with who made it, and it cannot be made twice.
func TestABTestWinnerPickedByHandBeforeItsTimeGoesToTheRest(t *testing.T) {
	w := newABWorld(t, 50, campaigns.CapConfig{})
	ctx := context.Background()
	c := w.create(t, campaigns.ABTest{TestPercent: 20, TestHours: 24, Variants: []campaigns.Variant{
		{Subject: "Alpha"}, {FromName: "Ann from the shop"},
	}})
	if _, err := w.Svc.DecideWinner(ctx, c.ID, 1, "ann@shop.example.com"); !errors.Is(err, errs.ErrConflict) {
		t.Fatalf("a pick before the send: %v, want a conflict", err)
	}
	if _, err := w.Svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	w.run(t, c.ID)
	if len(w.mailer.Msgs) != 10 {
		t.Fatalf("test phase sent %d, want 10", len(w.mailer.Msgs))
	}
	if _, err := w.Svc.DecideWinner(ctx, c.ID, 3, "ann@shop.example.com"); !errors.As(err, new(*errs.InvalidError)) {
		t.Fatalf("picking variant C of two: %v, want invalid", err)
	}
	released, err := w.Svc.DecideWinner(ctx, c.ID, 2, "ann@shop.example.com")
	if err != nil || released != 40 {
		t.Fatalf("pick B: released %d, %v; want 40", released, err)
	}
	if _, err := w.Svc.DecideWinner(ctx, c.ID, 1, "bob@shop.example.com"); !errors.Is(err, errs.ErrConflict) {
		t.Fatalf("a second pick: %v, want a conflict", err)
	}
	w.run(t, c.ID)
	byFrom := map[string]int{}
	for _, m := range w.mailer.Msgs {
		byFrom[m.Subject+" / "+m.FromName]++
	}
	if byFrom["Alpha / "] != 5 || byFrom["Spring sale / Ann from the shop"] != 45 || len(w.mailer.Msgs) != 50 {
		t.Fatalf("sent %v", byFrom)
	}
	var acts []campaigns.Action
	if err := w.DB.Where("campaign_id = ?", c.ID).Find(&acts).Error; err != nil {
		t.Fatal(err)
	}
	if len(acts) != 1 || acts[0].Kind != campaigns.ActionPickWinner || acts[0].Actor != "ann@shop.example.com" || acts[0].Count != 40 {
		t.Fatalf("actions = %+v", acts)
	}
	_, ab := w.abStats(t, c.ID)
	if ab.Winner != "B" || ab.WinnerPickedBy != "ann@shop.example.com" {
		t.Fatalf("winner %q by %q", ab.Winner, ab.WinnerPickedBy)
	}
}

// By revenue, the variant whose recipients bought more per message wins
// even when another was opened more; by clicks, a lead of one click in a
// hundred is reported as not significant.
func TestABTestWinnerByRevenueAndANoteWhenTheLeadIsNotSignificant(t *testing.T) {
	t.Run("revenue", func(t *testing.T) {
		w := newABWorld(t, 200, campaigns.CapConfig{})
		c := w.create(t, campaigns.ABTest{TestPercent: 50, WinnerMetric: campaigns.MetricRevenue, TestHours: 2, Variants: []campaigns.Variant{
			{Subject: "Alpha"}, {Subject: "Beta"},
		}})
		if _, err := w.Svc.Send(context.Background(), c.ID, nil); err != nil {
			t.Fatal(err)
		}
		w.run(t, c.ID)
		a, b := w.recipients(t, c.ID, 1), w.recipients(t, c.ID, 2)
		w.engage(t, c.ID, contacts.EventOpen, b[:40])
		w.engage(t, c.ID, contacts.EventClick, a[:20])
		w.engage(t, c.ID, contacts.EventClick, b[:20])
		w.clock = w.clock.Add(time.Hour)
		var buys []contacts.EventInput
		for i, cid := range a[:20] {
			buys = append(buys, contacts.EventInput{ContactID: cid, Type: contacts.EventPurchase, OrderID: fmt.Sprintf("a%d", i), Amount: 5000, OccurredAt: w.clock})
		}
		for i, cid := range b[:2] {
			buys = append(buys, contacts.EventInput{ContactID: cid, Type: contacts.EventPurchase, OrderID: fmt.Sprintf("b%d", i), Amount: 5000, OccurredAt: w.clock})
		}
		w.RecordEvents(t, buys...)
		w.clock = w.clock.Add(time.Hour)
		if !w.pickWhenDue(t, c.ID) {
			t.Fatal("winner not due")
		}
		w.run(t, c.ID)
		_, ab := w.abStats(t, c.ID)
		if ab.Winner != "A" || ab.Variants[0].Revenue != 1000 || ab.Variants[1].Revenue != 100 || ab.Variants[0].RevenuePerMessage != 20 || !ab.Significant {
			t.Fatalf("winner %q, significant %v, variants %+v", ab.Winner, ab.Significant, ab.Variants)
		}
		if got := w.subjects(); got["Alpha"] != 150 || got["Beta"] != 50 || got["Spring sale"] != 0 {
			t.Fatalf("sent %v", got)
		}
	})
	t.Run("not significant", func(t *testing.T) {
		w := newABWorld(t, 1000, campaigns.CapConfig{})
		c := w.create(t, campaigns.ABTest{TestPercent: 20, WinnerMetric: campaigns.MetricClicks, TestHours: 1, Variants: []campaigns.Variant{
			{Subject: "Alpha"}, {Subject: "Beta"},
		}})
		if _, err := w.Svc.Send(context.Background(), c.ID, nil); err != nil {
			t.Fatal(err)
		}
		w.run(t, c.ID)
		w.engage(t, c.ID, contacts.EventClick, w.recipients(t, c.ID, 1)[:10])
		w.engage(t, c.ID, contacts.EventClick, w.recipients(t, c.ID, 2)[:11])
		_, ab := w.abStats(t, c.ID)
		if ab.Leader != "B" || ab.Winner != "" || ab.Significant || !strings.Contains(ab.Note, "not significant") {
			t.Fatalf("leader %q, winner %q, significant %v, note %q", ab.Leader, ab.Winner, ab.Significant, ab.Note)
		}
	})
}

// Under the frequency cap, the rest released by the winner still wait for
// contacts the cap holds; cancelling during the test skips the held rest.
func TestABTestKeepsTheFrequencyCapAndCancelSkipsTheHeldRest(t *testing.T) {
	t.Run("cap", func(t *testing.T) {
		w := newABWorld(t, 20, campaigns.CapConfig{Messages: 1, Window: 7 * 24 * time.Hour})
		ctx := context.Background()
		// An earlier campaign reached the first contact.
		first := w.Campaign(t, []int64{w.Segment(t, "first", map[string]any{"field": "email", "op": "eq", "value": w.emails[0]})}, nil)
		if _, err := w.Svc.Send(ctx, first.ID, nil); err != nil {
			t.Fatal(err)
		}
		w.run(t, first.ID)
		c := w.create(t, campaigns.ABTest{TestPercent: 50, Variants: []campaigns.Variant{{Subject: "Alpha"}, {Subject: "Beta"}}})
		if _, err := w.Svc.Send(ctx, c.ID, nil); err != nil {
			t.Fatal(err)
		}
		w.run(t, c.ID)
		if _, err := w.Svc.DecideWinner(ctx, c.ID, 1, "ann@shop.example.com"); err != nil {
			t.Fatal(err)
		}
		w.run(t, c.ID)
		st := w.Stats(t, c.ID)
		if w.mailer.Count(w.emails[0]) != 1 || st.Sent != 19 || st.Deferred != 1 {
			t.Fatalf("first contact got %d messages; sent %d, deferred %d; want 1, 19, 1", w.mailer.Count(w.emails[0]), st.Sent, st.Deferred)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		w := newABWorld(t, 20, campaigns.CapConfig{})
		ctx := context.Background()
		c := w.create(t, campaigns.ABTest{TestPercent: 50, Variants: []campaigns.Variant{{Subject: "Alpha"}, {Subject: "Beta"}}})
		if _, err := w.Svc.Send(ctx, c.ID, nil); err != nil {
			t.Fatal(err)
		}
		w.run(t, c.ID)
		if _, err := w.Svc.Cancel(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		st := w.Stats(t, c.ID)
		if st.Sent != 10 || st.Skipped != 10 || st.Held != 0 {
			t.Fatalf("sent %d, skipped %d, held %d", st.Sent, st.Skipped, st.Held)
		}
		if _, err := w.Svc.DecideWinner(ctx, c.ID, 1, "ann@shop.example.com"); !errors.Is(err, errs.ErrConflict) {
			t.Fatalf("a pick after cancel: %v, want a conflict", err)
		}
	})
}

// A bad A/B test is refused with the path of what is wrong, and nothing
// is stored.
func TestABTestSettingsAreCheckedWithThePathOfTheFault(t *testing.T) {
	w := newABWorld(t, 1, campaigns.CapConfig{})
	two := []campaigns.Variant{{Subject: "Alpha"}, {Subject: "Beta"}}
	for _, tc := range []struct {
		name string
		ab   campaigns.ABTest
		path string
		msg  string
	}{
		{"one variant", campaigns.ABTest{Variants: two[:1]}, "ab_test.variants", "give 2 to 4 variants"},
		{"five variants", campaigns.ABTest{Variants: append(append(append([]campaigns.Variant{}, two...), two...), two[0])}, "ab_test.variants", "got 5"},
		{"a variant that changes nothing", campaigns.ABTest{Variants: []campaigns.Variant{{Subject: "Alpha"}, {Subject: "  "}}}, "ab_test.variants[1]", "changes nothing"},
		{"a template error", campaigns.ABTest{Variants: []campaigns.Variant{{Subject: "Alpha"}, {Subject: "Hi {{.Nmae}}"}}}, "ab_test.variants[1].subject", "line 1, column"},
		{"a body template error", campaigns.ABTest{Variants: []campaigns.Variant{{Subject: "Alpha"}, {HTMLBody: "<p>\n{{if .FirstName}}</p>"}}}, "ab_test.variants[1].html_body", "line"},
		{"a from name on two lines", campaigns.ABTest{Variants: []campaigns.Variant{{Subject: "Alpha"}, {FromName: "Ann\r\nBcc: x@example.com"}}}, "ab_test.variants[1].from_name", "single line"},
		{"too large a share", campaigns.ABTest{TestPercent: 60, Variants: two}, "ab_test.test_percent", "between 5 and 50"},
		{"too small a share", campaigns.ABTest{TestPercent: 4, Variants: two}, "ab_test.test_percent", "between 5 and 50"},
		{"an unknown metric", campaigns.ABTest{WinnerMetric: "likes", Variants: two}, "ab_test.winner_metric", "opens, clicks or revenue"},
		{"too long a test", campaigns.ABTest{TestHours: 169, Variants: two}, "ab_test.test_hours", "between 1 and 168"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before int64
			w.DB.Model(&campaigns.Campaign{}).Count(&before)
			name, subj, html, from := "Bad", "Spring", "<p>Hi</p>", "news@shop.example.com"
			_, err := w.Svc.Create(context.Background(), campaigns.Input{Name: &name, Subject: &subj, HTMLBody: &html, FromEmail: &from, ABTest: &tc.ab})
			var ie *errs.InvalidError
			if !errors.As(err, &ie) || ie.Path != tc.path || !strings.Contains(ie.Message, tc.msg) {
				t.Fatalf("err = %v, want %s: ...%s...", err, tc.path, tc.msg)
			}
			var after int64
			w.DB.Model(&campaigns.Campaign{}).Count(&after)
			if after != before {
				t.Fatal("a campaign was stored")
			}
		})
	}
	// Defaults fill in what is left out; no variants removes the test.
	c := w.create(t, campaigns.ABTest{Variants: two})
	if c.ABTest == nil || c.ABTest.TestPercent != 20 || c.ABTest.WinnerMetric != campaigns.MetricOpens || c.ABTest.TestHours != 4 || c.ABTest.Variants[1].Label != "B" {
		t.Fatalf("defaults: %+v", c.ABTest)
	}
	c, err := w.Svc.Update(context.Background(), c.ID, campaigns.Input{ABTest: &campaigns.ABTest{}})
	if err != nil || c.ABTest != nil {
		t.Fatalf("removing the test: %+v, %v", c.ABTest, err)
	}
}

// A worker that hangs while sending the winner to the rest loses its
// claim to the sweep and sends nothing more of it; the rest go out from
// another worker, and across both phases every contact gets one message:
// the one the hung worker was completing is unknown in the ledger, never
// sent again on its own.
func TestABTestSendsEachContactOnceWhenAWorkerHangsSendingTheWinner(t *testing.T) {
	w, svc := attemptsWorld(t, 10)
	ctx := context.Background()
	emails := w.AddContacts(t, 40, "NL")
	name, subj, html, from := "Spring", "Spring sale", "<p>Hi</p>", "news@shop.example.com"
	seg := []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}
	c, err := svc.Create(ctx, campaigns.Input{Name: &name, Subject: &subj, HTMLBody: &html, FromEmail: &from, SegmentIDs: &seg,
		ABTest: &campaigns.ABTest{TestPercent: 50, Variants: []campaigns.Variant{{Subject: "Alpha"}, {Subject: "Beta"}}}})
	if err != nil {
		t.Fatal(err)
	}
	m := &stallingMailer{n: 5, stalled: make(chan struct{}), release: make(chan struct{})}
	test := w.Launch(t, svc, c.ID)
	if len(test) != 20 {
		t.Fatalf("the test share has %d deliveries, want 20", len(test))
	}
	if err := campaigns.NewSender(svc, &m.Mailer, nil).SendBatch(ctx, c.ID, test, false); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.DecideWinner(ctx, c.ID, 2, "ann@shop.example.com"); err != nil {
		t.Fatal(err)
	}
	var rest []int64
	if err := w.DB.Model(&campaigns.Delivery{}).Where("campaign_id = ? AND status = ?", c.ID, campaigns.DeliveryQueued).Order("id").Pluck("id", &rest).Error; err != nil {
		t.Fatal(err)
	}
	if len(rest) != 20 {
		t.Fatalf("the winner released %d deliveries, want 20", len(rest))
	}
	done := make(chan error, 1)
	go func() { done <- campaigns.NewSender(svc, m, nil).SendBatch(ctx, c.ID, rest, false) }()
	select {
	case <-m.stalled:
	case err := <-done:
		t.Fatalf("the sender finished without stalling: %v", err)
	}
	if err := svc.Sweep(ctx, 0); err != nil {
		t.Fatal(err)
	}
	close(m.release)
	if err := <-done; err != nil && !errors.Is(err, campaigns.ErrRetryLater) {
		t.Fatal(err)
	}
	w.Drain(t, c.ID, campaigns.NewSender(svc, &m.Mailer, nil))
	for _, e := range emails {
		if got := m.Count(e); got != 1 {
			t.Errorf("%s got %d messages, want 1", e, got)
		}
	}
	subjects := map[string]int{}
	for _, msg := range m.Msgs {
		subjects[msg.Subject]++
	}
	// The hung worker's accepted message is counted by address only.
	if subjects["Alpha"] != 10 || subjects["Beta"] != 29 || len(m.Msgs) != 39 {
		t.Errorf("subjects %v, want Alpha 10 and Beta 10 + 19 recorded", subjects)
	}
	st, _ := w.Rep.Stats(ctx, c.ID)
	if st.Sent != 39 || st.Unknown != 1 || st.Held != 0 || st.Queued != 0 {
		t.Errorf("ledger: %d sent, %d unknown, %d held, %d queued; want 39, 1, 0, 0", st.Sent, st.Unknown, st.Held, st.Queued)
	}
}

// The held deliveries are released in chunks after the winner is
// recorded; if the release stops half-way (a crash), the next launch (the
// sweep runs one every 30 s) releases the rest, with the winner's content.
func TestABTestReleaseCutShortIsFinishedByTheNextLaunch(t *testing.T) {
	w := newABWorld(t, 30, campaigns.CapConfig{})
	ctx := context.Background()
	c := w.create(t, campaigns.ABTest{TestPercent: 20, Variants: []campaigns.Variant{{Subject: "Alpha"}, {Subject: "Beta"}}})
	if _, err := w.Svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	w.run(t, c.ID)
	if n, err := w.Svc.DecideWinner(ctx, c.ID, 2, ""); err != nil || n != 24 {
		t.Fatalf("decide: %d held, %v; want 24", n, err)
	}
	// As if the process died before the last chunk: 10 still held.
	if err := w.DB.Exec(`UPDATE deliveries SET status = ? WHERE id IN (SELECT id FROM deliveries WHERE campaign_id = ? AND status = ? ORDER BY id DESC LIMIT 10)`,
		campaigns.DeliveryHeld, c.ID, campaigns.DeliveryQueued).Error; err != nil {
		t.Fatal(err)
	}
	w.run(t, c.ID)
	if st := w.Stats(t, c.ID); st.Held != 0 || st.Sent != 30 {
		t.Fatalf("after the next launch: %d held, %d sent; want 0 and 30", st.Held, st.Sent)
	}
	if got := w.subjects(); got["Alpha"] != 3 || got["Beta"] != 27 {
		t.Fatalf("sent %v", got)
	}
	for _, e := range w.emails {
		if n := w.mailer.Count(e); n != 1 {
			t.Fatalf("%s got %d messages", e, n)
		}
	}
}

// Whatever the audience, share and number of variants, the test shares
// add up to round(total * percent / 100), differ by one at most, and the
// larger ones come first.
func FuzzTestShares(f *testing.F) {
	for _, seed := range []struct {
		total  int64
		pct, n int
	}{{1000, 20, 2}, {101, 20, 3}, {103, 30, 4}, {0, 5, 2}, {1, 50, 4}, {9999999, 50, 3}} {
		f.Add(seed.total, seed.pct, seed.n)
	}
	f.Fuzz(func(t *testing.T, total int64, pct, variants int) {
		if total < 0 || total > 1<<40 || pct < campaigns.MinTestPercent || pct > campaigns.MaxTestPercent || variants < campaigns.MinVariants || variants > campaigns.MaxVariants {
			t.Skip()
		}
		shares := campaigns.TestShares(total, pct, variants)
		want := int64(math.Round(float64(total) * float64(pct) / 100))
		var sum int64
		for i, n := range shares {
			sum += n
			if i > 0 && (n > shares[i-1] || shares[0]-n > 1) {
				t.Fatalf("shares %v of %d at %d%% are not even, larger first", shares, total, pct)
			}
		}
		if sum != want || len(shares) != variants {
			t.Fatalf("shares %v of %d at %d%% add up to %d, want %d", shares, total, pct, sum, want)
		}
	})
}
