package campaigns_test

import (
	"testing"
	"time"

	"herald/campaigns"
)

// TestRunStateSaysWhyAnActiveRunWaits: an active run is deferred or
// failing by its hold whatever its next time, else waiting until its next
// time and due from then; a finished run's state is its status.
func TestRunStateSaysWhyAnActiveRunWaits(t *testing.T) {
	now := time.Date(2027, 5, 17, 12, 0, 0, 0, time.UTC)
	later, earlier := now.Add(time.Hour), now.Add(-time.Hour)
	tests := []struct {
		name string
		run  campaigns.FlowRun
		want string
	}{
		{"held by the cap", campaigns.FlowRun{Status: campaigns.RunActive, Hold: campaigns.HoldDeferred, NextAt: later}, "deferred"},
		{"held by the cap past its time", campaigns.FlowRun{Status: campaigns.RunActive, Hold: campaigns.HoldDeferred, NextAt: earlier}, "deferred"},
		{"failed step", campaigns.FlowRun{Status: campaigns.RunActive, Hold: campaigns.HoldFailed, NextAt: later}, "failing"},
		{"in a wait step", campaigns.FlowRun{Status: campaigns.RunActive, NextAt: later}, "waiting"},
		{"due now", campaigns.FlowRun{Status: campaigns.RunActive, NextAt: now}, "due"},
		{"overdue", campaigns.FlowRun{Status: campaigns.RunActive, NextAt: earlier}, "due"},
		{"done", campaigns.FlowRun{Status: campaigns.RunDone, NextAt: later}, "done"},
		{"exited", campaigns.FlowRun{Status: campaigns.RunExited, Hold: campaigns.HoldDeferred}, "exited"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.run.State(now); got != tc.want {
				t.Fatalf("state %q, want %q", got, tc.want)
			}
		})
	}
}
