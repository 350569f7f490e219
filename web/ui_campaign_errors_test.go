package web

import (
	"html"
	"net/http"
	"strings"
	"testing"
)

// A refused editor form says at its top which field kept it from being
// saved, since the field can be far below (the A/B test's settings come
// after the message), and keeps what was typed.
func TestEditorSaysAtItsTopWhichFieldKeptItFromBeingSaved(t *testing.T) {
	f := newFixture(t)
	page := editorSession(t, f)
	tests := []struct {
		name string
		set  map[string]string
		want string
	}{
		{"a test share out of range", map[string]string{"ab_on": "on", "ab_test_percent": "70", "ab_subject_1": "Alpha", "ab_subject_2": "Beta"},
			"Not saved: A/B test: Test share (%) must be between 5 and 50."},
		{"test hours out of range", map[string]string{"ab_on": "on", "ab_test_hours": "500", "ab_subject_1": "Alpha", "ab_subject_2": "Beta"},
			"Not saved: A/B test: Pick the winner after (hours) must be between 1 and 168."},
		{"a sender address that is not one", map[string]string{"from_email": "shop"},
			"Not saved: From email: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vals := editorForm("Spring", "Spring sale", "<p>Hi</p>")
			for k, v := range tc.set {
				vals.Set(k, v)
			}
			code, body, _ := page("POST", "/campaigns/new", vals)
			if code != http.StatusBadRequest {
				t.Fatalf("%d, want 400", code)
			}
			i := strings.Index(body, `id="form-error-summary">`)
			if i < 0 || !strings.HasPrefix(body[i+len(`id="form-error-summary">`):], html.EscapeString(tc.want)) {
				t.Fatalf("no summary saying %q at the top", tc.want)
			}
			if j := strings.Index(body, `id="campaign-form"`); j < i {
				t.Error("the summary is not above the form")
			}
			if !strings.Contains(body, `name="name" value="Spring"`) {
				t.Error("what was typed is not kept")
			}
		})
	}
	vals := editorForm("Spring", "Spring sale", "<p>Hi</p>")
	if code, body, _ := page("POST", "/campaigns/new", vals); code != http.StatusSeeOther || strings.Contains(body, "form-error-summary") {
		t.Fatalf("a good form: %d", code)
	}
}
