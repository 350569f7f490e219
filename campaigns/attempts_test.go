package campaigns_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"herald/campaigns"
	"herald/internal/campaigntest"
	"herald/internal/testenv"
	"herald/reports"
	"herald/worker"
)

// attemptsWorld is a world whose senders keep their claims' records in
// Redis (the embedded one, or the real one in CI), as workers do.
func attemptsWorld(t *testing.T, claimSize int) (*campaigntest.World, *campaigns.Service) {
	t.Helper()
	w := campaigntest.NewWorld(t)
	opt, err := redis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	svc := campaigns.NewService(w.DB, w.Contacts, w.Segments, w.Q, nil, campaigns.Config{
		BaseURL: "https://h.example", LaunchPage: 50, ClaimSize: claimSize, Log: testenv.Logger(),
		Attempts: worker.NewAttempts(rdb),
	})
	w.Svc = svc
	w.Rep = reports.New(w.DB, svc, w.Contacts, reports.Config{})
	return w, svc
}

// stallingMailer accepts every message, but holds the n-th one after its
// Commit (the end of its data written, the server's answer not yet read)
// until release is closed: a worker that hangs or dies at the worst moment.
type stallingMailer struct {
	campaigntest.Mailer
	mu      sync.Mutex
	n       int64
	seen    int
	stalled chan struct{}
	release chan struct{}
	once    sync.Once
}

func (m *stallingMailer) Send(ctx context.Context, msg *campaigns.Message) error {
	m.mu.Lock()
	m.seen++
	stall := int64(m.seen) == m.n
	m.mu.Unlock()
	if !stall {
		return m.Mailer.Send(ctx, msg)
	}
	if err := msg.Commit(); err != nil {
		return err
	}
	m.once.Do(func() { close(m.stalled) })
	<-m.release
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Got == nil {
		m.Got = map[string]int{}
	}
	m.Got[msg.To]++ // the server did accept it
	return nil
}

func TestSweepSettlesAStalledClaimFromItsRecord(t *testing.T) {
	tests := []struct {
		name  string
		stall int64 // the message (1-based) the worker stalls on
	}{
		{"stalled on the first message of the claim", 1},
		{"stalled mid-claim", 5},
		{"stalled on the last message of the claim", 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, svc := attemptsWorld(t, 10)
			ctx := context.Background()
			emails := w.AddContacts(t, 30, "NL")
			c := w.Campaign(t, []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}, nil)
			all := w.Launch(t, svc, c.ID)
			m := &stallingMailer{n: tc.stall, stalled: make(chan struct{}), release: make(chan struct{})}
			done := make(chan error, 1)
			go func() { done <- campaigns.NewSender(svc, m, nil).SendBatch(ctx, c.ID, all, false) }()
			select {
			case <-m.stalled:
			case err := <-done:
				t.Fatalf("the sender finished without stalling: %v", err)
			}

			// The sweep takes the claim back while the worker hangs.
			if err := svc.Sweep(ctx, 0); err != nil {
				t.Fatal(err)
			}
			st, _ := w.Rep.Stats(ctx, c.ID)
			if st.InFlight != 0 || st.Unknown != 1 || st.Sent != tc.stall-1 || st.Queued != 30-tc.stall {
				t.Fatalf("after the sweep: %d sent, %d unknown, %d queued, %d in flight; want %d, 1, %d, 0",
					st.Sent, st.Unknown, st.Queued, st.InFlight, tc.stall-1, 30-tc.stall)
			}

			// The hung worker wakes up: it may not send anything more of
			// the claim it lost.
			close(m.release)
			if err := <-done; err != nil && !errors.Is(err, campaigns.ErrRetryLater) {
				t.Fatal(err)
			}
			w.Drain(t, c.ID, campaigns.NewSender(svc, &m.Mailer, nil))
			for i, e := range emails {
				if got := m.Count(e); got != 1 {
					t.Errorf("%s (message %d) got %d messages, want 1", e, i+1, got)
				}
			}
			st, _ = w.Rep.Stats(ctx, c.ID)
			if st.Sent != 29 || st.Unknown != 1 {
				t.Errorf("final ledger: %d sent, %d unknown; want 29 and 1", st.Sent, st.Unknown)
			}
			if got, _ := svc.Get(ctx, c.ID); got.Status != campaigns.CampaignSent {
				t.Errorf("status = %s, want sent", got.Status)
			}
		})
	}
}

func TestSweepLeavesAClaimWithoutARecordUnknown(t *testing.T) {
	w, svc := attemptsWorld(t, 10)
	ctx := context.Background()
	w.AddContacts(t, 12, "NL")
	c := w.Campaign(t, []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}, nil)
	svc.Send(ctx, c.ID, nil)
	if err := svc.Launch(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	// A claim whose record Redis lost (a restart without persistence).
	long := time.Now().UTC().Add(-time.Hour)
	if err := w.DB.Model(&campaigns.Delivery{}).Where("id IN (SELECT id FROM deliveries ORDER BY id LIMIT 4)").
		Updates(map[string]any{"status": campaigns.DeliverySending, "claim": "0123456789abcdef01234567", "claimed_at": long}).Error; err != nil {
		t.Fatal(err)
	}
	if err := svc.Sweep(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	m := &campaigntest.Mailer{}
	w.Drain(t, c.ID, campaigns.NewSender(svc, m, nil))
	st, _ := w.Rep.Stats(ctx, c.ID)
	if st.Unknown != 4 || st.Sent != 8 {
		t.Errorf("ledger: %d unknown, %d sent; want 4 and 8", st.Unknown, st.Sent)
	}
}
