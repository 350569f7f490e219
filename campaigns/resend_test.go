package campaigns_test

import (
	"context"
	"errors"
	"testing"

	"herald/campaigns"
	"herald/internal/errs"
)

func TestResendUnknownSendsEachUnknownDeliveryAtMostOnceMoreAndNeverTouchesSentOnes(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	emails := w.addContacts(t, 6, "NL")
	c := w.campaign(t, []int64{w.segment(t, "NL", eqSegment("NL"))}, nil)
	if _, err := w.svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	m := &mailer{}
	sender := campaigns.NewSender(w.svc, m, nil)
	w.drain(t, c.ID, sender)
	if got, _ := w.svc.Get(ctx, c.ID); got.Status != campaigns.CampaignSent {
		t.Fatalf("status %s, want sent", got.Status)
	}
	// Two deliveries end in doubt, as after a crash after the final dot.
	doubt := map[string]bool{emails[1]: true, emails[4]: true}
	var doubtIDs []int64
	for e := range doubt {
		ct, _ := w.contacts.GetByEmail(ctx, e)
		doubtIDs = append(doubtIDs, ct.ID)
	}
	if err := w.db.Model(&campaigns.Delivery{}).Where("campaign_id = ? AND contact_id IN ?", c.ID, doubtIDs).
		Updates(map[string]any{"status": campaigns.DeliveryUnknown, "error": "may or may not have been accepted"}).Error; err != nil {
		t.Fatal(err)
	}
	if n, _ := w.rep.UnknownResendable(ctx, c.ID); n != 2 {
		t.Fatalf("resendable = %d, want 2", n)
	}

	act, err := w.svc.ResendUnknown(ctx, c.ID, "ana@shop.example")
	if err != nil {
		t.Fatal(err)
	}
	if act.Count != 2 || act.Actor != "ana@shop.example" || act.Kind != campaigns.ActionResendUnknown {
		t.Errorf("action = %+v", act)
	}
	if got, _ := w.svc.Get(ctx, c.ID); got.Status != campaigns.CampaignSending {
		t.Errorf("status %s after the resend, want sending until they are out", got.Status)
	}
	// The queue may run a batch twice; each delivery still goes once.
	w.drain(t, c.ID, sender)
	w.drain(t, c.ID, sender)
	for _, e := range emails {
		want := 1
		if doubt[e] {
			want = 2
		}
		if got := m.count(e); got != want {
			t.Errorf("%s got %d messages, want %d", e, got, want)
		}
	}
	if got, _ := w.svc.Get(ctx, c.ID); got.Status != campaigns.CampaignSent {
		t.Errorf("status %s, want sent again", got.Status)
	}

	// The second try ends in doubt as well: it is not sent a third time.
	if err := w.db.Model(&campaigns.Delivery{}).Where("campaign_id = ? AND contact_id IN ?", c.ID, doubtIDs).
		Update("status", campaigns.DeliveryUnknown).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.ResendUnknown(ctx, c.ID, "ana@shop.example"); !errors.Is(err, errs.ErrConflict) {
		t.Errorf("a second resend: %v, want a conflict", err)
	}
	w.drain(t, c.ID, sender)
	for e := range doubt {
		if got := m.count(e); got != 2 {
			t.Errorf("%s got %d messages, want still 2", e, got)
		}
	}
	acts, err := w.rep.Actions(ctx, c.ID)
	if err != nil || len(acts) != 1 {
		t.Fatalf("actions = %+v, %v; want the one resend recorded", acts, err)
	}

	draft := w.campaign(t, []int64{w.segment(t, "NL2", eqSegment("NL"))}, nil)
	if _, err := w.svc.ResendUnknown(ctx, draft.ID, "ana@shop.example"); !errors.Is(err, errs.ErrConflict) {
		t.Errorf("a draft: %v, want a conflict", err)
	}
	if _, err := w.svc.ResendUnknown(ctx, 999999, "ana@shop.example"); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("no such campaign: %v, want not found", err)
	}
}
