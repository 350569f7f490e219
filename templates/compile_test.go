package templates

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"herald/contacts"
	"herald/tracking"
)

func signer(t *testing.T) *tracking.Signer {
	t.Helper()
	s, err := tracking.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCompileRejectsBadTemplatesWithPartLineAndColumn(t *testing.T) {
	tests := []struct {
		name    string
		content Content
		part    string
		line    int
		col     int
		msg     string
	}{
		{"unknown field with suggestion", Content{Subject: "Hi", HTML: "<p>Hello</p>\n<p>{{.FirstNmae}}</p>"}, "html", 2, 6, "did you mean FirstName"},
		{"unknown function", Content{Subject: "Hi {{shout .FirstName}}", HTML: "x"}, "subject", 1, 4, `function "shout" not defined`},
		{"unclosed if", Content{Subject: "Hi", Text: "line one\n  {{if .City}}in {{.City}}\nbye"}, "text", 3, 0, "unexpected EOF"},
		{"bad syntax mid line", Content{Subject: "Hi", HTML: "<p>a</p>\n<p>{{.City}} and {{(.FirstName}}</p>"}, "html", 2, 18, "unclosed left paren"},
		{"undefined custom field", Content{Subject: "Hi", HTML: "{{.Attr.shoe_sise}}"}, "html", 1, 8, `unknown custom field "shoe_sise"`},
		{"missing subject", Content{HTML: "x"}, "subject", 0, 0, "is required"},
		{"missing bodies", Content{Subject: "x"}, "html", 0, 0, "HTML or a text body"},
		{"subject on two lines", Content{Subject: "a\nb", HTML: "x"}, "subject", 0, 0, "single line"},
		{"runtime error found at save", Content{Subject: "Hi", HTML: `{{date "2006" .FirstName}}`}, "html", 1, 0, "not a date"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.content, []string{"shoe_size"})
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("got %v, want a *templates.Error", err)
			}
			if te.Part != tc.part || te.Line != tc.line || (tc.col != 0 && te.Col != tc.col) {
				t.Errorf("got %s:%d:%d (%s), want %s:%d:%d", te.Part, te.Line, te.Col, te.Msg, tc.part, tc.line, tc.col)
			}
			if !strings.Contains(te.Msg, tc.msg) {
				t.Errorf("message %q does not contain %q", te.Msg, tc.msg)
			}
		})
	}
}

func TestRenderPersonalisesWithFallbackAndEscapesHTML(t *testing.T) {
	c, err := Compile(Content{
		Subject: `Happy birthday, {{.FirstName | default "friend"}}!`,
		HTML:    `<html><body><p>Dear {{.FirstName | default "friend"}} from {{.City}}</p><a href="https://shop.example.com/gift?a=1&amp;b=2">Gift</a> <a href="mailto:help@example.com">help</a> <a href="{{.UnsubscribeURL}}">unsubscribe</a></body></html>`,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Links) != 1 || c.Links[0] != "https://shop.example.com/gift?a=1&b=2" {
		t.Fatalf("links = %q", c.Links)
	}
	s := signer(t)
	tests := []struct {
		name        string
		contact     contacts.Contact
		wantSubject string
		wantHTML    []string
		notHTML     []string
	}{
		{"first name present", contacts.Contact{ID: 7, FirstName: "Noa", City: "Haifa"}, "Happy birthday, Noa!", []string{"Dear Noa from Haifa"}, nil},
		{"first name missing uses fallback", contacts.Contact{ID: 8}, "Happy birthday, friend!", []string{"Dear friend from"}, nil},
		{"markup in contact data is escaped", contacts.Contact{ID: 9, FirstName: `<script>alert(1)</script>`}, "Happy birthday, <script>alert(1)</script>!", []string{"&lt;script&gt;"}, []string{"<script>"}},
		{"template syntax in contact data is printed, not run", contacts.Contact{ID: 10, FirstName: "{{.Email}}", Email: "secret@example.com"}, "Happy birthday, {{.Email}}!", []string{"{{.Email}}"}, []string{"secret@example.com"}},
		{"right-to-left names survive", contacts.Contact{ID: 11, FirstName: "مریم"}, "Happy birthday, مریم!", []string{"Dear مریم"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewData(tc.contact, nil, CampaignInfo{ID: 3}, Links{Signer: s, BaseURL: "https://h.example", Campaign: 3, Contact: tc.contact.ID}, time.Now())
			r, err := c.Render(d)
			if err != nil {
				t.Fatal(err)
			}
			if r.Subject != tc.wantSubject {
				t.Errorf("subject = %q, want %q", r.Subject, tc.wantSubject)
			}
			for _, w := range append(tc.wantHTML, "https://h.example/t/c/", "https://h.example/t/o/", "mailto:help@example.com", "https://h.example/u/") {
				if !strings.Contains(r.HTML, w) {
					t.Errorf("html lacks %q:\n%s", w, r.HTML)
				}
			}
			for _, w := range tc.notHTML {
				if strings.Contains(r.HTML, w) {
					t.Errorf("html contains %q:\n%s", w, r.HTML)
				}
			}
			if strings.Contains(r.HTML, "shop.example.com") {
				t.Errorf("tracked link left in clear:\n%s", r.HTML)
			}
			if !strings.Contains(r.Text, "Gift (https://h.example/t/c/") {
				t.Errorf("text part lacks tracked link:\n%s", r.Text)
			}
		})
	}
}

func TestRewriteLinks(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		links []string
		out   string
	}{
		{"quoted", `<a href="https://a.example/x">x</a>`, []string{"https://a.example/x"}, `<a href="L1-">x</a>`},
		{"single quotes and upper case", `<A HREF='http://a.example/'>x</A>`, []string{"http://a.example/"}, `<A HREF='L1-'>x</A>`},
		{"upper-case tag", `<A href='http://a.example/'>x</A>`, []string{"http://a.example/"}, `<A href='L1-'>x</A>`},
		{"unquoted", `<a href=https://a.example/>x</a>`, []string{"https://a.example/"}, `<a href="L1-">x</a>`},
		{"duplicate urls share an index", `<a href="https://a.example">1</a><a href="https://a.example">2</a>`, []string{"https://a.example"}, `<a href="L1-">1</a><a href="L1-">2</a>`},
		{"opt out", `<a data-herald-notrack href="https://a.example">x</a>`, nil, `<a data-herald-notrack href="https://a.example">x</a>`},
		{"mailto kept", `<a href="mailto:a@b.example">x</a>`, nil, `<a href="mailto:a@b.example">x</a>`},
		{"action href kept", `<a href="https://a.example/{{.Email}}">x</a>`, nil, `<a href="https://a.example/{{.Email}}">x</a>`},
		{"action with quotes inside attribute", `<a title="{{.FirstName | default "x"}}" href="https://a.example">x</a>`, []string{"https://a.example"}, `<a title="{{.FirstName | default "x"}}" href="L1-">x</a>`},
		{"comment kept", `<!-- <a href="https://a.example">x</a> -->`, nil, `<!-- <a href="https://a.example">x</a> -->`},
		{"abbr is not a link", `<abbr href="https://a.example">x</abbr>`, nil, `<abbr href="https://a.example">x</abbr>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, links := rewriteLinks(tc.src, func(i int) string { return "L" + strconv.Itoa(i) + "-" })
			if out != tc.out {
				t.Errorf("out = %s\nwant  %s", out, tc.out)
			}
			if strings.Join(links, " ") != strings.Join(tc.links, " ") {
				t.Errorf("links = %q, want %q", links, tc.links)
			}
		})
	}
}

func benchSigner(b *testing.B) *tracking.Signer {
	s, err := tracking.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		b.Fatal(err)
	}
	return s
}
