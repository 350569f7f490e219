package campaigns_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"herald/campaigns"
	"herald/internal/campaigntest"
)

// A run of permanent failures pauses the campaign with the reason before
// it burns the list; temporary ones go back to the queue and do not.
func TestACampaignWithManyFailuresPausesItselfWithTheReason(t *testing.T) {
	tests := []struct {
		name       string
		fail       error
		wantPaused bool
	}{
		{"every message refused for good", &campaigns.SendError{Code: 554, Msg: "5.7.1 message refused as spam"}, true},
		{"every address refused", &campaigns.SendError{Recipient: true, Code: 550, Msg: "5.1.1 no such user"}, true},
		{"every message greylisted", &campaigns.SendError{Temporary: true, Code: 451, Msg: "4.7.1 try later"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := campaigntest.NewWorld(t)
			ctx := context.Background()
			w.AddContacts(t, 60, "NL")
			c := w.Campaign(t, []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}, nil)
			all := w.Launch(t, w.Svc, c.ID)
			m := &campaigntest.Mailer{Fail: func(string, int) error { return tc.fail }}
			err := campaigns.NewSender(w.Svc, m, nil).SendBatch(ctx, c.ID, all, false)
			if err != nil && !errors.Is(err, campaigns.ErrRetryLater) {
				t.Fatal(err)
			}
			got, _ := w.Svc.Get(ctx, c.ID)
			st, _ := w.Rep.Stats(ctx, c.ID)
			if !tc.wantPaused {
				if got.Status != campaigns.CampaignSending || st.Queued != 60 {
					t.Errorf("status %s with %d queued; want still sending with all 60 queued for a retry", got.Status, st.Queued)
				}
				return
			}
			if got.Status != campaigns.CampaignPaused || !strings.Contains(got.PauseReason, "paused automatically") || !strings.Contains(got.PauseReason, tc.fail.Error()) {
				t.Fatalf("status %s, reason %q; want paused with the last error", got.Status, got.PauseReason)
			}
			// It stopped early: most of the list is still there to send.
			if tried := st.Failed + st.Bounced; tried > 25 || st.Queued < 35 {
				t.Errorf("%d failed or bounced and %d still queued; want the pause within the first claims", tried, st.Queued)
			}
		})
	}
}
