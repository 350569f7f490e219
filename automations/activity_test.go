package automations_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"herald/automations"
	"herald/campaigns"
	"herald/contacts"
)

func TestActivitySinceCountsRunsAndMessagesOfThePeriodPerFlow(t *testing.T) {
	w := newFlowWorld(t, worldConfig{})
	ctx := context.Background()
	mk := func(name string) automations.Automation {
		var in automations.Input
		def := `{"name": "` + name + `", "trigger": {"type": "event", "event": "tea"}, "steps": [` + sendStep(name) + `, {"type": "wait", "duration": "1d"}]}`
		if err := json.Unmarshal([]byte(def), &in); err != nil {
			t.Fatal(err)
		}
		f, err := w.autos.Create(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	busy, quiet := mk("Busy"), mk("Quiet")
	steps, err := automations.StepsOf(busy)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	since := now.AddDate(0, 0, -7)
	old, recent := now.AddDate(0, 0, -20), now.AddDate(0, 0, -2)
	var ids []int64
	for _, e := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		ids = append(ids, w.contact(t, contacts.Input{Email: &e}).ID)
	}
	runs := []automations.Run{
		{AutomationID: busy.ID, ContactID: ids[0], Occurrence: "a", Status: automations.RunActive, StartedAt: recent, NextAt: now},
		{AutomationID: busy.ID, ContactID: ids[1], Occurrence: "a", Status: automations.RunDone, StartedAt: old, FinishedAt: &recent},
		{AutomationID: busy.ID, ContactID: ids[2], Occurrence: "a", Status: automations.RunExited, StartedAt: recent, FinishedAt: &recent},
		{AutomationID: busy.ID, ContactID: ids[2], Occurrence: "old", Status: automations.RunDone, StartedAt: old, FinishedAt: &old},
		{AutomationID: quiet.ID, ContactID: ids[0], Occurrence: "old", Status: automations.RunActive, StartedAt: old, NextAt: now},
	}
	if err := w.db.Create(&runs).Error; err != nil {
		t.Fatal(err)
	}
	ds := []campaigns.Delivery{
		{CampaignID: steps[0].CampaignID, ContactID: ids[0], Occurrence: "a", Status: campaigns.DeliverySent, SentAt: &recent},
		{CampaignID: steps[0].CampaignID, ContactID: ids[2], Occurrence: "a", Status: campaigns.DeliverySent, SentAt: &recent},
		{CampaignID: steps[0].CampaignID, ContactID: ids[2], Occurrence: "old", Status: campaigns.DeliverySent, SentAt: &old},
		{CampaignID: steps[0].CampaignID, ContactID: ids[1], Occurrence: "a", Status: campaigns.DeliveryFailed},
	}
	if err := w.db.Create(&ds).Error; err != nil {
		t.Fatal(err)
	}
	acts, err := w.autos.ActivitySince(ctx, since)
	if err != nil {
		t.Fatal(err)
	}
	type counts struct{ entered, done, exited, sent, active int64 }
	got := map[string]counts{}
	for _, a := range acts {
		got[a.Automation.Name] = counts{a.Entered, a.Done, a.Exited, a.Sent, a.Active}
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
