package campaigns_test

import (
	"context"
	"strings"
	"testing"

	"herald/campaigns"
	"herald/internal/campaigntest"
	"herald/internal/errs"
)

func TestHeaderFieldsRefuseLineBreaksAndStoreBareAddresses(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ptr := func(s string) *string { return &s }
	cases := []struct {
		name               string
		in                 campaigns.Input
		wantPath, wantMsg  string
		wantFrom, wantName string
		wantReplyTo        string
	}{
		{name: "CR LF in from_name", in: campaigns.Input{FromName: ptr("Shop\r\nBcc: all@victim.example")}, wantPath: "from_name", wantMsg: "single line"},
		{name: "LF in from_email", in: campaigns.Input{FromEmail: ptr("news@shop.example.com\nBcc: x@y.example")}, wantPath: "from_email", wantMsg: "single line"},
		{name: "CR in reply_to", in: campaigns.Input{ReplyTo: ptr("help@shop.example.com\rX: y")}, wantPath: "reply_to", wantMsg: "single line"},
		{name: "angle brackets are stripped", in: campaigns.Input{FromEmail: ptr("<news@Shop.Example.com>")}, wantFrom: "news@shop.example.com"},
		{name: "a display name goes to from_name", in: campaigns.Input{FromEmail: ptr("Tea Shop <news@shop.example.com>")}, wantFrom: "news@shop.example.com", wantName: "Tea Shop"},
		{name: "display name and from_name agree", in: campaigns.Input{FromEmail: ptr("Tea Shop <news@shop.example.com>"), FromName: ptr("Tea Shop")}, wantFrom: "news@shop.example.com", wantName: "Tea Shop"},
		{name: "display name and from_name differ", in: campaigns.Input{FromEmail: ptr("Tea Shop <news@shop.example.com>"), FromName: ptr("Coffee")}, wantPath: "from_email", wantMsg: "from_name"},
		{name: "reply_to in brackets", in: campaigns.Input{ReplyTo: ptr(" <help@shop.example.com> ")}, wantFrom: "news@shop.example.com", wantReplyTo: "help@shop.example.com"},
		{name: "reply_to with a name", in: campaigns.Input{ReplyTo: ptr("Help <help@shop.example.com>")}, wantPath: "reply_to", wantMsg: "address only"},
		{name: "not an address", in: campaigns.Input{FromEmail: ptr("news at shop")}, wantPath: "from_email", wantMsg: "not an email address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Name, in.Subject, in.HTMLBody = ptr("Spring"), ptr("Hello"), ptr("<p>Hi</p>")
			if in.FromEmail == nil {
				in.FromEmail = ptr("news@shop.example.com")
			}
			c, err := w.Svc.Create(context.Background(), in)
			if tc.wantPath != "" {
				ie, ok := errs.AsInvalid(err)
				if !ok || ie.Path != tc.wantPath || !strings.Contains(ie.Message, tc.wantMsg) {
					t.Fatalf("got %v, want an invalid %s saying %q", err, tc.wantPath, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			stored, err := w.Svc.Get(context.Background(), c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.FromEmail != tc.wantFrom || stored.FromName != tc.wantName || stored.ReplyTo != tc.wantReplyTo {
				t.Fatalf("stored from %q name %q reply-to %q, want %q %q %q", stored.FromEmail, stored.FromName, stored.ReplyTo, tc.wantFrom, tc.wantName, tc.wantReplyTo)
			}
		})
	}
}

func TestMigrateStoresAddressesSavedInBracketsBare(t *testing.T) {
	w := campaigntest.NewWorld(t)
	c := w.Campaign(t, nil, nil)
	if err := w.DB.Model(&campaigns.Campaign{}).Where("id = ?", c.ID).Updates(map[string]any{"from_email": "Tea Shop <news@shop.example.com>", "reply_to": "<help@shop.example.com>"}).Error; err != nil {
		t.Fatal(err)
	}
	if err := campaigns.Migrate(w.DB); err != nil {
		t.Fatal(err)
	}
	got, err := w.Svc.Get(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.FromEmail != "news@shop.example.com" || got.FromName != "Tea Shop" || got.ReplyTo != "help@shop.example.com" {
		t.Fatalf("after migrate: from %q name %q reply-to %q", got.FromEmail, got.FromName, got.ReplyTo)
	}
}

func TestParseMessageIDReadsOnlyDeliveriesMessageIDs(t *testing.T) {
	cases := []struct {
		in                 string
		campaign, delivery int64
		ok                 bool
	}{
		{"herald.12.345@news.example.com", 12, 345, true},
		{"<herald.12.345@news.example.com>", 12, 345, true},
		{" <herald.1.2@other.example> ", 1, 2, true},
		{"herald.12.0.a1b2c3@news.example.com", 0, 0, false},             // a test send
		{"herald.12.0.resubscribe.a1b2@news.example.com", 0, 0, false},   // a confirmation
		{"herald.12.345", 0, 0, false},                                   // no domain
		{"other.12.345@news.example.com", 0, 0, false},                   // not Herald's
		{"herald.-1.345@news.example.com", 0, 0, false},                  // negative
		{"herald.12.99999999999999999999@news.example.com", 0, 0, false}, // out of range
		{"", 0, 0, false},
	}
	for _, tc := range cases {
		c, d, ok := campaigns.ParseMessageID(tc.in)
		if c != tc.campaign || d != tc.delivery || ok != tc.ok {
			t.Errorf("ParseMessageID(%q) = %d, %d, %v; want %d, %d, %v", tc.in, c, d, ok, tc.campaign, tc.delivery, tc.ok)
		}
	}
}
