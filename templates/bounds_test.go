package templates

import (
	"errors"
	"strings"
	"testing"
	"time"

	"herald/contacts"
)

func TestCompileRefusesTemplatesThatCouldRunAway(t *testing.T) {
	tests := []struct {
		name string
		c    Content
		part string
		line int
		msg  string
	}{
		{"range over a huge number", Content{Subject: "{{range 30000000}}{{end}}Hi", HTML: "x"}, "subject", 1, "whole number up to 100"},
		{"ranges nested too deep", Content{Subject: "Hi", HTML: "<p>\n{{range 100}}{{range 100}}{{range 100}}x{{end}}{{end}}{{end}}</p>"}, "html", 2, "more than 10000 times"},
		{"range over the attributes nested in a big range", Content{Subject: "Hi", Text: "{{range 100}}{{range $.Attr}}x{{end}}{{end}}"}, "text", 1, "more than 10000 times"},
		{"range over a number from the contact", Content{Subject: "Hi", HTML: "{{range .OrdersCount}}x{{end}}"}, "html", 1, "goes over .Attr"},
		{"range over a function's result", Content{Subject: "Hi", HTML: `{{range len "abc"}}x{{end}}`}, "html", 1, "goes over .Attr"},
		{"range over the element of another range", Content{Subject: "Hi", HTML: "{{range .Attr}}{{range .}}x{{end}}{{end}}"}, "html", 1, "goes over .Attr"},
		{"recursion through define", Content{Subject: "Hi", Text: `{{define "a"}}{{template "a" .}}{{template "a" .}}{{end}}{{template "a" .}}`}, "text", 1, "not available"},
		{"a block", Content{Subject: "Hi", HTML: `{{block "b" .}}x{{end}}`}, "html", 1, "not available"},
		{"printf with a huge width", Content{Subject: `{{printf "%0999999999d" 1}}`, HTML: "x"}, "subject", 1, "width or precision"},
		{"printf with a width from the data", Content{Subject: `{{printf "%*d" .OrdersCount 1}}`, HTML: "x"}, "subject", 1, "width or precision"},
		{"printf with a format from the contact", Content{Subject: `{{printf .FirstName}}`, HTML: "x"}, "subject", 1, "format written out"},
		{"call", Content{Subject: "Hi", HTML: `{{call .FirstName}}`}, "html", 1, "call is not available"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.c, nil)
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("got %v, want a *templates.Error", err)
			}
			if te.Part != tc.part || te.Line != tc.line || !strings.Contains(te.Msg, tc.msg) {
				t.Fatalf("got %s:%d:%d %q, want %s:%d and %q", te.Part, te.Line, te.Col, te.Msg, tc.part, tc.line, tc.msg)
			}
		})
	}
}

func TestCompileAllowsBoundedLoopsAndFormats(t *testing.T) {
	for _, c := range []Content{
		{Subject: `{{printf "%.2f" .AvgDaysBetweenPurchases}} days`, HTML: "x"},
		{Subject: "Hi", HTML: "{{range 100}}{{range 100}}{{end}}{{end}}"},
		{Subject: "Hi", HTML: `{{range $k, $v := .Attr}}<p>{{$k}}: {{$v}}</p>{{end}}`},
		{Subject: "Hi", Text: `{{range $.Attr}}{{.}} {{end}}{{range 3}}*{{end}}`},
	} {
		if _, err := Compile(c, []string{"size"}); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

func TestAMessageOverTheSizeLimitFailsWithAReason(t *testing.T) {
	comp, err := Compile(Content{Subject: "Hi", HTML: `<p>{{range 100}}{{range 100}}{{$.Attr.bio}}{{end}}{{end}}</p>`}, []string{"bio"})
	if err != nil {
		t.Fatal(err)
	}
	small := contacts.Contact{ID: 1, Email: "a@example.com", Attributes: map[string]any{"bio": "hi"}}
	big := contacts.Contact{ID: 2, Email: "b@example.com", Attributes: map[string]any{"bio": strings.Repeat("long biography ", 130)}}
	render := func(c contacts.Contact) (Rendered, error) {
		return comp.Render(NewData(c, []string{"bio"}, CampaignInfo{ID: 1}, Links{BaseURL: "https://h.example", Untracked: true}, time.Now()))
	}
	if r, err := render(small); err != nil || !strings.Contains(r.HTML, "hihihi") {
		t.Fatalf("a small message: %v", err)
	}
	_, err = render(big)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "larger than Herald sends") {
		t.Fatalf("20 MB of HTML rendered with %v, want ErrTooLarge", err)
	}
	// The compiled template still renders the next contact.
	if _, err := render(small); err != nil {
		t.Fatalf("after a refused message: %v", err)
	}
}

func TestWidestVerb(t *testing.T) {
	for f, want := range map[string]int{"%d": 0, "%5d": 5, "%.2f": 2, "%-120s": 120, "%%5": 0, "a %[1]d %10.3f": 10, "%0999999999d": 999999999} {
		if got := widestVerb(f); got != want {
			t.Errorf("widestVerb(%q) = %d, want %d", f, got, want)
		}
	}
}

// FuzzCompiledTemplatesStayBounded: whatever a marketer writes, Compile
// either refuses it or gives a template whose rendering stays within the
// limits; neither panics nor runs on (the fuzzer reports a hang).
func FuzzCompiledTemplatesStayBounded(f *testing.F) {
	for _, s := range []string{
		"Hi {{.FirstName}}", "{{range 100}}{{range 100}}x{{end}}{{end}}", "{{range .Attr}}{{.}}{{end}}",
		`{{printf "%5d" 3}}`, `{{define "a"}}x{{end}}`, "{{range 30000000}}{{end}}", `{{if .City}}{{.City | upper}}{{else}}there{{end}}`,
		`{{range $i := 50}}{{range $j := 50}}{{$i}}{{$j}}{{$.Attr.bio}}{{end}}{{end}}`, `{{with .Attr}}{{range .}}{{.}}{{end}}{{end}}`,
	} {
		f.Add(s)
	}
	c := contacts.Contact{ID: 1, Email: "a@example.com", FirstName: "Ann", Attributes: map[string]any{"bio": strings.Repeat("x", 2000)}}
	f.Fuzz(func(t *testing.T, src string) {
		for _, content := range []Content{{Subject: "s", HTML: src}, {Subject: "s", Text: src}} {
			comp, err := Compile(content, []string{"bio"})
			if err != nil {
				continue
			}
			r, err := comp.Render(NewData(c, []string{"bio"}, CampaignInfo{ID: 1}, Links{BaseURL: "https://h.example", Untracked: true}, time.Now()))
			if err != nil {
				continue
			}
			if len(r.HTML) > MaxHTMLBytes+64<<10 || len(r.Text) > MaxTextBytes+64<<10 {
				t.Fatalf("rendered %d bytes of HTML and %d of text", len(r.HTML), len(r.Text))
			}
		}
	})
}
