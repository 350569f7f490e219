package campaigns_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"herald/campaigns"
	"herald/internal/campaigntest"
	"herald/internal/testenv"
	"herald/reports"
)

// The frequency cap holds across campaigns and flows: a contact who had
// as many messages as the cap allows waits for the next allowed time (the
// delivery says why and until when), is sent to then, and the campaign
// is finished only when they were. A campaign can ignore the cap.
func TestTheFrequencyCapDefersCampaignMessagesUntilTheNextAllowedTime(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clock := t0
	svc := campaigns.NewService(w.DB, w.Contacts, w.Segments, w.Q, nil, campaigns.Config{
		BaseURL: "https://h.example", LaunchPage: 50, ClaimSize: 10, Log: testenv.Logger(),
		Cap: campaigns.CapConfig{Messages: 1, Window: 7 * 24 * time.Hour},
		Now: func() time.Time { return clock },
	})
	w.Svc = svc
	rep := reports.New(w.DB, svc, w.Contacts, reports.Config{Now: func() time.Time { return clock }})
	emails := w.AddContacts(t, 3, "NL")
	anna := emails[0]
	m := &campaigntest.Mailer{}
	sender := campaigns.NewSender(svc, m, nil)
	send := func(name string, segment int64, ignoreCap bool) campaigns.Campaign {
		t.Helper()
		subj, html, from := name, "<p>"+name+"</p>", "news@shop.example.com"
		ids := []int64{segment}
		c, err := svc.Create(ctx, campaigns.Input{Name: &name, Subject: &subj, HTMLBody: &html, FromEmail: &from, SegmentIDs: &ids, IgnoreFrequencyCap: &ignoreCap})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Send(ctx, c.ID, nil); err != nil {
			t.Fatal(err)
		}
		w.Drain(t, c.ID, sender)
		return c
	}
	nl := w.Segment(t, "NL", campaigntest.EqSegment("NL"))
	send("First", w.Segment(t, "Anna", map[string]any{"field": "email", "op": "eq", "value": anna}), false)
	if m.Count(anna) != 1 {
		t.Fatalf("anna got %d messages from the first campaign", m.Count(anna))
	}

	clock = t0.Add(48 * time.Hour)
	second := send("Second", nl, false)
	st, _ := rep.Stats(ctx, second.ID)
	if st.Sent != 2 || st.Deferred != 1 || m.Count(anna) != 1 {
		t.Fatalf("second campaign: %d sent, %d deferred, anna has %d; want 2, 1 and still 1", st.Sent, st.Deferred, m.Count(anna))
	}
	var held campaigns.Delivery
	w.DB.Where("campaign_id = ? AND status = ?", second.ID, campaigns.DeliveryDeferred).Take(&held)
	if held.NotBefore == nil || !held.NotBefore.Equal(t0.Add(7*24*time.Hour)) || !strings.Contains(held.Error, "frequency cap") {
		t.Errorf("the deferred delivery waits until %v because %q; want %v and the cap named", held.NotBefore, held.Error, t0.Add(7*24*time.Hour))
	}
	if c, _ := svc.Get(ctx, second.ID); c.Status != campaigns.CampaignSending {
		t.Errorf("with a deferred delivery the campaign is %s, want still sending", c.Status)
	}

	// Before the time, the sweep leaves it waiting.
	clock = t0.Add(5 * 24 * time.Hour)
	if err := svc.Sweep(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	w.Drain(t, second.ID, sender)
	if m.Count(anna) != 1 {
		t.Fatalf("anna got the second campaign before the cap allowed it")
	}

	// Then it goes, and the campaign is done.
	clock = t0.Add(7*24*time.Hour + time.Minute)
	if err := svc.Sweep(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	w.Drain(t, second.ID, sender)
	if m.Count(anna) != 2 {
		t.Fatalf("anna has %d messages after the cap's window, want 2", m.Count(anna))
	}
	if c, _ := svc.Get(ctx, second.ID); c.Status != campaigns.CampaignSent {
		t.Errorf("second campaign is %s, want sent", c.Status)
	}

	// An announcement that ignores the cap reaches everyone at once.
	clock = clock.Add(time.Hour)
	third := send("Third", nl, true)
	if st, _ := rep.Stats(ctx, third.ID); st.Sent != 3 || st.Deferred != 0 {
		t.Errorf("a campaign ignoring the cap: %d sent, %d deferred; want 3 and 0", st.Sent, st.Deferred)
	}
}
