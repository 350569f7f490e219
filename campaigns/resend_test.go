package campaigns_test

import (
	"context"
	"errors"
	"testing"

	"herald/campaigns"
	"herald/internal/campaigntest"
	"herald/internal/errs"
)

func TestResendUnknownSendsEachUnknownDeliveryAtMostOnceMoreAndNeverTouchesSentOnes(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	emails := w.AddContacts(t, 6, "NL")
	c := w.Campaign(t, []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}, nil)
	if _, err := w.Svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	m := &campaigntest.Mailer{}
	sender := campaigns.NewSender(w.Svc, m, nil)
	w.Drain(t, c.ID, sender)
	if got, _ := w.Svc.Get(ctx, c.ID); got.Status != campaigns.CampaignSent {
		t.Fatalf("status %s, want sent", got.Status)
	}
	// Two deliveries end in doubt, as after a crash after the final dot.
	doubt := map[string]bool{emails[1]: true, emails[4]: true}
	var doubtIDs []int64
	for e := range doubt {
		ct, _ := w.Contacts.GetByEmail(ctx, e)
		doubtIDs = append(doubtIDs, ct.ID)
	}
	if err := w.DB.Model(&campaigns.Delivery{}).Where("campaign_id = ? AND contact_id IN ?", c.ID, doubtIDs).
		Updates(map[string]any{"status": campaigns.DeliveryUnknown, "error": "may or may not have been accepted"}).Error; err != nil {
		t.Fatal(err)
	}
	if n, _ := w.Rep.UnknownResendable(ctx, c.ID); n != 2 {
		t.Fatalf("resendable = %d, want 2", n)
	}

	act, err := w.Svc.ResendUnknown(ctx, c.ID, "ana@shop.example")
	if err != nil {
		t.Fatal(err)
	}
	if act.Count != 2 || act.Actor != "ana@shop.example" || act.Kind != campaigns.ActionResendUnknown {
		t.Errorf("action = %+v", act)
	}
	if got, _ := w.Svc.Get(ctx, c.ID); got.Status != campaigns.CampaignSending {
		t.Errorf("status %s after the resend, want sending until they are out", got.Status)
	}
	// The queue may run a batch twice; each delivery still goes once.
	w.Drain(t, c.ID, sender)
	w.Drain(t, c.ID, sender)
	for _, e := range emails {
		want := 1
		if doubt[e] {
			want = 2
		}
		if got := m.Count(e); got != want {
			t.Errorf("%s got %d messages, want %d", e, got, want)
		}
	}
	if got, _ := w.Svc.Get(ctx, c.ID); got.Status != campaigns.CampaignSent {
		t.Errorf("status %s, want sent again", got.Status)
	}

	// The second try ends in doubt as well: it is not sent a third time.
	if err := w.DB.Model(&campaigns.Delivery{}).Where("campaign_id = ? AND contact_id IN ?", c.ID, doubtIDs).
		Update("status", campaigns.DeliveryUnknown).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := w.Svc.ResendUnknown(ctx, c.ID, "ana@shop.example"); !errors.Is(err, errs.ErrConflict) {
		t.Errorf("a second resend: %v, want a conflict", err)
	}
	w.Drain(t, c.ID, sender)
	for e := range doubt {
		if got := m.Count(e); got != 2 {
			t.Errorf("%s got %d messages, want still 2", e, got)
		}
	}
	acts, err := w.Rep.Actions(ctx, c.ID)
	if err != nil || len(acts) != 1 {
		t.Fatalf("actions = %+v, %v; want the one resend recorded", acts, err)
	}

	draft := w.Campaign(t, []int64{w.Segment(t, "NL2", campaigntest.EqSegment("NL"))}, nil)
	if _, err := w.Svc.ResendUnknown(ctx, draft.ID, "ana@shop.example"); !errors.Is(err, errs.ErrConflict) {
		t.Errorf("a draft: %v, want a conflict", err)
	}
	if _, err := w.Svc.ResendUnknown(ctx, 999999, "ana@shop.example"); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("no such campaign: %v, want not found", err)
	}
}
