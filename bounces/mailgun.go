package bounces

import (
	"context"
	"strconv"
	"strings"
	"time"

	"herald/internal/errs"
)

// Mailgun reads Mailgun's webhooks (JSON, "failed" and "complained"
// events), signed with HMAC-SHA256 of timestamp and token under the
// webhook signing key. A timestamp older than 15 minutes is refused; a
// replay within them names the same event id and counts once. The
// signature does not cover the body, so Tokens (when set) refuses a token
// that comes back with another body.
type Mailgun struct {
	SigningKey []byte
	Now        func() time.Time
	Tokens     *Tokens
}

type mailgunPayload struct {
	Signature *struct {
		Timestamp string `json:"timestamp"`
		Token     string `json:"token"`
		Signature string `json:"signature"`
	} `json:"signature"`
	EventData *struct {
		Event     string  `json:"event"`
		ID        string  `json:"id"`
		Timestamp float64 `json:"timestamp"`
		Severity  string  `json:"severity"`
		Reason    string  `json:"reason"`
		Recipient string  `json:"recipient"`
		Message   struct {
			Headers struct {
				MessageID string `json:"message-id"`
			} `json:"headers"`
		} `json:"message"`
		DeliveryStatus struct {
			Code        int    `json:"code"`
			Message     string `json:"message"`
			Description string `json:"description"`
		} `json:"delivery-status"`
	} `json:"event-data"`
}

// Parse checks the signature and its age, then reads the event.
func (m Mailgun) Parse(ctx context.Context, req Request) ([]Report, error) {
	if len(m.SigningKey) == 0 {
		return nil, ErrNotConfigured
	}
	var p mailgunPayload
	if err := looseJSON(req.Body, &p); err != nil {
		return nil, err
	}
	if p.Signature == nil {
		return nil, signatureError("no signature object")
	}
	s := p.Signature
	if !equalHex(s.Signature, hmacSHA256(m.SigningKey, []byte(s.Timestamp+s.Token))) {
		return nil, signatureError("the signature is not the HMAC of timestamp and token")
	}
	sec, err := strconv.ParseInt(s.Timestamp, 10, 64)
	if err != nil {
		return nil, signatureError("the signature's timestamp is not a number")
	}
	now := time.Now()
	if m.Now != nil {
		now = m.Now()
	}
	if d := now.Sub(time.Unix(sec, 0)); d > replayWindow || d < -replayWindow {
		return nil, signatureError("the signature's timestamp is %s away from now", d.Round(time.Second))
	}
	if m.Tokens != nil {
		ok, err := m.Tokens.Claim(ctx, SourceMailgun, s.Token, req.Body, now)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, signatureError("the signature's token was used before on another body")
		}
	}
	ev := p.EventData
	if ev == nil {
		return nil, errs.Invalid("event-data", "is missing")
	}
	rep := Report{
		Email: ev.Recipient, MessageID: strings.Trim(strings.TrimSpace(ev.Message.Headers.MessageID), "<>"),
		Source: SourceMailgun, ProviderID: ev.ID, OccurredAt: unixTime(ev.Timestamp),
	}
	if rep.ProviderID == "" {
		rep.ProviderID = "token:" + s.Token
	}
	switch ev.Event {
	case "failed":
		switch ev.Severity {
		case "permanent":
			rep.Kind = Hard
		case "temporary":
			rep.Kind = Soft
		default:
			return nil, errs.Invalid("event-data.severity", "is permanent or temporary, got %q", ev.Severity)
		}
		rep.Diagnostic = mailgunDiagnostic(ev.DeliveryStatus.Code, ev.DeliveryStatus.Message, ev.DeliveryStatus.Description, ev.Reason)
	case "complained":
		rep.Kind = Complaint
	default:
		// Deliveries, opens and the rest are Mailgun's to report, not ours.
		return nil, nil
	}
	if strings.TrimSpace(rep.Email) == "" {
		return nil, errs.Invalid("event-data.recipient", "is missing")
	}
	return []Report{rep}, nil
}

func mailgunDiagnostic(code int, msg, desc, reason string) string {
	var parts []string
	if code != 0 {
		parts = append(parts, strconv.Itoa(code))
	}
	for _, s := range []string{msg, desc} {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return reason
	}
	return strings.Join(parts, " ")
}
