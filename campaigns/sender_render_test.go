package campaigns_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"herald/campaigns"
)

// A coupon source that fails (its table unreachable) fails the attempt,
// not the message: the delivery goes back to the queue and the retry
// carries the contact's code. An empty pool fails the message for good
// (TestEmptyCouponPoolFailsThatMessageWithAReasonAndNeverSendsABlankCode).
func TestACouponSourceThatFailsIsRetriedNotFailed(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	emails := w.addContacts(t, 2, "NL")
	if _, _, err := w.svc.AddCoupons(ctx, "WINBACK10", []string{"CODE-A", "CODE-B"}); err != nil {
		t.Fatal(err)
	}
	name, subj, html, from := "Win-back", "Come back", `<p>Your code: {{coupon "WINBACK10"}}</p>`, "a@shop.example.com"
	ids := []int64{w.segment(t, "NL", eqSegment("NL"))}
	c, err := w.svc.Create(ctx, campaigns.Input{Name: &name, Subject: &subj, HTMLBody: &html, FromEmail: &from, SegmentIDs: &ids})
	if err != nil {
		t.Fatal(err)
	}
	all := w.launch(t, w.svc, c.ID)
	m := &mailer{}
	sender := campaigns.NewSender(w.svc, m, nil)

	if err := w.db.Exec("ALTER TABLE coupons RENAME TO coupons_away").Error; err != nil {
		t.Fatal(err)
	}
	if err := sender.SendBatch(ctx, c.ID, all, false); !errors.Is(err, campaigns.ErrRetryLater) {
		t.Fatalf("with the coupons unreachable: %v, want ErrRetryLater", err)
	}
	if st, _ := w.rep.Stats(ctx, c.ID); st.Queued != 2 || st.Failed != 0 || len(m.msgs) != 0 {
		t.Fatalf("after the failed attempt: %d queued, %d failed, %d sent; want 2, 0, 0", st.Queued, st.Failed, len(m.msgs))
	}

	if err := w.db.Exec("ALTER TABLE coupons_away RENAME TO coupons").Error; err != nil {
		t.Fatal(err)
	}
	if err := sender.SendBatch(ctx, c.ID, all, false); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if len(m.msgs) != 2 {
		t.Fatalf("sent %d messages, want 2", len(m.msgs))
	}
	for _, msg := range m.msgs {
		if !strings.Contains(msg.HTML, "CODE-") {
			t.Errorf("message to %s without a code: %s", msg.To, msg.HTML)
		}
	}
	for _, e := range emails {
		if m.count(e) != 1 {
			t.Errorf("%s got %d messages", e, m.count(e))
		}
	}
}
