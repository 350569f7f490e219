package campaigns

import (
	"context"
	"fmt"
	"html"
	"strings"

	"herald/contacts"
)

// ResubscribeConfirmation is the message a person who unsubscribed gets
// when they ask to be subscribed again: it comes from the sender of the
// campaign they unsubscribed from and holds the link (confirmURL) that
// alone subscribes them. It is not a campaign: no tracking, no
// unsubscribe header, nothing recorded in the ledger.
func (s *Service) ResubscribeConfirmation(ctx context.Context, campaignID int64, ct contacts.Contact, confirmURL string) (*Message, error) {
	c, err := s.Get(ctx, campaignID)
	if err != nil {
		return nil, err
	}
	from := c.FromName
	if from == "" {
		from = c.FromEmail
	}
	text := fmt.Sprintf("You asked to receive the emails of %s again.\n\nTo confirm, open this link within 24 hours:\n%s\n\nIf you did not ask for this, ignore this email: you stay unsubscribed.\n", from, confirmURL)
	body := fmt.Sprintf(`<p>You asked to receive the emails of %s again.</p><p><a href="%s">Confirm: subscribe me again</a></p><p>The link works for 24 hours. If you did not ask for this, ignore this email: you stay unsubscribed.</p>`,
		html.EscapeString(from), html.EscapeString(confirmURL))
	return &Message{
		FromName:  c.FromName,
		FromEmail: c.FromEmail,
		To:        ct.Email,
		ToName:    strings.TrimSpace(ct.FirstName + " " + ct.LastName),
		ReplyTo:   c.ReplyTo,
		Subject:   "Confirm your subscription",
		Text:      text,
		HTML:      body,
		MessageID: s.MessageID(c.ID, 0) + ".resubscribe." + newClaimToken(),
	}, nil
}
