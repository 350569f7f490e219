package contacts_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"herald/contacts"
)

func TestCountCreatedSinceCountsOnlyContactsAddedFromThatMoment(t *testing.T) {
	s, g := newStore(t, contacts.Options{})
	for i, age := range []time.Duration{10 * 24 * time.Hour, 8 * 24 * time.Hour, 6 * 24 * time.Hour, time.Hour, 0} {
		c := mustUpsert(t, s, contacts.Input{Email: ptr(fmt.Sprintf("c%d@example.com", i))})
		if err := g.Model(&contacts.Contact{}).Where("id = ?", c.ID).Update("created_at", day.Add(-age)).Error; err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.CountCreatedSince(context.Background(), day.Add(-7*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("new in the last 7 days = %d, want 3", n)
	}
}

func TestRevenuePerDaySumsPurchasesByUTCDayInTheStoreCurrency(t *testing.T) {
	s, _ := newStore(t, contacts.Options{Currency: "EUR"})
	ctx := context.Background()
	c := mustUpsert(t, s, contacts.Input{Email: ptr("buyer@example.com")})
	from := time.Date(2025, 3, 1, 15, 0, 0, 0, time.UTC) // the day counts from its midnight
	buy := func(order string, at time.Time, amount int64, cur string) contacts.EventInput {
		return contacts.EventInput{ContactID: c.ID, Type: contacts.EventPurchase, OrderID: order, Amount: amount, Currency: cur, OccurredAt: at}
	}
	res, err := s.RecordEvents(ctx, []contacts.EventInput{
		buy("before", time.Date(2025, 2, 28, 23, 59, 0, 0, time.UTC), 100000, "EUR"),
		buy("first-morning", time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), 1050, "EUR"),
		buy("first-night", time.Date(2025, 3, 1, 23, 59, 59, 0, time.UTC), 950, "EUR"),
		buy("third", time.Date(2025, 3, 3, 12, 0, 0, 0, time.UTC), 4999, "EUR"),
		buy("no-currency", time.Date(2025, 3, 3, 13, 0, 0, 0, time.UTC), 1, ""),
		buy("after", time.Date(2025, 3, 4, 0, 0, 0, 0, time.UTC), 100000, "EUR"),
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("event %d: %v", i, r.Err)
		}
	}
	got, err := s.RevenuePerDay(ctx, from, 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{20, 0, 50}; !slices.Equal(got, want) {
		t.Fatalf("revenue per day = %v, want %v", got, want)
	}
}
