package reports_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"herald/campaigns"
	"herald/internal/campaigntest"
)

func campaignIDs(cs []campaigns.Campaign) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func TestDashboardListsCampaignsInProgressAndRecentlyStartedAndCountsSentPerDay(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	w.AddContacts(t, 4, "NL")
	seg := []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}
	sent := w.Campaign(t, seg, nil)
	if _, err := w.Svc.Send(ctx, sent.ID, nil); err != nil {
		t.Fatal(err)
	}
	w.Drain(t, sent.ID, campaigns.NewSender(w.Svc, &campaigntest.Mailer{}, nil))
	sending := w.Campaign(t, seg, nil)
	w.Launch(t, w.Svc, sending.ID) // launched, nothing sent yet
	draft := w.Campaign(t, seg, nil)

	inProgress, err := w.Rep.InProgress(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := campaignIDs(inProgress); !slices.Equal(got, []int64{sending.ID}) {
		t.Errorf("in progress = %v, want only the sending campaign %d", got, sending.ID)
	}
	recent, err := w.Rep.RecentlyStarted(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if got := campaignIDs(recent); !slices.Equal(got, []int64{sending.ID, sent.ID}) {
		t.Errorf("recently started = %v, want %v (the draft %d never started)", got, []int64{sending.ID, sent.ID}, draft.ID)
	}

	// Two of the four messages went out three days ago, the others today.
	today := time.Now().UTC().Truncate(24 * time.Hour)
	var ds []campaigns.Delivery
	if err := w.DB.Where("campaign_id = ? AND status = ?", sent.ID, campaigns.DeliverySent).Order("id").Find(&ds).Error; err != nil {
		t.Fatal(err)
	}
	if len(ds) != 4 {
		t.Fatalf("sent %d messages, want 4", len(ds))
	}
	for _, d := range ds[:2] {
		if err := w.DB.Model(&campaigns.Delivery{}).Where("id = ?", d.ID).Update("sent_at", today.AddDate(0, 0, -3).Add(23*time.Hour)).Error; err != nil {
			t.Fatal(err)
		}
	}
	got, err := w.Rep.SentPerDay(ctx, today.AddDate(0, 0, -3).Add(5*time.Hour), 4)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{2, 0, 0, 2}; !slices.Equal(got, want) {
		t.Errorf("sent per day = %v, want %v", got, want)
	}
}
