package reports

import (
	"testing"

	"herald/campaigns"
)

// Variants with the same rate are level: the note says no variant is
// ahead (the leader is only the earlier letter), instead of a p-value of
// 1 for a difference there is not.
func TestABJudgeCallsEqualRatesLevel(t *testing.T) {
	tests := []struct {
		name     string
		metric   campaigns.Metric
		variants []VariantFigures
		winner   string // picked by a person
		leader   string
		level    bool
		wantNote string
	}{
		{"no opens yet", campaigns.MetricOpens, []VariantFigures{{Label: "A", Sent: 100}, {Label: "B", Sent: 100}}, "",
			"A", true, "A and B are level so far: no variant is ahead."},
		{"the same open rate", campaigns.MetricOpens, []VariantFigures{{Label: "A", Sent: 100, OpensUnique: 20}, {Label: "B", Sent: 50, OpensUnique: 10}, {Label: "C", Sent: 100, OpensUnique: 5}}, "",
			"A", true, "A and B are level so far: no variant is ahead."},
		{"B ahead on clicks", campaigns.MetricClicks, []VariantFigures{{Label: "A", Sent: 100, ClicksUnique: 10}, {Label: "B", Sent: 100, ClicksUnique: 12}}, "",
			"B", false, "The difference between B and A is not significant (p = 0.6513): it may be chance."},
		{"A picked by a person while B is ahead", campaigns.MetricClicks, []VariantFigures{{Label: "A", Sent: 100, ClicksUnique: 10}, {Label: "B", Sent: 100, ClicksUnique: 12}}, "A",
			"B", false, "The difference between B and A is not significant (p = 0.6513): it may be chance. A was picked as the winner all the same."},
		{"the leader picked", campaigns.MetricClicks, []VariantFigures{{Label: "A", Sent: 100, ClicksUnique: 10}, {Label: "B", Sent: 100, ClicksUnique: 12}}, "B",
			"B", false, "The difference between B and A is not significant (p = 0.6513): it may be chance."},
		{"B picked while level", campaigns.MetricOpens, []VariantFigures{{Label: "A", Sent: 100}, {Label: "B", Sent: 100}}, "B",
			"A", true, "A and B are level so far: no variant is ahead."},
		{"too few to compare", campaigns.MetricOpens, []VariantFigures{{Label: "A", Sent: 1}, {Label: "B", Sent: 1}}, "",
			"A", true, "Too few messages sent to compare the variants yet."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &ABReport{WinnerMetric: tc.metric, Variants: tc.variants, Winner: tc.winner}
			judge(r)
			if r.Leader != tc.leader || r.Level != tc.level || r.Note != tc.wantNote {
				t.Fatalf("leader %q, level %v, note %q; want %q, %v, %q", r.Leader, r.Level, r.Note, tc.leader, tc.level, tc.wantNote)
			}
		})
	}
}
