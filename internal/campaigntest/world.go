// Package campaigntest is the test world of the campaign and report
// tests: a database with contacts, segments and campaigns, a queue that
// records what the service enqueues and a mailer that records what it
// sends, so a test can run a send the way workers would.
package campaigntest

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

// Queue records what the service enqueues, so a test can run it.
type Queue struct {
	mu       sync.Mutex
	Launches []int64
	Batches  map[string][]int64 // "campaign:batch" -> delivery ids
	Order    []string
}

func (q *Queue) EnqueueLaunch(_ context.Context, id int64, _ time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.Launches = append(q.Launches, id)
	return nil
}

func (q *Queue) EnqueueSend(_ context.Context, id int64, batch int, ids []int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.Batches == nil {
		q.Batches = map[string][]int64{}
	}
	k := fmt.Sprintf("%d:%d", id, batch)
	if _, ok := q.Batches[k]; !ok {
		q.Order = append(q.Order, k)
	}
	q.Batches[k] = ids
	return nil
}

func (q *Queue) Pending() [][]int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out [][]int64
	for _, k := range q.Order {
		out = append(out, q.Batches[k])
	}
	return out
}

// Mailer records every message per recipient; fail decides failures.
type Mailer struct {
	mu   sync.Mutex
	Got  map[string]int
	Msgs []*campaigns.Message
	Fail func(to string, attempt int) error
}

func (m *Mailer) Send(_ context.Context, msg *campaigns.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Got == nil {
		m.Got = map[string]int{}
	}
	if m.Fail != nil {
		if err := m.Fail(msg.To, m.Attempts(msg.To)); err != nil {
			m.record("attempt:" + msg.To)
			return err
		}
	}
	// The point of no return, as an SMTP Mailer reaches it after DATA.
	if msg.Commit != nil {
		if err := msg.Commit(); err != nil {
			return err
		}
	}
	m.Got[msg.To]++
	m.Msgs = append(m.Msgs, msg)
	return nil
}

func (m *Mailer) Attempts(to string) int { return m.Got["attempt:"+to] }
func (m *Mailer) record(k string)        { m.Got[k]++ }

func (m *Mailer) Count(to string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.Got[to]
}

type World struct {
	DB       *gorm.DB
	Contacts *contacts.Store
	Segments *segments.Service
	Svc      *campaigns.Service
	Rep      *reports.Service
	Q        *Queue
}

// Secret is the world's HERALD_SECRET: its tracking tokens and VERP
// addresses are signed with it.
const Secret = "a test secret of enough length"

func NewWorld(t *testing.T) *World {
	t.Helper()
	return NewWorldWith(t, nil)
}

// NewWorldWith is NewWorld with the campaign service's configuration
// changed by configure (a return path, say) before it is built.
func NewWorldWith(t *testing.T, configure func(*campaigns.Config)) *World {
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
	signer, err := tracking.NewSigner([]byte(Secret))
	if err != nil {
		t.Fatal(err)
	}
	q := &Queue{}
	cfg := campaigns.Config{BaseURL: "https://h.example", LaunchPage: 7, ClaimSize: 3, Log: testenv.Logger()}
	if configure != nil {
		configure(&cfg)
	}
	svc := campaigns.NewService(g, cs, ss, q, signer, cfg)
	return &World{DB: g, Contacts: cs, Segments: ss, Svc: svc, Rep: reports.New(g, svc, cs, reports.Config{}), Q: q}
}

func (w *World) AddContacts(t *testing.T, n int, country string) []string {
	t.Helper()
	var ins []contacts.Input
	var emails []string
	for i := 0; i < n; i++ {
		e := fmt.Sprintf("%s%03d@example.com", strings.ToLower(country), i)
		c := country
		ins = append(ins, contacts.Input{Email: &e, Country: &c})
		emails = append(emails, e)
	}
	res, err := w.Contacts.UpsertMany(context.Background(), ins)
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

// RecordEvents records evs, failing the test if the batch or any event
// of it is refused.
func (w *World) RecordEvents(t *testing.T, evs ...contacts.EventInput) {
	t.Helper()
	res, err := w.Contacts.RecordEvents(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("event %d: %v", i, r.Err)
		}
	}
}

// Stats returns the campaign's stats, failing the test on an error.
func (w *World) Stats(t *testing.T, id int64) reports.Stats {
	t.Helper()
	st, err := w.Rep.Stats(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (w *World) Segment(t *testing.T, name string, def any) int64 {
	t.Helper()
	raw, _ := json.Marshal(def)
	s, err := w.Segments.Create(context.Background(), segments.Input{Name: &name, Definition: raw})
	if err != nil {
		t.Fatal(err)
	}
	return s.ID
}

func (w *World) Campaign(t *testing.T, include, exclude []int64) campaigns.Campaign {
	t.Helper()
	name, subj, html, from := "Spring", `Hello {{.FirstName | default "there"}}`, `<p>Hi</p><a href="https://shop.example.com/">Shop</a>`, "news@shop.example.com"
	c, err := w.Svc.Create(context.Background(), campaigns.Input{Name: &name, Subject: &subj, HTMLBody: &html, FromEmail: &from, SegmentIDs: &include, ExcludeSegmentIDs: &exclude})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Drain runs launch and every enqueued batch with sender until nothing is
// left, the way workers would.
func (w *World) Drain(t *testing.T, id int64, sender *campaigns.Sender) {
	t.Helper()
	ctx := context.Background()
	if err := w.Svc.Launch(ctx, id); err != nil {
		t.Fatal(err)
	}
	for _, ids := range w.Q.Pending() {
		if err := sender.SendBatch(ctx, id, ids, false); err != nil && !errors.Is(err, campaigns.ErrRetryLater) {
			t.Fatal(err)
		}
	}
}

// Launch sends the campaign, runs its launch and returns the ids of every
// delivery it enqueued, for tests that drive the sender themselves.
func (w *World) Launch(t *testing.T, svc *campaigns.Service, id int64) []int64 {
	t.Helper()
	ctx := context.Background()
	if _, err := svc.Send(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	if err := svc.Launch(ctx, id); err != nil {
		t.Fatal(err)
	}
	var all []int64
	for _, b := range w.Q.Pending() {
		all = append(all, b...)
	}
	return all
}

func EqSegment(country string) map[string]any {
	return map[string]any{"field": "country", "op": "eq", "value": country}
}

// Open is a person's open of campaign by contact.
func Open(contact, campaign int64) contacts.EventInput {
	return contacts.EventInput{ContactID: contact, Type: contacts.EventOpen, CampaignID: &campaign}
}
