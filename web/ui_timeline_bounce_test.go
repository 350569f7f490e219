package web

import (
	"testing"

	"herald/contacts"
	"herald/internal/db"
)

// A bounce or complaint on a contact's timeline says what the server
// answered and where the report came from, in words, not as its stored
// keys ("hard: true, source: webhook").
func TestTimelineWordsBouncesAndComplaints(t *testing.T) {
	cid := int64(7)
	name := func(int64) string { return "Winter sale" }
	link := func(int64, int64) string { return "" }
	tests := []struct {
		name        string
		typ         string
		props       db.JSONMap
		title, want string
	}{
		{"a hard bounce from the generic webhook", contacts.EventBounce,
			db.JSONMap{"hard": true, "source": "webhook", "diagnostic": "550 5.1.1 user unknown"},
			"Hard bounce: Winter sale", "550 5.1.1 user unknown · reported to the bounce webhook"},
		{"a soft bounce from SendGrid", contacts.EventBounce,
			db.JSONMap{"hard": false, "source": "sendgrid", "diagnostic": "452 mailbox full"},
			"Soft bounce: Winter sale", "452 mailbox full · reported by SendGrid"},
		{"a bounce read from the mailbox", contacts.EventBounce,
			db.JSONMap{"hard": true, "source": "mailbox"},
			"Hard bounce: Winter sale", "found in the bounce mailbox"},
		{"a refusal at send time", contacts.EventBounce,
			db.JSONMap{"hard": true, "reason": "550 no such user"},
			"Hard bounce: Winter sale", "550 no such user · refused when it was sent"},
		{"a complaint from Amazon SES", contacts.EventComplaint,
			db.JSONMap{"source": "ses", "diagnostic": "abuse"},
			"Marked as spam: Winter sale", "abuse · reported by Amazon SES"},
		{"other properties stay", contacts.EventComplaint,
			db.JSONMap{"source": "mailgun", "list": "news"},
			"Marked as spam: Winter sale", "reported by Mailgun · list: news"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := eventActivity(contacts.Event{Type: tc.typ, CampaignID: &cid, Properties: tc.props}, "EUR", name, link)
			if a.Title != tc.title || a.Detail != tc.want {
				t.Fatalf("%q / %q, want %q / %q", a.Title, a.Detail, tc.title, tc.want)
			}
		})
	}
}
