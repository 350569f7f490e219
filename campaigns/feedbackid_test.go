package campaigns_test

import (
	"context"
	"testing"

	"herald/campaigns"
	"herald/internal/campaigntest"
)

func TestFeedbackIDNamesCampaignKindAndSender(t *testing.T) {
	cases := []struct {
		name   string
		sender string // HERALD_FEEDBACK_ID_SENDER
		c      campaigns.Campaign
		want   string
	}{
		{"a campaign from its sender domain", "", campaigns.Campaign{ID: 42, Kind: campaigns.KindCampaign, FromEmail: "news@Shop.Example.com"}, "42:campaign:shop.example.com:herald"},
		{"an automation message", "", campaigns.Campaign{ID: 7, Kind: campaigns.KindAutomation, FromEmail: "hello@shop.example.com"}, "7:automation:shop.example.com:herald"},
		{"the configured sender wins", "tea-shop", campaigns.Campaign{ID: 3, Kind: campaigns.KindCampaign, FromEmail: "news@mail.example.net"}, "3:campaign:tea-shop:herald"},
		{"an address literal loses its colons", "", campaigns.Campaign{ID: 5, Kind: campaigns.KindCampaign, FromEmail: "news@[IPv6:2001:db8::1]"}, "5:campaign:[ipv62001db81]:herald"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := campaigns.NewService(nil, nil, nil, nil, nil, campaigns.Config{FeedbackIDSender: tc.sender})
			if got := svc.FeedbackID(&tc.c); got != tc.want {
				t.Errorf("FeedbackID = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestValidFeedbackIDSender(t *testing.T) {
	cases := map[string]bool{
		"shop.example.com":       true,
		"tea-shop_2":             true,
		"":                       false,
		"a:b":                    false,
		"two words":              false,
		"café":                   false,
		string(make([]byte, 65)): false,
	}
	for v, want := range cases {
		if got := campaigns.ValidFeedbackIDSender(v); got != want {
			t.Errorf("ValidFeedbackIDSender(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestSentMessagesCarryFeedbackIDAndTestSendsDoNot(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	w.AddContacts(t, 3, "NL")
	c := w.Campaign(t, []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}, nil)
	m := &campaigntest.Mailer{}
	if _, err := w.Svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	w.Drain(t, c.ID, campaigns.NewSender(w.Svc, m, nil))
	if len(m.Msgs) != 3 {
		t.Fatalf("%d messages sent, want 3", len(m.Msgs))
	}
	want := w.Svc.FeedbackID(&c)
	for _, msg := range m.Msgs {
		if msg.FeedbackID != want {
			t.Errorf("message to %s has Feedback-ID %q, want %q", msg.To, msg.FeedbackID, want)
		}
	}
	tm := &campaigntest.Mailer{}
	if err := w.Svc.TestSend(ctx, c.ID, []string{"me@shop.example.com"}, tm); err != nil {
		t.Fatal(err)
	}
	if len(tm.Msgs) != 1 {
		t.Fatalf("%d test messages, want 1", len(tm.Msgs))
	}
	if got := tm.Msgs[0].FeedbackID; got != "" {
		t.Errorf("test send carries Feedback-ID %q, want none", got)
	}
}
