package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"herald/campaigns"
	"herald/reports"
)

// The progress bar gives a time left only while messages are queued: what
// waits for an A/B winner, a contact's local hour or the frequency cap is
// not finished by the send rate, so "about 1 second left" would be wrong.
func TestProgressGivesATimeLeftOnlyWhileMessagesAreQueued(t *testing.T) {
	eta := func(s float64) *float64 { return &s }
	tests := []struct {
		name string
		st   reports.Stats
		want string
	}{
		{"queued messages at the rate", reports.Stats{Total: 1000, Queued: 600, Sent: 400, Rate: 10, ETASeconds: eta(60)}, "a minute"},
		{"one message in a worker's hands", reports.Stats{Total: 2, InFlight: 1, Sent: 1, Rate: 5, ETASeconds: eta(0)}, "a second"},
		{"a few seconds", reports.Stats{Total: 100, Queued: 30, Sent: 70, Rate: 10, ETASeconds: eta(3)}, "4 seconds"},
		{"the rest waits for the A/B winner", reports.Stats{Total: 1000, Sent: 200, Held: 800, Rate: 27.8, ETASeconds: eta(0)}, ""},
		{"the rest waits for local times", reports.Stats{Total: 10, Sent: 4, Deferred: 6, WaitingLocalTime: 6, Rate: 1, ETASeconds: eta(0)}, ""},
		{"no rate yet", reports.Stats{Total: 10, Queued: 10}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := progressOf(campaigns.Campaign{Status: campaigns.CampaignSending}, tc.st)
			if p.ETA != tc.want {
				t.Fatalf("time left %q, want %q", p.ETA, tc.want)
			}
		})
	}
}

// While everyone waits for their local hour nothing is being sent, so the
// campaign page leaves out "0 per second"; a campaign with messages queued
// shows its rate.
func TestCampaignPageShowsTheSendRateOnlyWhileMessagesAreQueued(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, _ := f.draftForLocalTime(t)
	if _, err := f.camps.SendWith(ctx, c.ID, campaigns.SendOptions{LocalTime: "09:00", LocalDate: time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)}); err != nil {
		t.Fatal(err)
	}
	if err := f.camps.Launch(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	cookie, _ := f.login(t)
	page := f.page(t, cookie, "/campaigns/"+itoa(c.ID))
	if !strings.Contains(page, `<b data-p="waiting">1</b>`) || !strings.Contains(page, `<span class="rate" hidden>`) {
		t.Error("the page of a campaign waiting for local times shows a send rate")
	}

	sent, _ := f.sentCampaign(t) // sending, its one delivery queued (the fixture's queue runs nothing)
	if err := f.camps.Launch(ctx, sent.ID); err != nil {
		t.Fatal(err)
	}
	page = f.page(t, cookie, "/campaigns/"+itoa(sent.ID))
	if !strings.Contains(page, `<b data-p="queued">1</b>`) || !strings.Contains(page, `<span class="rate">`) {
		t.Error("the page of a campaign with messages queued hides its send rate")
	}
}

// The campaign page reloads itself to show an A/B test's pick buttons
// once the test is under way. Recipients held for the winner do not say
// so by themselves: the launch writes everyone held before it sends the
// test share, and a page drawn then would have no buttons to show.
func TestProgressSaysAnABTestIsUnderWayOnlyOnceItsShareIsOut(t *testing.T) {
	tests := []struct {
		name  string
		state campaigns.ABState
		st    reports.Stats
		want  bool
	}{
		{"launch writing everyone held", "", reports.Stats{Total: 200, Held: 200}, false},
		{"share out, winner to pick", campaigns.ABTesting, reports.Stats{Total: 200, Queued: 40, Held: 160}, true},
		{"share out, none of it due (tiny audience)", campaigns.ABTesting, reports.Stats{Total: 1, Held: 1}, true},
		{"winner picked", campaigns.ABDecided, reports.Stats{Total: 200, Sent: 40, Queued: 160}, false},
		{"no A/B test", "", reports.Stats{Total: 200, Queued: 200}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := progressOf(campaigns.Campaign{Status: campaigns.CampaignSending, ABState: tc.state}, tc.st)
			if p.ABTesting != tc.want {
				t.Fatalf("ab_testing %v, want %v", p.ABTesting, tc.want)
			}
		})
	}
}
