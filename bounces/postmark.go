package bounces

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"herald/campaigns"
	"herald/internal/errs"
)

// Postmark reads Postmark's bounce and spam complaint webhooks. Postmark
// does not sign them: the webhook URL carries either HTTP basic
// credentials (User and Password) or a secret path segment (PathSecret),
// compared in constant time.
type Postmark struct {
	User, Password string
	PathSecret     string
}

// Configured reports whether either way of checking is set.
func (p Postmark) Configured() bool {
	return (p.User != "" && p.Password != "") || p.PathSecret != ""
}

type postmarkPayload struct {
	RecordType  string          `json:"RecordType"`
	ID          json.RawMessage `json:"ID"`
	Type        string          `json:"Type"`
	Email       string          `json:"Email"`
	Description string          `json:"Description"`
	Details     string          `json:"Details"`
	BouncedAt   string          `json:"BouncedAt"`
	// Metadata holds the X-PM-Metadata-* headers of the message; values
	// may be any JSON (Postmark's API takes numbers too).
	Metadata map[string]any `json:"Metadata"`
}

// postmarkKinds maps Postmark's documented bounce types to Herald's; the
// others (auto-responders, subscribe and unsubscribe requests, address
// changes, challenge and virus notices, inbound and rendering errors) say
// nothing about whether the address takes mail and are ignored.
var postmarkKinds = map[string]Kind{
	"HardBounce":          Hard,
	"BadEmailAddress":     Hard,
	"ManuallyDeactivated": Hard,
	"SpamComplaint":       Complaint,
	"Transient":           Soft,
	"SoftBounce":          Soft,
	"DnsError":            Soft,
	"SpamNotification":    Soft,
	"Blocked":             Soft,
	"DMARCPolicy":         Soft,
	"Unknown":             Soft,
}

func sameSecret(given, want string) bool {
	a, b := sha256.Sum256([]byte(given)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// Parse checks the credentials or the path secret, then reads the record.
func (p Postmark) Parse(_ context.Context, req Request) ([]Report, error) {
	if !p.Configured() {
		return nil, ErrNotConfigured
	}
	ok := false
	if p.PathSecret != "" && req.PathSecret != "" {
		ok = sameSecret(req.PathSecret, p.PathSecret)
	} else if p.User != "" && p.Password != "" && req.HasAuth {
		ok = sameSecret(req.User, p.User) && sameSecret(req.Password, p.Password)
	}
	if !ok {
		return nil, signatureError("the webhook's credentials or secret path are wrong")
	}
	var r postmarkPayload
	if err := looseJSON(req.Body, &r); err != nil {
		return nil, err
	}
	var kind Kind
	switch r.RecordType {
	case "Bounce":
		k, known := postmarkKinds[r.Type]
		if !known {
			return nil, nil
		}
		kind = k
	case "SpamComplaint":
		kind = Complaint
	case "":
		return nil, errs.Invalid("RecordType", "is missing")
	default:
		// Deliveries, opens, clicks and subscription changes.
		return nil, nil
	}
	if strings.TrimSpace(r.Email) == "" {
		return nil, errs.Invalid("Email", "is missing")
	}
	rep := Report{Kind: kind, Email: r.Email, Source: SourcePostmark, Diagnostic: postmarkDiagnostic(r.Description, r.Details)}
	// Herald's own header names the delivery; the Recorder ignores a
	// value that is not one of Herald's Message-IDs.
	if mid, ok := r.Metadata[campaigns.PostmarkMetadataKey].(string); ok {
		rep.MessageID = strings.Trim(strings.TrimSpace(mid), "<>")
	}
	if id := strings.Trim(string(r.ID), `"`); id != "" && id != "null" {
		if _, err := strconv.ParseInt(id, 10, 64); err != nil {
			return nil, errs.Invalid("ID", "is not a number")
		}
		rep.ProviderID = r.RecordType + ":" + id
	}
	if r.BouncedAt != "" {
		t, err := time.Parse(time.RFC3339Nano, r.BouncedAt)
		if err != nil {
			return nil, errs.Invalid("BouncedAt", "is not an RFC 3339 time")
		}
		rep.OccurredAt = t
	}
	return []Report{rep}, nil
}

func postmarkDiagnostic(desc, details string) string {
	desc, details = strings.TrimSpace(desc), strings.TrimSpace(details)
	switch {
	case details == "":
		return desc
	case desc == "":
		return details
	}
	return details + " (" + desc + ")"
}
