package segments_test

import (
	"context"
	"testing"

	"herald/campaigns"
	"herald/contacts"
	"herald/segments"
)

// TestEngagementCountsCampaignsNotDeliveries checks that "the last N
// campaigns" are distinct campaigns: an automation sends its campaign once
// per occurrence (each birthday, each entry into a segment), and those
// repeats must neither push other campaigns out of the last N nor count
// as campaigns of their own.
//
// Campaigns went out 30 ($C1), 20 ($C2) and 10 ($C3) days ago; $C2 is an
// automation's, sent again 5 and 1 days ago to those who had it.
//   - rep was sent $C1, $C2, $C2, $C2 and opened $C1 and $C2.
//   - one was sent $C1, $C2, $C2 and opened only $C1.
//   - all was sent $C1, $C2, $C3 and opened all three.
//   - two was sent $C2, $C2 and opened $C2.
func TestEngagementCountsCampaignsNotDeliveries(t *testing.T) {
	w := newWorld(t, fixedClock(now), nil, []person{
		{email: "rep@example.com"}, {email: "one@example.com"}, {email: "all@example.com"}, {email: "two@example.com"},
	})
	for _, k := range []string{"$C1", "$C2", "$C3"} {
		w.campaign(t, k)
	}
	sent := func(key, who string, days float64, occurrence string) {
		t.Helper()
		at := daysAgo(days).UTC()
		d := campaigns.Delivery{CampaignID: w.campaigns[key], ContactID: w.id(t, who), Occurrence: occurrence,
			Status: campaigns.DeliverySent, Batch: 1, SentAt: &at}
		if err := w.g.Create(&d).Error; err != nil {
			t.Fatalf("create delivery: %v", err)
		}
	}
	sent("$C1", "rep", 30, "")
	sent("$C2", "rep", 20, "a")
	sent("$C2", "rep", 5, "b")
	sent("$C2", "rep", 1, "c")
	sent("$C1", "one", 30, "")
	sent("$C2", "one", 20, "a")
	sent("$C2", "one", 5, "b")
	sent("$C1", "all", 30, "")
	sent("$C2", "all", 20, "a")
	sent("$C3", "all", 10, "")
	sent("$C2", "two", 20, "a")
	sent("$C2", "two", 5, "b")
	open := func(who, key string, days float64) ev {
		return ev{who: who, typ: contacts.EventOpen, at: daysAgo(days), campaign: key}
	}
	w.record(t,
		open("rep", "$C1", 29), open("rep", "$C2", 19),
		open("one", "$C1", 29),
		open("all", "$C1", 29), open("all", "$C2", 19), open("all", "$C3", 9),
		open("two", "$C2", 4),
	)
	svc := segments.NewService(w.g, w.store, fixedClock(now), nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name, def, want string
	}{
		{"all_of_last 2 counts a repeated campaign once", `{"field":"opened","op":"all_of_last","value":2}`, "all rep two"},
		{"all_of_last 3 with two distinct campaigns sent means both", `{"field":"opened","op":"all_of_last","value":3}`, "all rep two"},
		{"all_of_last 1 is the latest campaign", `{"field":"opened","op":"all_of_last","value":1}`, "all rep two"},
		{"any_of_last 2 reaches past the repeats", `{"field":"opened","op":"any_of_last","value":2}`, "all one rep two"},
		{"any_of_last 1 is the repeated campaign", `{"field":"opened","op":"any_of_last","value":1}`, "all rep two"},
		{"none_of_last 2 reaches past the repeats", `{"field":"opened","op":"none_of_last","value":2}`, ""},
		{"none_of_last 1", `{"field":"opened","op":"none_of_last","value":1}`, "one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, cs, err := svc.Preview(ctx, []byte(tc.def), 10)
			if err != nil {
				t.Fatalf("Preview(%s): %v", tc.def, err)
			}
			if got := contactSet(cs); !got.equal(names(tc.want)) || n != int64(len(names(tc.want))) {
				t.Errorf("Preview(%s) = %d %v, want %v", tc.def, n, got, names(tc.want))
			}
		})
	}
}
