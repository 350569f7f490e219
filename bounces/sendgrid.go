package bounces

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"

	"herald/internal/errs"
)

// SendGrid's signed event webhook headers.
const (
	SendGridSignatureHeader = "X-Twilio-Email-Event-Webhook-Signature"
	SendGridTimestampHeader = "X-Twilio-Email-Event-Webhook-Timestamp"
)

// SendGrid reads SendGrid's Event Webhook, signed with ECDSA P-256 over
// the timestamp header followed by the body. Its events carry their own
// id (sg_event_id), so a replay counts once.
type SendGrid struct {
	key *ecdsa.PublicKey
}

// NewSendGrid reads the verification key as SendGrid shows it: base64 of
// the DER public key. An empty key gives an unconfigured endpoint.
func NewSendGrid(publicKey string) (SendGrid, error) {
	publicKey = strings.TrimSpace(publicKey)
	if publicKey == "" {
		return SendGrid{}, nil
	}
	der, err := base64.StdEncoding.DecodeString(publicKey)
	if err != nil {
		return SendGrid{}, fmt.Errorf("bounces: the SendGrid verification key is not base64: %w", err)
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return SendGrid{}, fmt.Errorf("bounces: the SendGrid verification key is not a public key: %w", err)
	}
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return SendGrid{}, fmt.Errorf("bounces: the SendGrid verification key is not an ECDSA key")
	}
	return SendGrid{key: k}, nil
}

// Configured reports whether a key is set.
func (s SendGrid) Configured() bool { return s.key != nil }

type sendgridEvent struct {
	Email     string  `json:"email"`
	Timestamp float64 `json:"timestamp"`
	SMTPID    string  `json:"smtp-id"`
	Event     string  `json:"event"`
	Type      string  `json:"type"`
	Reason    string  `json:"reason"`
	Status    string  `json:"status"`
	EventID   string  `json:"sg_event_id"`
}

// Parse checks the signature, then reads the events.
func (s SendGrid) Parse(_ context.Context, req Request) ([]Report, error) {
	if s.key == nil {
		return nil, ErrNotConfigured
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(req.Header.Get(SendGridSignatureHeader)))
	ts := req.Header.Get(SendGridTimestampHeader)
	if err != nil || len(sig) == 0 || ts == "" {
		return nil, signatureError("%s and %s are needed", SendGridSignatureHeader, SendGridTimestampHeader)
	}
	h := sha256.New()
	h.Write([]byte(ts))
	h.Write(req.Body)
	if !ecdsa.VerifyASN1(s.key, h.Sum(nil), sig) {
		return nil, signatureError("the signature does not match the timestamp and body")
	}
	var evs []sendgridEvent
	if err := looseJSON(req.Body, &evs); err != nil {
		return nil, err
	}
	if len(evs) > maxReports*10 {
		return nil, errs.Invalid("", "a request holds at most %d events", maxReports*10)
	}
	var out []Report
	for i, ev := range evs {
		var kind Kind
		switch ev.Event {
		case "bounce":
			// "blocked" is a refusal of the message for now (reputation,
			// content), not of the address.
			kind = Hard
			if ev.Type == "blocked" {
				kind = Soft
			}
		case "dropped":
			// Dropped for an address SendGrid already knows is bad.
			switch ev.Reason {
			case "Bounced Address", "Invalid":
				kind = Hard
			case "Spam Reporting Address":
				kind = Complaint
			default:
				continue
			}
		case "spamreport":
			kind = Complaint
		default:
			continue
		}
		if strings.TrimSpace(ev.Email) == "" {
			return nil, errs.Invalid(fmt.Sprintf("[%d].email", i), "is missing")
		}
		rep := Report{
			Kind: kind, Email: ev.Email, MessageID: strings.Trim(strings.TrimSpace(ev.SMTPID), "<>"),
			Source: SourceSendGrid, ProviderID: ev.EventID, OccurredAt: unixTime(ev.Timestamp),
		}
		if kind != Complaint {
			rep.Diagnostic = strings.TrimSpace(strings.TrimSpace(ev.Status + " " + ev.Reason))
		}
		out = append(out, rep)
	}
	return out, nil
}
