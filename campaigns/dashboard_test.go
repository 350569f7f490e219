package campaigns_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"herald/campaigns"
)

func campaignIDs(cs []campaigns.Campaign) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func TestDashboardListsCampaignsInProgressAndRecentlyStartedAndCountsSentPerDay(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.addContacts(t, 4, "NL")
	seg := []int64{w.segment(t, "NL", eqSegment("NL"))}
	sent := w.campaign(t, seg, nil)
	if _, err := w.svc.Send(ctx, sent.ID, nil); err != nil {
		t.Fatal(err)
	}
	w.drain(t, sent.ID, campaigns.NewSender(w.svc, &mailer{}, nil))
	sending := w.campaign(t, seg, nil)
	w.launch(t, w.svc, sending.ID) // launched, nothing sent yet
	draft := w.campaign(t, seg, nil)

	inProgress, err := w.svc.InProgress(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := campaignIDs(inProgress); !slices.Equal(got, []int64{sending.ID}) {
		t.Errorf("in progress = %v, want only the sending campaign %d", got, sending.ID)
	}
	recent, err := w.svc.RecentlyStarted(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if got := campaignIDs(recent); !slices.Equal(got, []int64{sending.ID, sent.ID}) {
		t.Errorf("recently started = %v, want %v (the draft %d never started)", got, []int64{sending.ID, sent.ID}, draft.ID)
	}

	// Two of the four messages went out three days ago, the others today.
	today := time.Now().UTC().Truncate(24 * time.Hour)
	var ds []campaigns.Delivery
	if err := w.db.Where("campaign_id = ? AND status = ?", sent.ID, campaigns.Delivered).Order("id").Find(&ds).Error; err != nil {
		t.Fatal(err)
	}
	if len(ds) != 4 {
		t.Fatalf("sent %d messages, want 4", len(ds))
	}
	for _, d := range ds[:2] {
		if err := w.db.Model(&campaigns.Delivery{}).Where("id = ?", d.ID).Update("sent_at", today.AddDate(0, 0, -3).Add(23*time.Hour)).Error; err != nil {
			t.Fatal(err)
		}
	}
	got, err := w.svc.SentPerDay(ctx, today.AddDate(0, 0, -3).Add(5*time.Hour), 4)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{2, 0, 0, 2}; !slices.Equal(got, want) {
		t.Errorf("sent per day = %v, want %v", got, want)
	}
}

func TestFlowActivitySinceCountsRunsAndMessagesOfThePeriodPerFlow(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	emails := w.addContacts(t, 3, "NL")
	mk := func(name string) campaigns.Flow {
		var in campaigns.FlowInput
		def := `{"name": "` + name + `", "trigger": {"type": "event", "event": "tea"}, "steps": [` + sendStep(name) + `, {"type": "wait", "duration": "1d"}]}`
		if err := json.Unmarshal([]byte(def), &in); err != nil {
			t.Fatal(err)
		}
		f, err := w.svc.CreateFlow(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	busy, quiet := mk("Busy"), mk("Quiet")
	steps, err := campaigns.StepsOf(busy)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	since := now.AddDate(0, 0, -7)
	old, recent := now.AddDate(0, 0, -20), now.AddDate(0, 0, -2)
	var ids []int64
	for _, e := range emails {
		c, err := w.contacts.GetByEmail(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	runs := []campaigns.FlowRun{
		{FlowID: busy.ID, ContactID: ids[0], Occurrence: "a", Status: campaigns.RunActive, StartedAt: recent, NextAt: now},
		{FlowID: busy.ID, ContactID: ids[1], Occurrence: "a", Status: campaigns.RunDone, StartedAt: old, FinishedAt: &recent},
		{FlowID: busy.ID, ContactID: ids[2], Occurrence: "a", Status: campaigns.RunExited, StartedAt: recent, FinishedAt: &recent},
		{FlowID: busy.ID, ContactID: ids[2], Occurrence: "old", Status: campaigns.RunDone, StartedAt: old, FinishedAt: &old},
		{FlowID: quiet.ID, ContactID: ids[0], Occurrence: "old", Status: campaigns.RunActive, StartedAt: old, NextAt: now},
	}
	if err := w.db.Create(&runs).Error; err != nil {
		t.Fatal(err)
	}
	ds := []campaigns.Delivery{
		{CampaignID: steps[0].CampaignID, ContactID: ids[0], Occurrence: "a", Status: campaigns.Delivered, SentAt: &recent},
		{CampaignID: steps[0].CampaignID, ContactID: ids[2], Occurrence: "a", Status: campaigns.Delivered, SentAt: &recent},
		{CampaignID: steps[0].CampaignID, ContactID: ids[2], Occurrence: "old", Status: campaigns.Delivered, SentAt: &old},
		{CampaignID: steps[0].CampaignID, ContactID: ids[1], Occurrence: "a", Status: campaigns.Failed},
	}
	if err := w.db.Create(&ds).Error; err != nil {
		t.Fatal(err)
	}
	acts, err := w.svc.FlowActivitySince(ctx, since)
	if err != nil {
		t.Fatal(err)
	}
	type counts struct{ entered, done, exited, sent, active int64 }
	got := map[string]counts{}
	for _, a := range acts {
		got[a.Flow.Name] = counts{a.Entered, a.Done, a.Exited, a.Sent, a.Active}
	}
	want := map[string]counts{
		"Busy":  {entered: 2, done: 1, exited: 1, sent: 2, active: 1},
		"Quiet": {active: 1},
	}
	for name, wa := range want {
		if got[name] != wa {
			t.Errorf("%s: got %+v, want %+v", name, got[name], wa)
		}
	}
}
