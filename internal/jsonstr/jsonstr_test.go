package jsonstr

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAppendWritesAJSONStringThatDecodesAsEncodingJSONsDoes(t *testing.T) {
	cases := []struct{ name, in string }{
		{"plain", "Ana"},
		{"quotes and backslashes", `say "hi" \ bye`},
		{"control characters", "tab\tnew\nline\x00nul\x1f"},
		{"HTML stays as it is", "<b>&</b>"},
		{"multi-byte UTF-8", "Zoë 日本 🎉"},
		{"invalid UTF-8 becomes U+FFFD", "bad \xff\xfe end"},
		{"empty", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Append([]byte("x"), tc.in)
			if got[0] != 'x' {
				t.Fatalf("Append overwrote what b held: %q", got)
			}
			var decoded string
			if err := json.Unmarshal(got[1:], &decoded); err != nil {
				t.Fatalf("Append(%q) = %s, not a JSON string: %v", tc.in, got[1:], err)
			}
			ref, _ := json.Marshal(tc.in)
			var want string
			if err := json.Unmarshal(ref, &want); err != nil {
				t.Fatal(err)
			}
			if decoded != want {
				t.Fatalf("Append(%q) decodes to %q, encoding/json's to %q", tc.in, decoded, want)
			}
			if strings.Contains(tc.name, "HTML") && !strings.Contains(string(got), "<b>&</b>") {
				t.Fatalf("Append escaped HTML: %s", got)
			}
		})
	}
}
