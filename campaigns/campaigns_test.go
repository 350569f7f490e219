package campaigns_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/campaigntest"
	"herald/internal/errs"
)

func TestSendReachesEachSubscribedMemberOnceAcrossSegmentsMinusExclusions(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	nl := w.AddContacts(t, 10, "NL")
	be := w.AddContacts(t, 6, "BE")
	w.AddContacts(t, 5, "DE")
	segNL := w.Segment(t, "NL", campaigntest.EqSegment("NL"))
	segBenelux := w.Segment(t, "Benelux", map[string]any{"field": "country", "op": "in", "value": []string{"NL", "BE"}})
	vip := w.Segment(t, "NL000-2", map[string]any{"field": "email", "op": "in", "value": []string{nl[0], nl[1], nl[2]}})

	// Suppressed contacts are never sent to.
	for _, e := range []string{nl[3], be[0]} {
		c, _ := w.Contacts.GetByEmail(ctx, e)
		if _, err := w.Contacts.SetStatus(ctx, c.ID, contacts.Unsubscribed); err != nil {
			t.Fatal(err)
		}
	}
	c := w.Campaign(t, []int64{segNL, segBenelux}, []int64{vip})
	if _, err := w.Svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	m := &campaigntest.Mailer{}
	w.Drain(t, c.ID, campaigns.NewSender(w.Svc, m, nil))

	want := map[string]int{}
	for _, e := range append(nl[4:], be[1:]...) {
		want[e] = 1
	}
	for e, n := range want {
		if m.Count(e) != n {
			t.Errorf("%s got %d messages, want %d", e, m.Count(e), n)
		}
	}
	if len(m.Msgs) != len(want) {
		t.Errorf("sent %d messages, want %d", len(m.Msgs), len(want))
	}
	got, _ := w.Svc.Get(ctx, c.ID)
	if got.Status != campaigns.CampaignSent || got.Total != int64(len(want)) {
		t.Errorf("campaign = %s with %d deliveries, want sent with %d", got.Status, got.Total, len(want))
	}
	st, _ := w.Rep.Stats(ctx, c.ID)
	if st.Sent != int64(len(want)) || st.Queued != 0 {
		t.Errorf("stats = %+v", st)
	}
	msg := m.Msgs[0]
	if msg.ListUnsubscribe == "" || msg.MessageID == "" || msg.Text == "" {
		t.Errorf("message lacks headers or text part: %+v", msg)
	}
}

func TestLaunchingTwiceOrSendingABatchTwiceSendsOnce(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	emails := w.AddContacts(t, 25, "NL")
	c := w.Campaign(t, []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}, nil)
	if _, err := w.Svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	// Two launches (a duplicate task, a sweep) and every batch run by
	// three senders at once, as three workers holding the same task would.
	for i := 0; i < 2; i++ {
		if err := w.Svc.Launch(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
	}
	m := &campaigntest.Mailer{}
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		sender := campaigns.NewSender(w.Svc, m, nil)
		for _, ids := range w.Q.Pending() {
			wg.Add(1)
			go func(ids []int64) {
				defer wg.Done()
				if err := sender.SendBatch(ctx, c.ID, ids, false); err != nil {
					t.Error(err)
				}
			}(ids)
		}
	}
	wg.Wait()
	for _, e := range emails {
		if n := m.Count(e); n != 1 {
			t.Errorf("%s got %d messages", e, n)
		}
	}
	st, _ := w.Rep.Stats(ctx, c.ID)
	if st.Total != 25 || st.Sent != 25 {
		t.Errorf("stats = %+v", st)
	}
}

func TestFailuresAreRetriedBouncedOrFailedByKind(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	w.AddContacts(t, 6, "NL")
	c := w.Campaign(t, []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}, nil)
	if _, err := w.Svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	m := &campaigntest.Mailer{Fail: func(to string, attempt int) error {
		switch to {
		case "nl000@example.com": // greylisted once
			if attempt == 0 {
				return &campaigns.SendError{Temporary: true, Code: 451, Msg: "try later"}
			}
		case "nl001@example.com":
			return &campaigns.SendError{Recipient: true, Code: 550, Msg: "no such user"}
		case "nl002@example.com":
			return &campaigns.SendError{Code: 554, Msg: "message refused"}
		case "nl003@example.com": // never accepted
			return &campaigns.SendError{Temporary: true, Code: 421, Msg: "busy"}
		}
		return nil
	}}
	sender := campaigns.NewSender(w.Svc, m, nil)
	if err := w.Svc.Launch(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	batches := w.Q.Pending()
	var all []int64
	for _, b := range batches {
		all = append(all, b...)
	}
	if err := sender.SendBatch(ctx, c.ID, all, false); !errors.Is(err, campaigns.ErrRetryLater) {
		t.Fatalf("first run: %v, want ErrRetryLater", err)
	}
	if err := sender.SendBatch(ctx, c.ID, all, false); !errors.Is(err, campaigns.ErrRetryLater) {
		t.Fatalf("second run: %v, want ErrRetryLater (421 persists)", err)
	}
	// The queue's last attempt: what is still temporary fails for good.
	if err := sender.SendBatch(ctx, c.ID, all, true); err != nil {
		t.Fatalf("final run: %v", err)
	}
	var rows []campaigns.Delivery
	w.DB.Order("id").Find(&rows)
	byContact := map[int64]campaigns.DeliveryStatus{}
	for _, r := range rows {
		byContact[r.ContactID] = r.Status
	}
	want := map[string]campaigns.DeliveryStatus{
		"nl000@example.com": campaigns.DeliverySent, "nl001@example.com": campaigns.DeliveryBounced,
		"nl002@example.com": campaigns.DeliveryFailed, "nl003@example.com": campaigns.DeliveryFailed,
		"nl004@example.com": campaigns.DeliverySent, "nl005@example.com": campaigns.DeliverySent,
	}
	for e, st := range want {
		ct, _ := w.Contacts.GetByEmail(ctx, e)
		if byContact[ct.ID] != st {
			t.Errorf("%s: %s, want %s", e, byContact[ct.ID], st)
		}
		if m.Count(e) > 1 {
			t.Errorf("%s got %d messages", e, m.Count(e))
		}
	}
	// A hard bounce suppresses the address.
	bounced, _ := w.Contacts.GetByEmail(ctx, "nl001@example.com")
	if bounced.Status != contacts.Bounced {
		t.Errorf("bounced contact status = %s", bounced.Status)
	}
	got, _ := w.Svc.Get(ctx, c.ID)
	if got.Status != campaigns.CampaignSent {
		t.Errorf("campaign status = %s, want sent", got.Status)
	}
}

func TestPauseStopsSendingAndResumeFinishes(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	emails := w.AddContacts(t, 12, "NL")
	c := w.Campaign(t, []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}, nil)
	if _, err := w.Svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Svc.Launch(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	m := &campaigntest.Mailer{}
	sender := campaigns.NewSender(w.Svc, m, nil)
	batches := w.Q.Pending()
	if err := sender.SendBatch(ctx, c.ID, batches[0], false); err != nil {
		t.Fatal(err)
	}
	sentBefore := len(m.Msgs)
	if _, err := w.Svc.Pause(ctx, c.ID, "checking the content"); err != nil {
		t.Fatal(err)
	}
	// A fresh sender (another worker) sees the pause at once.
	other := campaigns.NewSender(w.Svc, m, nil)
	for _, b := range batches[1:] {
		if err := other.SendBatch(ctx, c.ID, b, false); err != nil {
			t.Fatal(err)
		}
	}
	if len(m.Msgs) != sentBefore {
		t.Fatalf("sent %d messages while paused", len(m.Msgs)-sentBefore)
	}
	if _, err := w.Svc.Resume(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	w.Drain(t, c.ID, campaigns.NewSender(w.Svc, m, nil))
	for _, e := range emails {
		if m.Count(e) != 1 {
			t.Errorf("%s got %d messages", e, m.Count(e))
		}
	}
	got, _ := w.Svc.Get(ctx, c.ID)
	if got.Status != campaigns.CampaignSent {
		t.Errorf("status = %s", got.Status)
	}
}

func TestCancelSkipsWhatIsLeft(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	w.AddContacts(t, 10, "NL")
	c := w.Campaign(t, []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}, nil)
	w.Svc.Send(ctx, c.ID, nil)
	if err := w.Svc.Launch(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Svc.Cancel(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	m := &campaigntest.Mailer{}
	w.Drain(t, c.ID, campaigns.NewSender(w.Svc, m, nil))
	if len(m.Msgs) != 0 {
		t.Fatalf("a cancelled campaign sent %d messages", len(m.Msgs))
	}
	st, _ := w.Rep.Stats(ctx, c.ID)
	if st.Skipped != 10 {
		t.Errorf("stats = %+v, want 10 skipped", st)
	}
	if _, err := w.Svc.Resume(ctx, c.ID); !errors.Is(err, errs.ErrConflict) {
		t.Errorf("resume of a cancelled campaign: %v, want a conflict", err)
	}
}

func TestStateMachineRefusesInvalidTransitions(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	w.AddContacts(t, 1, "NL")
	seg := w.Segment(t, "NL", campaigntest.EqSegment("NL"))
	tests := []struct {
		name string
		act  func(id int64) error
	}{
		{"pause a draft", func(id int64) error { _, err := w.Svc.Pause(ctx, id, ""); return err }},
		{"resume a draft", func(id int64) error { _, err := w.Svc.Resume(ctx, id); return err }},
		{"send twice", func(id int64) error {
			if _, err := w.Svc.Send(ctx, id, nil); err != nil {
				return err
			}
			_, err := w.Svc.Send(ctx, id, nil)
			return err
		}},
		{"edit while sending", func(id int64) error {
			if _, err := w.Svc.Send(ctx, id, nil); err != nil {
				return err
			}
			name := "x"
			_, err := w.Svc.Update(ctx, id, campaigns.Input{Name: &name})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := w.Campaign(t, []int64{seg}, nil)
			if err := tc.act(c.ID); !errors.Is(err, errs.ErrConflict) {
				t.Fatalf("got %v, want a conflict", err)
			}
		})
	}
}

func TestScheduledCampaignWaitsForItsTime(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	w.AddContacts(t, 3, "NL")
	c := w.Campaign(t, []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}, nil)
	at := time.Now().Add(time.Hour)
	got, err := w.Svc.Send(ctx, c.ID, &at)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != campaigns.CampaignScheduled || got.ScheduledAt == nil {
		t.Fatalf("status = %s", got.Status)
	}
	// A launch that arrives early (an old schedule) changes nothing.
	if err := w.Svc.Launch(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ = w.Svc.Get(ctx, c.ID); got.Status != campaigns.CampaignScheduled || got.Total != 0 {
		t.Fatalf("early launch started the campaign: %s, %d deliveries", got.Status, got.Total)
	}
}

func TestSweepMarksDeliveriesLeftInFlightUnknownAndNeverResendsThem(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	emails := w.AddContacts(t, 4, "NL")
	c := w.Campaign(t, []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}, nil)
	w.Svc.Send(ctx, c.ID, nil)
	if err := w.Svc.Launch(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	// A worker claimed the first delivery and died before settling it.
	var first campaigns.Delivery
	w.DB.Order("id").Take(&first)
	long := time.Now().UTC().Add(-time.Hour)
	w.DB.Model(&campaigns.Delivery{}).Where("id = ?", first.ID).Updates(map[string]any{"status": campaigns.DeliverySending, "claimed_at": long})

	m := &campaigntest.Mailer{}
	w.Drain(t, c.ID, campaigns.NewSender(w.Svc, m, nil))
	if err := w.Svc.Sweep(ctx, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	w.Drain(t, c.ID, campaigns.NewSender(w.Svc, m, nil))
	firstContact, _ := w.Contacts.Get(ctx, first.ContactID)
	for _, e := range emails {
		want := 1
		if e == firstContact.Email {
			want = 0
		}
		if m.Count(e) != want {
			t.Errorf("%s got %d messages, want %d", e, m.Count(e), want)
		}
	}
	st, _ := w.Rep.Stats(ctx, c.ID)
	if st.Unknown != 1 || st.Sent != 3 {
		t.Errorf("stats = %+v, want 1 unknown and 3 sent", st)
	}
	if got, _ := w.Svc.Get(ctx, c.ID); got.Status != campaigns.CampaignSent {
		t.Errorf("status = %s", got.Status)
	}
}
