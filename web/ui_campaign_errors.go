package web

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"herald/campaigns"
)

// editorFieldLabels name the editor's fields as the page labels them.
var editorFieldLabels = map[string]string{
	"name": "Campaign name", "from_name": "From name", "from_email": "From email", "reply_to": "Reply-to email",
	"subject": "Subject", "html_body": "HTML body", "text_body": "Plain-text part",
	"segment_ids": "Send to members of", "exclude_segment_ids": "Leave out members of",
	"ab_test": "A/B test", "ab_test_percent": "A/B test: Test share (%)", "ab_winner_metric": "A/B test: Winner by",
	"ab_test_hours": "A/B test: Pick the winner after (hours)",
}

// Summary says, above the form, which field kept it from being saved: the
// field itself can be far down the page (the A/B test's settings are
// below the message), and the page opens at its top. Empty when the form
// has no field error or the error has an alert of its own.
func (f *campaignForm) Summary() string {
	fields := slices.Sorted(maps.Keys(f.Errors))
	for _, field := range fields {
		if msg := f.Errors[field]; field != "_" && msg != "" {
			return "Not saved: " + joinLabel(editorFieldLabel(field), msg) + "."
		}
	}
	return ""
}

// editorFieldLabel names a form field; a variant's are "A/B test:
// variant B, Subject".
func editorFieldLabel(field string) string {
	if l, ok := editorFieldLabels[field]; ok {
		return l
	}
	for _, part := range []struct{ key, label string }{{"subject", "Subject"}, {"from_name", "From name"}, {"html_body", "HTML body"}} {
		var slot int
		if _, err := fmt.Sscanf(field, "ab_"+part.key+"_%d", &slot); err == nil && slot >= 1 && slot <= campaigns.MaxVariants {
			return "A/B test: Variant " + campaigns.Label(slot) + ", " + part.label
		}
	}
	return field
}

// joinLabel puts a field's label before its refusal: "Test share is
// ...", "From email: ..." when the message does not read on from it.
func joinLabel(label, msg string) string {
	msg = strings.TrimSuffix(msg, ".")
	if strings.HasPrefix(msg, "is ") || strings.HasPrefix(msg, "must ") {
		return label + " " + msg
	}
	return label + ": " + msg
}
