package contacts_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"herald/contacts"
)

// run starts n goroutines at once and waits for them.
func run(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(i)
		}()
	}
	close(start)
	wg.Wait()
}

func TestConcurrentUpsertsOfANewEmailMakeOneContact(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	const workers = 8
	for round := range 5 {
		email := fmt.Sprintf("race%d@example.com", round)
		ids := make([]int64, workers)
		created := make([]bool, workers)
		errs := make([]error, workers)
		run(workers, func(i int) {
			var c contacts.Contact
			c, created[i], errs[i] = s.Upsert(ctx, contacts.Input{
				Email:      ptr(email),
				FirstName:  ptr(fmt.Sprintf("W%d", i)),
				Attributes: map[string]any{fmt.Sprintf("w%d", i): true},
			})
			ids[i] = c.ID
		})
		nCreated := 0
		for i := range workers {
			if errs[i] != nil {
				t.Fatalf("round %d, worker %d: %v", round, i, errs[i])
			}
			if ids[i] != ids[0] {
				t.Errorf("round %d: workers answered contacts %d and %d", round, ids[0], ids[i])
			}
			if created[i] {
				nCreated++
			}
		}
		if nCreated != 1 {
			t.Errorf("round %d: %d upserts reported created, want 1", round, nCreated)
		}
		c, err := s.GetByEmail(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Attributes) != workers {
			t.Errorf("round %d: attributes %v; every upsert's attribute should be kept", round, c.Attributes)
		}
	}
	if n, _ := s.Count(ctx); n != 5 {
		t.Errorf("%d contacts, want 5", n)
	}
}

func TestConcurrentPurchasesAllCount(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	c := mustUpsert(t, s, contacts.Input{Email: ptr("busy@example.com")})
	other := mustUpsert(t, s, contacts.Input{Email: ptr("other@example.com")})
	const workers = 8
	errs := make([]error, workers)
	run(workers, func(i int) {
		// Each batch touches both contacts, in opposite orders, so that
		// locks taken in batch order would deadlock.
		evs := []contacts.EventInput{
			{ContactID: c.ID, Type: contacts.EventPurchase, Amount: 100, OccurredAt: day.AddDate(0, 0, i), OrderID: fmt.Sprintf("c-%d", i)},
			{ContactID: other.ID, Type: contacts.EventOpen, OccurredAt: day.AddDate(0, 0, i)},
		}
		if i%2 == 1 {
			evs[0], evs[1] = evs[1], evs[0]
		}
		_, errs[i] = s.RecordEvents(ctx, evs)
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v", i, err)
		}
	}
	got, _ := s.Get(ctx, c.ID)
	if got.OrdersCount != workers || got.TotalSpent != 100*workers {
		t.Errorf("orders_count %d total_spent %d, want %d and %d", got.OrdersCount, got.TotalSpent, workers, 100*workers)
	}
	if want := day.AddDate(0, 0, workers-1); !sameTimePtr(got.LastPurchaseAt, want) {
		t.Errorf("last_purchase_at %s, want %s", fmtTime(got.LastPurchaseAt), want)
	}
}

func TestConcurrentUpsertsKeepAnUnsubscribe(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	for round := range 5 {
		email := fmt.Sprintf("leaving%d@example.com", round)
		c := mustUpsert(t, s, contacts.Input{Email: ptr(email)})
		const workers = 6
		errs := make([]error, workers)
		run(workers, func(i int) {
			switch i {
			case 0:
				_, errs[i] = s.RecordEvents(ctx, []contacts.EventInput{{ContactID: c.ID, Type: contacts.EventUnsubscribe}})
			case 1, 2:
				_, errs[i] = s.RecordEvents(ctx, []contacts.EventInput{{ContactID: c.ID, Type: contacts.EventPurchase, Amount: 5, OrderID: fmt.Sprintf("%s-%d", email, i)}})
			case 3, 4:
				_, _, errs[i] = s.Upsert(ctx, contacts.Input{Email: ptr(email), City: ptr(fmt.Sprintf("C%d", i))})
			default:
				var res []contacts.BatchResult
				res, errs[i] = s.UpsertMany(ctx, []contacts.Input{{Email: ptr(email), FirstName: ptr("F")}})
				if errs[i] == nil {
					errs[i] = res[0].Err
				}
			}
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, worker %d: %v", round, i, err)
			}
		}
		got, _ := s.Get(ctx, c.ID)
		if got.Status != contacts.Unsubscribed || got.OrdersCount != 2 || got.TotalSpent != 10 || got.FirstName != "F" {
			t.Errorf("round %d: status %s orders %d spent %d first %q; upserts must not undo events", round, got.Status, got.OrdersCount, got.TotalSpent, got.FirstName)
		}
	}
}

func TestConcurrentBatchesOverTheSameContactsAllSucceed(t *testing.T) {
	ctx := context.Background()
	s, g := newStore(t, contacts.Options{})
	// Ids run against the order of the emails, so that writers that lock
	// rows by email and writers that lock them by id would deadlock.
	const n = 12
	ids := make([]int64, n)
	for i := n - 1; i >= 0; i-- {
		ids[i] = mustUpsert(t, s, contacts.Input{Email: ptr(fmt.Sprintf("m%02d@example.com", i))}).ID
	}
	const workers = 8
	errs := make([]error, workers)
	run(workers, func(w int) {
		if w%2 == 0 {
			ins := make([]contacts.Input, n)
			for i := range ins {
				ins[i] = contacts.Input{Email: ptr(fmt.Sprintf("m%02d@example.com", i)), Attributes: map[string]any{fmt.Sprintf("w%d", w): true}}
			}
			res, err := s.UpsertMany(ctx, ins)
			errs[w] = err
			for _, r := range res {
				if r.Err != nil && errs[w] == nil {
					errs[w] = r.Err
				}
			}
			return
		}
		evs := make([]contacts.EventInput, n)
		for i := range evs {
			evs[i] = contacts.EventInput{ContactID: ids[i], Type: contacts.EventPurchase, Amount: 1, OrderID: fmt.Sprintf("%d-%d", w, i)}
		}
		_, errs[w] = s.RecordEvents(ctx, evs)
	})
	for w, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v", w, err)
		}
	}
	for i, id := range ids {
		c, _ := s.Get(ctx, id)
		if c.OrdersCount != workers/2 || len(c.Attributes) != workers/2 {
			t.Errorf("contact %d: orders %d attributes %v; want %d of each", i, c.OrdersCount, c.Attributes, workers/2)
		}
	}
	if got := countEvents(t, g, ""); got != n*workers/2 {
		t.Errorf("%d events, want %d", got, n*workers/2)
	}
}
