package campaigns_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/campaigntest"
	"herald/templates"
)

func TestCouponIsTheContactsOwnAcrossRetriesPreviewsAndConcurrentSenders(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	added, dups, err := w.Svc.AddCoupons(ctx, "WINBACK10", []string{"A1", "A2", "A3", "A2", "A4", "A5", "A6", "A7", "A8"})
	if err != nil || added != 8 || dups != 1 {
		t.Fatalf("add: %d added, %d duplicates, %v", added, dups, err)
	}
	if added, dups, _ := w.Svc.AddCoupons(ctx, "WINBACK10", []string{"A1", "B1"}); added != 1 || dups != 1 {
		t.Fatalf("second upload: %d added, %d duplicates", added, dups)
	}
	first, err := w.Svc.AssignCoupon(ctx, "WINBACK10", 1, 7)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		again, err := w.Svc.AssignCoupon(ctx, "WINBACK10", 1, 7)
		if err != nil || again != first {
			t.Fatalf("retry %d got %q (%v), want %q", i, again, err, first)
		}
	}
	if other, _ := w.Svc.AssignCoupon(ctx, "WINBACK10", 1, 8); other == first {
		t.Fatal("another campaign got the same code")
	}
	// Eight senders at once, each for another contact: eight distinct codes,
	// and the ninth finds the pool empty.
	var mu sync.Mutex
	got := map[string]int64{}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for c := int64(10); c < 17; c++ {
		wg.Add(1)
		go func(contact int64) {
			defer wg.Done()
			code, err := w.Svc.AssignCoupon(ctx, "WINBACK10", contact, 7)
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if prev, dup := got[code]; dup {
				errs <- fmt.Errorf("code %s given to %d and %d", code, prev, contact)
			}
			got[code] = contact
		}(c)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, err := w.Svc.AssignCoupon(ctx, "WINBACK10", 99, 7); !errors.Is(err, campaigns.ErrPoolEmpty) {
		t.Fatalf("empty pool: %v, want ErrPoolEmpty", err)
	}
	pools, _ := w.Svc.CouponPools(ctx)
	if len(pools) != 1 || pools[0].Total != 9 || pools[0].Available != 0 {
		t.Fatalf("pools = %+v", pools)
	}
}

func TestEmptyCouponPoolFailsThatMessageWithAReasonAndNeverSendsABlankCode(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	emails := w.AddContacts(t, 3, "NL")
	if _, _, err := w.Svc.AddCoupons(ctx, "WINBACK20", []string{"ONLY-ONE", "AND-TWO"}); err != nil {
		t.Fatal(err)
	}
	seg := w.Segment(t, "NL", campaigntest.EqSegment("NL"))
	name, subj, html, from := "Win-back", "Come back", `<p>Your code: <b>{{coupon "WINBACK20"}}</b></p>`, "a@shop.example.com"
	ids := []int64{seg}
	c, err := w.Svc.Create(ctx, campaigns.Input{Name: &name, Subject: &subj, HTMLBody: &html, FromEmail: &from, SegmentIDs: &ids})
	if err != nil {
		t.Fatal(err)
	}
	// The preview of a contact shows the code their send will carry.
	first, _ := w.Contacts.GetByEmail(ctx, emails[0])
	pv, err := w.Svc.Preview(ctx, c.ID, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pv.HTML, "ONLY-ONE") {
		t.Fatalf("preview = %s", pv.HTML)
	}
	if _, err := w.Svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	m := &campaigntest.Mailer{}
	w.Drain(t, c.ID, campaigns.NewSender(w.Svc, m, nil))
	if len(m.Msgs) != 2 {
		t.Fatalf("sent %d messages, want 2", len(m.Msgs))
	}
	codes := map[string]bool{}
	for _, msg := range m.Msgs {
		switch {
		case strings.Contains(msg.HTML, "ONLY-ONE"):
			codes["ONLY-ONE"] = true
			if msg.To != emails[0] {
				t.Errorf("the previewed code went to %s", msg.To)
			}
		case strings.Contains(msg.HTML, "AND-TWO"):
			codes["AND-TWO"] = true
		default:
			t.Errorf("message without a code: %s", msg.HTML)
		}
	}
	if len(codes) != 2 {
		t.Fatalf("codes = %v", codes)
	}
	var failed []campaigns.Delivery
	w.DB.Where("status = ?", campaigns.DeliveryFailed).Find(&failed)
	if len(failed) != 1 || !strings.Contains(failed[0].Error, "coupon pool is empty") {
		t.Fatalf("failed deliveries = %+v", failed)
	}
	third, _ := w.Contacts.Get(ctx, failed[0].ContactID)
	if third.Status != contacts.Subscribed {
		t.Errorf("the contact without a code changed status: %s", third.Status)
	}
}

// TestCouponFailuresReachTheSenderTellableApart renders {{coupon}} against
// the real pool, as a send does: an empty pool and a database that does
// not answer both come back as a *templates.CouponError inside a
// *templates.Error, and only the first is ErrPoolEmpty, so the sender can
// fail the one message for good and retry the other.
func TestCouponFailuresReachTheSenderTellableApart(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	if _, _, err := w.Svc.AddCoupons(ctx, "WINBACK10", []string{"ONLY"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Svc.AssignCoupon(ctx, "WINBACK10", 1, 7); err != nil {
		t.Fatal(err)
	}
	comp, err := templates.Compile(templates.Content{Subject: "Come back", HTML: `<p>{{coupon "WINBACK10"}}</p>`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name      string
		ctx       context.Context
		poolEmpty bool
	}{
		{"the pool is empty", ctx, true},
		{"the database does not answer", gone, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := templates.NewData(contacts.Contact{ID: 2}, nil, templates.CampaignInfo{ID: 7}, templates.Links{Untracked: true}, time.Now()).
				WithCoupons(func(pool string) (string, error) { return w.Svc.AssignCoupon(tc.ctx, pool, 2, 7) })
			_, err := comp.Render(d)
			var te *templates.Error
			var ce *templates.CouponError
			if !errors.As(err, &te) || !errors.As(err, &ce) || ce.Pool != "WINBACK10" {
				t.Fatalf("err = %v, want a *templates.Error holding a *templates.CouponError", err)
			}
			if errors.Is(err, campaigns.ErrPoolEmpty) != tc.poolEmpty {
				t.Fatalf("errors.Is(err, ErrPoolEmpty) = %v for %v", !tc.poolEmpty, err)
			}
			if !strings.HasPrefix(ce.Err.Error(), "campaigns: ") {
				t.Errorf("the pool's error %q lacks the campaigns: prefix", ce.Err)
			}
		})
	}
}
