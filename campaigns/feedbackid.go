package campaigns

import (
	"strconv"
	"strings"
)

// FeedbackIDSenderID is the last field of every Feedback-ID header: the
// identifier Gmail's feedback loop aggregates on first, which it wants
// stable across all of a sender's mail and 5 to 15 characters long.
const FeedbackIDSenderID = "herald"

// FeedbackID is the Feedback-ID header of campaign c's messages, in
// Gmail's "a:b:c:SenderId" form: the campaign id, its kind ("campaign" or
// "automation") and the sender (FeedbackIDSender, or the domain of the
// campaign's From address), then FeedbackIDSenderID. Gmail's postmaster
// reports then give the spam rate per campaign, per kind and per sending
// domain. Nothing in it is personal, and no field holds a colon, which
// would shift the fields.
func (s *Service) FeedbackID(c *Campaign) string {
	kind := "campaign"
	if c.Kind == KindAutomation {
		kind = "automation"
	}
	sender := s.cfg.FeedbackIDSender
	if sender == "" {
		sender = strings.ToLower(domainOf(c.FromEmail))
	}
	return strconv.FormatInt(c.ID, 10) + ":" + kind + ":" + feedbackField(sender) + ":" + FeedbackIDSenderID
}

// ValidFeedbackIDSender reports whether v can stand as the sender field of
// a Feedback-ID: printable ASCII without colons or spaces, at most 64
// characters.
func ValidFeedbackIDSender(v string) bool {
	if v == "" || len(v) > 64 {
		return false
	}
	return feedbackField(v) == v
}

// feedbackField keeps the characters a header field may carry as they
// are, dropping colons (field separators), spaces and anything outside
// printable ASCII.
func feedbackField(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if c := v[i]; c > ' ' && c < 0x7f && c != ':' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func domainOf(email string) string {
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		return email[i+1:]
	}
	return ""
}
