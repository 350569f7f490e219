package bounces

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"herald/internal/errs"
)

// GenericSignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the
// body under the configured secret.
const GenericSignatureHeader = "X-Herald-Signature"

// Generic reads Herald's own JSON reports, for a mail server or a provider
// without its own endpoint: one object or an array of them, signed with
// HMAC-SHA256 of the body.
type Generic struct {
	Secret []byte
}

type genericReport struct {
	Type       string     `json:"type"`
	Email      string     `json:"email"`
	MessageID  string     `json:"message_id"`
	Hard       bool       `json:"hard"`
	Diagnostic string     `json:"diagnostic"`
	ID         string     `json:"id"`
	OccurredAt *time.Time `json:"occurred_at"`
}

// maxReports bounds the reports of one request.
const maxReports = 1000

// Parse checks the signature, then reads the reports.
func (g Generic) Parse(_ context.Context, req Request) ([]Report, error) {
	if len(g.Secret) == 0 {
		return nil, ErrNotConfigured
	}
	sig := strings.TrimSpace(req.Header.Get(GenericSignatureHeader))
	hexMAC, ok := strings.CutPrefix(sig, "sha256=")
	if !ok || !equalHex(hexMAC, hmacSHA256(g.Secret, req.Body)) {
		return nil, signatureError("%s is not sha256= and the HMAC-SHA256 of the body", GenericSignatureHeader)
	}
	return parseGeneric(req.Body)
}

func parseGeneric(body []byte) ([]Report, error) {
	var items []genericReport
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	prefix := ""
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := errs.DecodeStrict(body, &items); err != nil {
			return nil, err
		}
	} else {
		var one genericReport
		if err := errs.DecodeStrict(body, &one); err != nil {
			return nil, err
		}
		items = []genericReport{one}
		prefix = "-"
	}
	if len(items) > maxReports {
		return nil, errs.Invalid("", "a request holds at most %d reports, got %d", maxReports, len(items))
	}
	out := make([]Report, 0, len(items))
	for i, it := range items {
		at := func(field string) string {
			if prefix == "-" {
				return field
			}
			return fmt.Sprintf("[%d].%s", i, field)
		}
		rep := Report{Email: it.Email, MessageID: strings.Trim(strings.TrimSpace(it.MessageID), "<>"), Diagnostic: it.Diagnostic, Source: SourceWebhook, ProviderID: it.ID}
		switch it.Type {
		case "bounce":
			rep.Kind = Soft
			if it.Hard {
				rep.Kind = Hard
			}
		case "complaint":
			rep.Kind = Complaint
		default:
			return nil, errs.Invalid(at("type"), "is bounce or complaint, got %q", it.Type)
		}
		if strings.TrimSpace(it.Email) == "" && rep.MessageID == "" {
			return nil, errs.Invalid(at("email"), "give the address that bounced or complained (email), or the message's message_id")
		}
		if len(it.ID) > 200 {
			return nil, errs.Invalid(at("id"), "is longer than 200 characters")
		}
		if it.OccurredAt != nil {
			rep.OccurredAt = *it.OccurredAt
		}
		out = append(out, rep)
	}
	return out, nil
}

// looseJSON decodes a provider's JSON document, whose fields grow over
// time: unknown fields are ignored.
func looseJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errs.Invalid("", "the request needs a JSON body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return errs.JSONError("", err)
	}
	if dec.More() {
		return errs.Invalid("", "the body has data after the JSON document")
	}
	return nil
}
