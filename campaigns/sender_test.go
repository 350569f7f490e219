package campaigns_test

import (
	"context"
	"sync"
	"testing"

	"herald/campaigns"
	"herald/internal/campaigntest"
)

// TestOneSenderRunningManyBatchesAtOnceSendsEachRecipientOnce runs every
// batch on one Sender at once, as the tasks of one worker process do, so
// that their claims and settlements share transactions (the ledger's group
// commit).
func TestOneSenderRunningManyBatchesAtOnceSendsEachRecipientOnce(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	emails := w.AddContacts(t, 120, "NL")
	c := w.Campaign(t, []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}, nil)
	if _, err := w.Svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Svc.Launch(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	m := &campaigntest.Mailer{}
	sender := campaigns.NewSender(w.Svc, m, nil)
	var wg sync.WaitGroup
	for _, ids := range w.Q.Pending() {
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
		if n := m.Count(e); n != 1 {
			t.Errorf("%s got %d messages", e, n)
		}
	}
	st, err := w.Rep.Stats(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Sent != 120 || st.Queued != 0 || st.InFlight != 0 {
		t.Errorf("stats = %+v, want 120 sent", st)
	}
	if got, _ := w.Svc.Get(ctx, c.ID); got.Status != campaigns.CampaignSent {
		t.Errorf("status = %s, want sent", got.Status)
	}
}

// limiter records how many deliveries were in flight whenever a sender
// waited for the rate limit.
type limiter struct {
	w        *campaigntest.World
	mu       sync.Mutex
	waits    int
	inFlight int64
}

func (l *limiter) Take(ctx context.Context, n int) error {
	var k int64
	l.w.DB.Model(&campaigns.Delivery{}).Where("status = ?", campaigns.DeliverySending).Count(&k)
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
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	emails := w.AddContacts(t, 14, "NL")
	c := w.Campaign(t, []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}, nil)
	if _, err := w.Svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	m := &campaigntest.Mailer{}
	lim := &limiter{w: w}
	w.Drain(t, c.ID, campaigns.NewSender(w.Svc, m, lim))
	if lim.waits == 0 || lim.inFlight != 0 {
		t.Errorf("%d waits for the rate limit, with %d deliveries in flight in all; want waits and none in flight", lim.waits, lim.inFlight)
	}
	for _, e := range emails {
		if n := m.Count(e); n != 1 {
			t.Errorf("%s got %d messages", e, n)
		}
	}
}
