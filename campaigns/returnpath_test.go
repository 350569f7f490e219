package campaigns_test

import (
	"context"
	"testing"

	"herald/campaigns"
	"herald/internal/campaigntest"
	"herald/tracking"
)

func TestReturnPathGivesEachDeliveryItsOwnVERPEnvelopeSender(t *testing.T) {
	rp, err := tracking.NewReturnPath([]byte(campaigntest.Secret), "bounces@shop.example.com")
	if err != nil {
		t.Fatal(err)
	}
	w := campaigntest.NewWorldWith(t, func(c *campaigns.Config) { c.ReturnPath = rp })
	ctx := context.Background()
	w.AddContacts(t, 5, "NL")
	c := w.Campaign(t, []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}, nil)
	if _, err := w.Svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	m := &campaigntest.Mailer{}
	w.Drain(t, c.ID, campaigns.NewSender(w.Svc, m, nil))
	if len(m.Msgs) != 5 {
		t.Fatalf("sent %d messages, want 5", len(m.Msgs))
	}
	var ds []campaigns.Delivery
	if err := w.DB.Where("campaign_id = ?", c.ID).Find(&ds).Error; err != nil {
		t.Fatal(err)
	}
	deliveryOf := map[int64]int64{} // contact -> delivery
	for _, d := range ds {
		deliveryOf[d.ContactID] = d.ID
	}
	seen := map[string]bool{}
	for _, msg := range m.Msgs {
		ct, err := w.Contacts.GetByEmail(ctx, msg.To)
		if err != nil {
			t.Fatal(err)
		}
		id, err := rp.DeliveryID(msg.EnvelopeFrom)
		if err != nil || id != deliveryOf[ct.ID] {
			t.Errorf("message to %s: envelope sender %q names delivery %d (%v), want %d", msg.To, msg.EnvelopeFrom, id, err, deliveryOf[ct.ID])
		}
		if seen[msg.EnvelopeFrom] {
			t.Errorf("envelope sender %q used twice", msg.EnvelopeFrom)
		}
		seen[msg.EnvelopeFrom] = true
		if msg.FromEmail != "news@shop.example.com" {
			t.Errorf("From %q changed by the return path", msg.FromEmail)
		}
	}

	test := &campaigntest.Mailer{}
	if err := w.Svc.TestSend(ctx, c.ID, []string{"me@shop.example.com"}, test); err != nil {
		t.Fatal(err)
	}
	if got := test.Msgs[0].EnvelopeFrom; got != "bounces@shop.example.com" {
		t.Errorf("test send envelope sender %q, want the plain return path", got)
	}
}

func TestWithoutReturnPathTheEnvelopeSenderIsLeftToTheMailer(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	w.AddContacts(t, 1, "NL")
	c := w.Campaign(t, []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}, nil)
	if _, err := w.Svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	m := &campaigntest.Mailer{}
	w.Drain(t, c.ID, campaigns.NewSender(w.Svc, m, nil))
	if len(m.Msgs) != 1 || m.Msgs[0].EnvelopeFrom != "" {
		t.Fatalf("messages %d, envelope sender %q; want one with none (the From address)", len(m.Msgs), m.Msgs[0].EnvelopeFrom)
	}
}
