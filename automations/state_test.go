package automations_test

import (
	"testing"
	"time"

	"herald/automations"
)

// TestRunStateSaysWhyAnActiveRunWaits: an active run is deferred or
// failing by its hold whatever its next time, else waiting until its next
// time and due from then; a finished run's state is its status.
func TestRunStateSaysWhyAnActiveRunWaits(t *testing.T) {
	now := time.Date(2027, 5, 17, 12, 0, 0, 0, time.UTC)
	later, earlier := now.Add(time.Hour), now.Add(-time.Hour)
	tests := []struct {
		name string
		run  automations.Run
		want string
	}{
		{"held by the cap", automations.Run{Status: automations.RunActive, Hold: automations.HoldDeferred, NextAt: later}, "deferred"},
		{"held by the cap past its time", automations.Run{Status: automations.RunActive, Hold: automations.HoldDeferred, NextAt: earlier}, "deferred"},
		{"failed step", automations.Run{Status: automations.RunActive, Hold: automations.HoldFailed, NextAt: later}, "failing"},
		{"in a wait step", automations.Run{Status: automations.RunActive, NextAt: later}, "waiting"},
		{"due now", automations.Run{Status: automations.RunActive, NextAt: now}, "due"},
		{"overdue", automations.Run{Status: automations.RunActive, NextAt: earlier}, "due"},
		{"done", automations.Run{Status: automations.RunDone, NextAt: later}, "done"},
		{"exited", automations.Run{Status: automations.RunExited, Hold: automations.HoldDeferred}, "exited"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.run.State(now); got != tc.want {
				t.Fatalf("state %q, want %q", got, tc.want)
			}
		})
	}
}
