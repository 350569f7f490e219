package campaigns_test

import (
	"context"
	"testing"

	"herald/campaigns"
	"herald/internal/campaigntest"
)

func TestPostmarkMetadataHeaderNamesTheMessageOnlyWhenEnabledAndNotOnTestSends(t *testing.T) {
	for _, enabled := range []bool{true, false} {
		name := "disabled"
		if enabled {
			name = "enabled"
		}
		t.Run(name, func(t *testing.T) {
			w := campaigntest.NewWorldWith(t, func(c *campaigns.Config) { c.PostmarkMetadata = enabled })
			ctx := context.Background()
			w.AddContacts(t, 2, "NL")
			c := w.Campaign(t, []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}, nil)
			m := &campaigntest.Mailer{}
			if _, err := w.Svc.Send(ctx, c.ID, nil); err != nil {
				t.Fatal(err)
			}
			w.Drain(t, c.ID, campaigns.NewSender(w.Svc, m, nil))
			if len(m.Msgs) != 2 {
				t.Fatalf("%d messages sent, want 2", len(m.Msgs))
			}
			for _, msg := range m.Msgs {
				var want []campaigns.Header
				if enabled {
					want = []campaigns.Header{{Name: "X-PM-Metadata-herald-message-id", Value: msg.MessageID}}
				}
				if len(msg.Headers) != len(want) || (len(want) == 1 && msg.Headers[0] != want[0]) {
					t.Errorf("message to %s has headers %+v, want %+v", msg.To, msg.Headers, want)
				}
				if enabled {
					if cid, _, ok := campaigns.ParseMessageID(msg.MessageID); !ok || cid != c.ID {
						t.Errorf("header value %q does not name campaign %d", msg.MessageID, c.ID)
					}
				}
			}
			tm := &campaigntest.Mailer{}
			if err := w.Svc.TestSend(ctx, c.ID, []string{"me@shop.example.com"}, tm); err != nil {
				t.Fatal(err)
			}
			if len(tm.Msgs) != 1 {
				t.Fatalf("%d test messages, want 1", len(tm.Msgs))
			}
			if got := tm.Msgs[0].Headers; len(got) != 0 {
				t.Errorf("test send carries headers %+v, want none", got)
			}
		})
	}
}
