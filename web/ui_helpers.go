package web

import (
	"unicode/utf8"

	"herald/contacts"
)

// countryOptions are the codes a country picker offers; app.js adds the
// names in the reader's language.
func countryOptions() []string { return contacts.Countries() }

// clip shortens s to at most n bytes on a character boundary, marking the
// cut with an ellipsis.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
