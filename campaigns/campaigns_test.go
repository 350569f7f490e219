package campaigns_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/errs"
	"herald/internal/testenv"
	"herald/reports"
	"herald/segments"
	"herald/tracking"
)

// queue records what the service enqueues, so a test can run it.
type queue struct {
	mu       sync.Mutex
	launches []int64
	batches  map[string][]int64 // "campaign:batch" -> delivery ids
	order    []string
}

func (q *queue) EnqueueLaunch(_ context.Context, id int64, _ time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.launches = append(q.launches, id)
	return nil
}

func (q *queue) EnqueueSend(_ context.Context, id int64, batch int, ids []int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.batches == nil {
		q.batches = map[string][]int64{}
	}
	k := fmt.Sprintf("%d:%d", id, batch)
	if _, ok := q.batches[k]; !ok {
		q.order = append(q.order, k)
	}
	q.batches[k] = ids
	return nil
}

func (q *queue) pending() [][]int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out [][]int64
	for _, k := range q.order {
		out = append(out, q.batches[k])
	}
	return out
}

// mailer records every message per recipient; fail decides failures.
type mailer struct {
	mu   sync.Mutex
	got  map[string]int
	msgs []*campaigns.Message
	fail func(to string, attempt int) error
}

func (m *mailer) Send(_ context.Context, msg *campaigns.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.got == nil {
		m.got = map[string]int{}
	}
	if m.fail != nil {
		if err := m.fail(msg.To, m.attempts(msg.To)); err != nil {
			m.record("attempt:" + msg.To)
			return err
		}
	}
	// The point of no return, as an SMTP mailer reaches it after DATA.
	if msg.Commit != nil {
		if err := msg.Commit(); err != nil {
			return err
		}
	}
	m.got[msg.To]++
	m.msgs = append(m.msgs, msg)
	return nil
}

func (m *mailer) attempts(to string) int { return m.got["attempt:"+to] }
func (m *mailer) record(k string)        { m.got[k]++ }

func (m *mailer) count(to string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.got[to]
}

type world struct {
	db       *gorm.DB
	contacts *contacts.Store
	segments *segments.Service
	svc      *campaigns.Service
	rep      *reports.Service
	q        *queue
}

func newWorld(t *testing.T) *world {
	t.Helper()
	g := testenv.DB(t, func(g *gorm.DB) error {
		for _, m := range []func(*gorm.DB) error{contacts.Migrate, segments.Migrate, campaigns.Migrate} {
			if err := m(g); err != nil {
				return err
			}
		}
		return nil
	})
	cs := contacts.NewStore(g, contacts.Options{})
	ss := segments.NewService(g, cs, nil, nil)
	signer, err := tracking.NewSigner([]byte("a test secret of enough length"))
	if err != nil {
		t.Fatal(err)
	}
	q := &queue{}
	svc := campaigns.NewService(g, cs, ss, q, signer, campaigns.Config{BaseURL: "https://h.example", LaunchPage: 7, ClaimSize: 3, Log: testenv.Logger()})
	return &world{db: g, contacts: cs, segments: ss, svc: svc, rep: reports.New(g, svc, cs, reports.Config{}), q: q}
}

func (w *world) addContacts(t *testing.T, n int, country string) []string {
	t.Helper()
	var ins []contacts.Input
	var emails []string
	for i := 0; i < n; i++ {
		e := fmt.Sprintf("%s%03d@example.com", strings.ToLower(country), i)
		c := country
		ins = append(ins, contacts.Input{Email: &e, Country: &c})
		emails = append(emails, e)
	}
	res, err := w.contacts.UpsertMany(context.Background(), ins)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	return emails
}

// recordEvents records evs, failing the test if the batch or any event
// of it is refused.
func (w *world) recordEvents(t *testing.T, evs ...contacts.EventInput) {
	t.Helper()
	res, err := w.contacts.RecordEvents(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("event %d: %v", i, r.Err)
		}
	}
}

// stats returns the campaign's stats, failing the test on an error.
func (w *world) stats(t *testing.T, id int64) reports.Stats {
	t.Helper()
	st, err := w.rep.Stats(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (w *world) segment(t *testing.T, name string, def any) int64 {
	t.Helper()
	raw, _ := json.Marshal(def)
	s, err := w.segments.Create(context.Background(), segments.Input{Name: &name, Definition: raw})
	if err != nil {
		t.Fatal(err)
	}
	return s.ID
}

func (w *world) campaign(t *testing.T, include, exclude []int64) campaigns.Campaign {
	t.Helper()
	name, subj, html, from := "Spring", `Hello {{.FirstName | default "there"}}`, `<p>Hi</p><a href="https://shop.example.com/">Shop</a>`, "news@shop.example.com"
	c, err := w.svc.Create(context.Background(), campaigns.Input{Name: &name, Subject: &subj, HTMLBody: &html, FromEmail: &from, SegmentIDs: &include, ExcludeSegmentIDs: &exclude})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// drain runs launch and every enqueued batch with sender until nothing is
// left, the way workers would.
func (w *world) drain(t *testing.T, id int64, sender *campaigns.Sender) {
	t.Helper()
	ctx := context.Background()
	if err := w.svc.Launch(ctx, id); err != nil {
		t.Fatal(err)
	}
	for _, ids := range w.q.pending() {
		if err := sender.SendBatch(ctx, id, ids, false); err != nil && !errors.Is(err, campaigns.ErrRetryLater) {
			t.Fatal(err)
		}
	}
}

// launch sends the campaign, runs its launch and returns the ids of every
// delivery it enqueued, for tests that drive the sender themselves.
func (w *world) launch(t *testing.T, svc *campaigns.Service, id int64) []int64 {
	t.Helper()
	ctx := context.Background()
	if _, err := svc.Send(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	if err := svc.Launch(ctx, id); err != nil {
		t.Fatal(err)
	}
	var all []int64
	for _, b := range w.q.pending() {
		all = append(all, b...)
	}
	return all
}

func eqSegment(country string) map[string]any {
	return map[string]any{"field": "country", "op": "eq", "value": country}
}

func TestSendReachesEachSubscribedMemberOnceAcrossSegmentsMinusExclusions(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	nl := w.addContacts(t, 10, "NL")
	be := w.addContacts(t, 6, "BE")
	w.addContacts(t, 5, "DE")
	segNL := w.segment(t, "NL", eqSegment("NL"))
	segBenelux := w.segment(t, "Benelux", map[string]any{"field": "country", "op": "in", "value": []string{"NL", "BE"}})
	vip := w.segment(t, "NL000-2", map[string]any{"field": "email", "op": "in", "value": []string{nl[0], nl[1], nl[2]}})

	// Suppressed contacts are never sent to.
	for _, e := range []string{nl[3], be[0]} {
		c, _ := w.contacts.GetByEmail(ctx, e)
		if _, err := w.contacts.SetStatus(ctx, c.ID, contacts.Unsubscribed); err != nil {
			t.Fatal(err)
		}
	}
	c := w.campaign(t, []int64{segNL, segBenelux}, []int64{vip})
	if _, err := w.svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	m := &mailer{}
	w.drain(t, c.ID, campaigns.NewSender(w.svc, m, nil))

	want := map[string]int{}
	for _, e := range append(nl[4:], be[1:]...) {
		want[e] = 1
	}
	for e, n := range want {
		if m.count(e) != n {
			t.Errorf("%s got %d messages, want %d", e, m.count(e), n)
		}
	}
	if len(m.msgs) != len(want) {
		t.Errorf("sent %d messages, want %d", len(m.msgs), len(want))
	}
	got, _ := w.svc.Get(ctx, c.ID)
	if got.Status != campaigns.CampaignSent || got.Total != int64(len(want)) {
		t.Errorf("campaign = %s with %d deliveries, want sent with %d", got.Status, got.Total, len(want))
	}
	st, _ := w.rep.Stats(ctx, c.ID)
	if st.Sent != int64(len(want)) || st.Queued != 0 {
		t.Errorf("stats = %+v", st)
	}
	msg := m.msgs[0]
	if msg.ListUnsubscribe == "" || msg.MessageID == "" || msg.Text == "" {
		t.Errorf("message lacks headers or text part: %+v", msg)
	}
}

func TestLaunchingTwiceOrSendingABatchTwiceSendsOnce(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	emails := w.addContacts(t, 25, "NL")
	c := w.campaign(t, []int64{w.segment(t, "NL", eqSegment("NL"))}, nil)
	if _, err := w.svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	// Two launches (a duplicate task, a sweep) and every batch run by
	// three senders at once, as three workers holding the same task would.
	for i := 0; i < 2; i++ {
		if err := w.svc.Launch(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
	}
	m := &mailer{}
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		sender := campaigns.NewSender(w.svc, m, nil)
		for _, ids := range w.q.pending() {
			wg.Add(1)
			go func(ids []int64) {
				defer wg.Done()
				if err := sender.SendBatch(ctx, c.ID, ids, false); err != nil {
					t.Error(err)
				}
			}(ids)
		}
	}
	wg.Wait()
	for _, e := range emails {
		if n := m.count(e); n != 1 {
			t.Errorf("%s got %d messages", e, n)
		}
	}
	st, _ := w.rep.Stats(ctx, c.ID)
	if st.Total != 25 || st.Sent != 25 {
		t.Errorf("stats = %+v", st)
	}
}

func TestFailuresAreRetriedBouncedOrFailedByKind(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.addContacts(t, 6, "NL")
	c := w.campaign(t, []int64{w.segment(t, "NL", eqSegment("NL"))}, nil)
	if _, err := w.svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	m := &mailer{fail: func(to string, attempt int) error {
		switch to {
		case "nl000@example.com": // greylisted once
			if attempt == 0 {
				return &campaigns.SendError{Temporary: true, Code: 451, Msg: "try later"}
			}
		case "nl001@example.com":
			return &campaigns.SendError{Recipient: true, Code: 550, Msg: "no such user"}
		case "nl002@example.com":
			return &campaigns.SendError{Code: 554, Msg: "message refused"}
		case "nl003@example.com": // never accepted
			return &campaigns.SendError{Temporary: true, Code: 421, Msg: "busy"}
		}
		return nil
	}}
	sender := campaigns.NewSender(w.svc, m, nil)
	if err := w.svc.Launch(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	batches := w.q.pending()
	var all []int64
	for _, b := range batches {
		all = append(all, b...)
	}
	if err := sender.SendBatch(ctx, c.ID, all, false); !errors.Is(err, campaigns.ErrRetryLater) {
		t.Fatalf("first run: %v, want ErrRetryLater", err)
	}
	if err := sender.SendBatch(ctx, c.ID, all, false); !errors.Is(err, campaigns.ErrRetryLater) {
		t.Fatalf("second run: %v, want ErrRetryLater (421 persists)", err)
	}
	// The queue's last attempt: what is still temporary fails for good.
	if err := sender.SendBatch(ctx, c.ID, all, true); err != nil {
		t.Fatalf("final run: %v", err)
	}
	var rows []campaigns.Delivery
	w.db.Order("id").Find(&rows)
	byContact := map[int64]campaigns.DeliveryStatus{}
	for _, r := range rows {
		byContact[r.ContactID] = r.Status
	}
	want := map[string]campaigns.DeliveryStatus{
		"nl000@example.com": campaigns.DeliverySent, "nl001@example.com": campaigns.DeliveryBounced,
		"nl002@example.com": campaigns.DeliveryFailed, "nl003@example.com": campaigns.DeliveryFailed,
		"nl004@example.com": campaigns.DeliverySent, "nl005@example.com": campaigns.DeliverySent,
	}
	for e, st := range want {
		ct, _ := w.contacts.GetByEmail(ctx, e)
		if byContact[ct.ID] != st {
			t.Errorf("%s: %s, want %s", e, byContact[ct.ID], st)
		}
		if m.count(e) > 1 {
			t.Errorf("%s got %d messages", e, m.count(e))
		}
	}
	// A hard bounce suppresses the address.
	bounced, _ := w.contacts.GetByEmail(ctx, "nl001@example.com")
	if bounced.Status != contacts.Bounced {
		t.Errorf("bounced contact status = %s", bounced.Status)
	}
	got, _ := w.svc.Get(ctx, c.ID)
	if got.Status != campaigns.CampaignSent {
		t.Errorf("campaign status = %s, want sent", got.Status)
	}
}

func TestPauseStopsSendingAndResumeFinishes(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	emails := w.addContacts(t, 12, "NL")
	c := w.campaign(t, []int64{w.segment(t, "NL", eqSegment("NL"))}, nil)
	if _, err := w.svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Launch(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	m := &mailer{}
	sender := campaigns.NewSender(w.svc, m, nil)
	batches := w.q.pending()
	if err := sender.SendBatch(ctx, c.ID, batches[0], false); err != nil {
		t.Fatal(err)
	}
	sentBefore := len(m.msgs)
	if _, err := w.svc.Pause(ctx, c.ID, "checking the content"); err != nil {
		t.Fatal(err)
	}
	// A fresh sender (another worker) sees the pause at once.
	other := campaigns.NewSender(w.svc, m, nil)
	for _, b := range batches[1:] {
		if err := other.SendBatch(ctx, c.ID, b, false); err != nil {
			t.Fatal(err)
		}
	}
	if len(m.msgs) != sentBefore {
		t.Fatalf("sent %d messages while paused", len(m.msgs)-sentBefore)
	}
	if _, err := w.svc.Resume(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	w.drain(t, c.ID, campaigns.NewSender(w.svc, m, nil))
	for _, e := range emails {
		if m.count(e) != 1 {
			t.Errorf("%s got %d messages", e, m.count(e))
		}
	}
	got, _ := w.svc.Get(ctx, c.ID)
	if got.Status != campaigns.CampaignSent {
		t.Errorf("status = %s", got.Status)
	}
}

func TestCancelSkipsWhatIsLeft(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.addContacts(t, 10, "NL")
	c := w.campaign(t, []int64{w.segment(t, "NL", eqSegment("NL"))}, nil)
	w.svc.Send(ctx, c.ID, nil)
	if err := w.svc.Launch(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Cancel(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	m := &mailer{}
	w.drain(t, c.ID, campaigns.NewSender(w.svc, m, nil))
	if len(m.msgs) != 0 {
		t.Fatalf("a cancelled campaign sent %d messages", len(m.msgs))
	}
	st, _ := w.rep.Stats(ctx, c.ID)
	if st.Skipped != 10 {
		t.Errorf("stats = %+v, want 10 skipped", st)
	}
	if _, err := w.svc.Resume(ctx, c.ID); !errors.Is(err, errs.ErrConflict) {
		t.Errorf("resume of a cancelled campaign: %v, want a conflict", err)
	}
}

func TestStateMachineRefusesInvalidTransitions(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.addContacts(t, 1, "NL")
	seg := w.segment(t, "NL", eqSegment("NL"))
	tests := []struct {
		name string
		act  func(id int64) error
	}{
		{"pause a draft", func(id int64) error { _, err := w.svc.Pause(ctx, id, ""); return err }},
		{"resume a draft", func(id int64) error { _, err := w.svc.Resume(ctx, id); return err }},
		{"send twice", func(id int64) error {
			if _, err := w.svc.Send(ctx, id, nil); err != nil {
				return err
			}
			_, err := w.svc.Send(ctx, id, nil)
			return err
		}},
		{"edit while sending", func(id int64) error {
			if _, err := w.svc.Send(ctx, id, nil); err != nil {
				return err
			}
			name := "x"
			_, err := w.svc.Update(ctx, id, campaigns.Input{Name: &name})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := w.campaign(t, []int64{seg}, nil)
			if err := tc.act(c.ID); !errors.Is(err, errs.ErrConflict) {
				t.Fatalf("got %v, want a conflict", err)
			}
		})
	}
}

func TestScheduledCampaignWaitsForItsTime(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.addContacts(t, 3, "NL")
	c := w.campaign(t, []int64{w.segment(t, "NL", eqSegment("NL"))}, nil)
	at := time.Now().Add(time.Hour)
	got, err := w.svc.Send(ctx, c.ID, &at)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != campaigns.CampaignScheduled || got.ScheduledAt == nil {
		t.Fatalf("status = %s", got.Status)
	}
	// A launch that arrives early (an old schedule) changes nothing.
	if err := w.svc.Launch(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ = w.svc.Get(ctx, c.ID); got.Status != campaigns.CampaignScheduled || got.Total != 0 {
		t.Fatalf("early launch started the campaign: %s, %d deliveries", got.Status, got.Total)
	}
}

func TestSweepMarksDeliveriesLeftInFlightUnknownAndNeverResendsThem(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	emails := w.addContacts(t, 4, "NL")
	c := w.campaign(t, []int64{w.segment(t, "NL", eqSegment("NL"))}, nil)
	w.svc.Send(ctx, c.ID, nil)
	if err := w.svc.Launch(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	// A worker claimed the first delivery and died before settling it.
	var first campaigns.Delivery
	w.db.Order("id").Take(&first)
	long := time.Now().UTC().Add(-time.Hour)
	w.db.Model(&campaigns.Delivery{}).Where("id = ?", first.ID).Updates(map[string]any{"status": campaigns.DeliverySending, "claimed_at": long})

	m := &mailer{}
	w.drain(t, c.ID, campaigns.NewSender(w.svc, m, nil))
	if err := w.svc.Sweep(ctx, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	w.drain(t, c.ID, campaigns.NewSender(w.svc, m, nil))
	firstContact, _ := w.contacts.Get(ctx, first.ContactID)
	for _, e := range emails {
		want := 1
		if e == firstContact.Email {
			want = 0
		}
		if m.count(e) != want {
			t.Errorf("%s got %d messages, want %d", e, m.count(e), want)
		}
	}
	st, _ := w.rep.Stats(ctx, c.ID)
	if st.Unknown != 1 || st.Sent != 3 {
		t.Errorf("stats = %+v, want 1 unknown and 3 sent", st)
	}
	if got, _ := w.svc.Get(ctx, c.ID); got.Status != campaigns.CampaignSent {
		t.Errorf("status = %s", got.Status)
	}
}
