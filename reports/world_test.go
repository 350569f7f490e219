package reports_test

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
