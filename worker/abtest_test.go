package worker

import (
	"context"
	"testing"
	"time"

	"herald/campaigns"
	"herald/internal/campaigntest"
	"herald/internal/testenv"
	"herald/reports"
)

// The launch task records an A/B test's winner once the test's time is
// up, by its figures, and not before: the task enqueued for the test's
// end and every sweep's relaunch both get there.
func TestTheLaunchTaskPicksADueABTestWinnerByItsFigures(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	clock := time.Date(2026, 4, 6, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	svc := campaigns.NewService(w.DB, w.Contacts, w.Segments, w.Q, nil, campaigns.Config{BaseURL: "https://h.example", LaunchPage: 50, Log: testenv.Logger(), Now: now})
	rep := reports.New(w.DB, svc, w.Contacts, reports.Config{Now: now})
	wk := &Worker{d: Deps{Campaigns: svc, Reports: rep, Log: testenv.Logger()}}
	w.AddContacts(t, 40, "NL")
	name, subj, html, from := "Spring", "Spring sale", "<p>Hi</p>", "news@shop.example.com"
	seg := []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}
	ab := campaigns.ABTest{TestPercent: 50, TestHours: 2, Variants: []campaigns.Variant{{Subject: "Alpha"}, {Subject: "Beta"}}}
	c, err := svc.Create(ctx, campaigns.Input{Name: &name, Subject: &subj, HTMLBody: &html, FromEmail: &from, SegmentIDs: &seg, ABTest: &ab})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	launch := func() {
		t.Helper()
		task, err := NewLaunchTask(c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := wk.handleLaunch(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	launch()
	m := &campaigntest.Mailer{}
	sender := campaigns.NewSender(svc, m, nil)
	for _, ids := range w.Q.Pending() {
		if err := sender.SendBatch(ctx, c.ID, ids, false); err != nil {
			t.Fatal(err)
		}
	}
	var beta []int64
	if err := w.DB.Model(&campaigns.Delivery{}).Where("campaign_id = ? AND variant = 2", c.ID).Pluck("contact_id", &beta).Error; err != nil {
		t.Fatal(err)
	}
	id := c.ID
	w.RecordEvents(t, campaigntest.Open(beta[0], id))

	clock = clock.Add(2*time.Hour - time.Second)
	launch()
	if got, _ := svc.Get(ctx, c.ID); got.ABWinner != 0 {
		t.Fatalf("winner %d picked before the test's end", got.ABWinner)
	}
	clock = clock.Add(time.Second)
	launch()
	got, _ := svc.Get(ctx, c.ID)
	if got.ABWinner != 2 || got.ABState != campaigns.ABDecided || got.ABWinnerBy != "" {
		t.Fatalf("winner %d (%s) by %q, want B picked by its figures", got.ABWinner, got.ABState, got.ABWinnerBy)
	}
	launch() // a later sweep's relaunch changes nothing
	st, err := rep.Stats(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Held != 0 || st.Queued != 20 || st.Sent != 20 {
		t.Fatalf("held %d, queued %d, sent %d; want 0, 20, 20", st.Held, st.Queued, st.Sent)
	}
}
