package campaigns_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"herald/campaigns"
	"herald/internal/campaigntest"
)

// A coupon source that fails (its table unreachable) fails the attempt,
// not the message: the delivery goes back to the queue and the retry
// carries the contact's code. An empty pool fails the message for good
// (TestEmptyCouponPoolFailsThatMessageWithAReasonAndNeverSendsABlankCode).
func TestACouponSourceThatFailsIsRetriedNotFailed(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	emails := w.AddContacts(t, 2, "NL")
	if _, _, err := w.Svc.AddCoupons(ctx, "WINBACK10", []string{"CODE-A", "CODE-B"}); err != nil {
		t.Fatal(err)
	}
	name, subj, html, from := "Win-back", "Come back", `<p>Your code: {{coupon "WINBACK10"}}</p>`, "a@shop.example.com"
	ids := []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}
	c, err := w.Svc.Create(ctx, campaigns.Input{Name: &name, Subject: &subj, HTMLBody: &html, FromEmail: &from, SegmentIDs: &ids})
	if err != nil {
		t.Fatal(err)
	}
	all := w.Launch(t, w.Svc, c.ID)
	m := &campaigntest.Mailer{}
	sender := campaigns.NewSender(w.Svc, m, nil)

	if err := w.DB.Exec("ALTER TABLE coupons RENAME TO coupons_away").Error; err != nil {
		t.Fatal(err)
	}
	if err := sender.SendBatch(ctx, c.ID, all, false); !errors.Is(err, campaigns.ErrRetryLater) {
		t.Fatalf("with the coupons unreachable: %v, want ErrRetryLater", err)
	}
	if st, _ := w.Rep.Stats(ctx, c.ID); st.Queued != 2 || st.Failed != 0 || len(m.Msgs) != 0 {
		t.Fatalf("after the failed attempt: %d queued, %d failed, %d sent; want 2, 0, 0", st.Queued, st.Failed, len(m.Msgs))
	}

	if err := w.DB.Exec("ALTER TABLE coupons_away RENAME TO coupons").Error; err != nil {
		t.Fatal(err)
	}
	if err := sender.SendBatch(ctx, c.ID, all, false); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if len(m.Msgs) != 2 {
		t.Fatalf("sent %d messages, want 2", len(m.Msgs))
	}
	for _, msg := range m.Msgs {
		if !strings.Contains(msg.HTML, "CODE-") {
			t.Errorf("message to %s without a code: %s", msg.To, msg.HTML)
		}
	}
	for _, e := range emails {
		if m.Count(e) != 1 {
			t.Errorf("%s got %d messages", e, m.Count(e))
		}
	}
}
