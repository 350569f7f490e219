package campaigns_test

import (
	"context"
	"sync"
	"testing"

	"herald/campaigns"
)

// TestOneSenderRunningManyBatchesAtOnceSendsEachRecipientOnce runs every
// batch on one Sender at once, as the tasks of one worker process do, so
// that their claims and settlements share transactions (the ledger's group
// commit).
func TestOneSenderRunningManyBatchesAtOnceSendsEachRecipientOnce(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	emails := w.addContacts(t, 120, "NL")
	c := w.campaign(t, []int64{w.segment(t, "NL", eqSegment("NL"))}, nil)
	if _, err := w.svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Launch(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	m := &mailer{}
	sender := campaigns.NewSender(w.svc, m, nil)
	var wg sync.WaitGroup
	for _, ids := range w.q.pending() {
		for range 2 { // and each batch twice, as a duplicated task would
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := sender.SendBatch(ctx, c.ID, ids, false); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	for _, e := range emails {
		if n := m.count(e); n != 1 {
			t.Errorf("%s got %d messages", e, n)
		}
	}
	st, err := w.rep.Stats(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Sent != 120 || st.Queued != 0 || st.InFlight != 0 {
		t.Errorf("stats = %+v, want 120 sent", st)
	}
	if got, _ := w.svc.Get(ctx, c.ID); got.Status != campaigns.CampaignSent {
		t.Errorf("status = %s, want sent", got.Status)
	}
}

// limiter records how many deliveries were in flight whenever a sender
// waited for the rate limit.
type limiter struct {
	w        *world
	mu       sync.Mutex
	waits    int
	inFlight int64
}

func (l *limiter) Take(ctx context.Context, n int) error {
	var k int64
	l.w.db.Model(&campaigns.Delivery{}).Where("status = ?", campaigns.DeliverySending).Count(&k)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waits++
	l.inFlight += k
	return nil
}

// TestSenderHoldsNoClaimWhileItWaitsForTheRateLimit: a slow rate must not
// stretch the window of doubt, so the previous chunk is settled and the
// next one claimed only after the wait.
func TestSenderHoldsNoClaimWhileItWaitsForTheRateLimit(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	emails := w.addContacts(t, 14, "NL")
	c := w.campaign(t, []int64{w.segment(t, "NL", eqSegment("NL"))}, nil)
	if _, err := w.svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	m := &mailer{}
	lim := &limiter{w: w}
	w.drain(t, c.ID, campaigns.NewSender(w.svc, m, lim))
	if lim.waits == 0 || lim.inFlight != 0 {
		t.Errorf("%d waits for the rate limit, with %d deliveries in flight in all; want waits and none in flight", lim.waits, lim.inFlight)
	}
	for _, e := range emails {
		if n := m.count(e); n != 1 {
			t.Errorf("%s got %d messages", e, n)
		}
	}
}
