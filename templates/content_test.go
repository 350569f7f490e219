package templates

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"herald/contacts"
)

// render compiles content and renders it for c at now, in the store
// currency given.
func render(t *testing.T, content Content, fields []string, c contacts.Contact, currency string, now time.Time) Rendered {
	t.Helper()
	comp, err := Compile(content, fields)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	r, err := comp.Render(NewData(c, fields, CampaignInfo{ID: 1, Currency: currency}, Links{BaseURL: "https://h.example", Untracked: true}, now))
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return r
}

func TestMoneyPrintsEachCurrencyInItsOwnDecimals(t *testing.T) {
	tests := []struct {
		name     string
		tmpl     string
		spent    int64  // the contact's TotalSpent, in minor units
		currency string // the store currency
		want     string
	}{
		{"dollars have cents", `{{money 10 "USD"}}`, 0, "", "$10.00"},
		{"yen have no decimals", `{{money 10 "JPY"}}`, 0, "", "¥10"},
		{"dinars have three", `{{money 10 "KWD"}}`, 0, "", "10.000 KWD"},
		{"a fraction of a dinar", `{{money 1.5 "BHD"}}`, 0, "", "1.500 BHD"},
		{"a decimal amount", `{{money 19.99 "EUR"}}`, 0, "", "€19.99"},
		{"an amount in text", `{{money "7" "krw"}}`, 0, "", "7 KRW"},
		{"total spent in yen, thousands grouped", `{{money .TotalSpent}}`, 1250, "JPY", "¥1,250"},
		{"total spent in dinars", `{{money .TotalSpent}}`, 12345, "KWD", "12.345 KWD"},
		{"total spent in euros", `{{money .TotalSpent}}`, 12345, "EUR", "€123.45"},
		{"total spent with no store currency", `{{money .TotalSpent}}`, 12345, "", "123.45"},
		{"total spent keeps its currency whatever the argument", `{{money .TotalSpent "EUR"}}`, 1250, "JPY", "¥1,250"},
		{"total spent takes the argument when the store has none", `{{money .TotalSpent "KWD"}}`, 1250, "", "1.250 KWD"},
		{"plain total spent in yen", `{{.TotalSpent}}`, 1250, "JPY", "1250"},
		{"plain total spent in dinars", `{{.TotalSpent}}`, 5, "KWD", "0.005"},
		{"major units of dinars", `{{printf "%.3f" .TotalSpent.Major}}`, 12345, "KWD", "12.345"},
		{"major units of yen", `{{printf "%.0f" .TotalSpent.Major}}`, 1250, "JPY", "1250"},
		{"a refund", `{{money .TotalSpent}}`, -1999, "USD", "$-19.99"},
		{"a large refund, grouped", `{{money .TotalSpent}}`, -123456789, "EUR", "€-1,234,567.89"},
		{"millions of euros, grouped", `{{money .TotalSpent}}`, 123456789, "EUR", "€1,234,567.89"},
		{"a plain amount, grouped", `{{money 1234567 "USD"}}`, 0, "", "$1,234,567.00"},
		{"under a thousand, no separator", `{{money 999.99 "USD"}}`, 0, "", "$999.99"},
		{"plain total spent stays ungrouped for links", `{{.TotalSpent}}`, 123456789, "EUR", "1234567.89"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := contacts.Contact{ID: 1, Email: "a@example.com", TotalSpent: tc.spent}
			r := render(t, Content{Subject: "x", Text: tc.tmpl}, nil, c, tc.currency, time.Now())
			if r.Text != tc.want {
				t.Errorf("%s = %q, want %q", tc.tmpl, r.Text, tc.want)
			}
		})
	}
}

func TestMoneyMistakesAreRefusedWhenTheCampaignIsSaved(t *testing.T) {
	tests := []struct{ name, tmpl, msg string }{
		{"a plain amount without a currency", `{{money 10}}`, "needs its currency"},
		{"a currency that is not a code", `{{money 10 "euro"}}`, "not an ISO 4217"},
		{"two currencies", `{{money 10 "EUR" "USD"}}`, "at most one currency"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(Content{Subject: "x", Text: "line\n" + tc.tmpl}, nil)
			var te *Error
			if !errors.As(err, &te) || te.Part != "text" || te.Line != 2 || !strings.Contains(te.Msg, tc.msg) {
				t.Fatalf("err = %v, want a text error on line 2 saying %q", err, tc.msg)
			}
		})
	}
}

// at parses an RFC 3339 time of a test table, failing the (sub)test that
// reads it.
func at(t *testing.T, s string) *time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return &v
}

func TestYearsSinceCountAnniversariesByCalendarDateInTheContactsZone(t *testing.T) {
	tests := []struct {
		name   string
		signup string
		zone   string
		now    string
		want   int
	}{
		{"1 March anniversary on 29 February of a leap year", "2001-03-01T10:00:00Z", "", "2024-02-29T10:00:00Z", 22},
		{"1 March anniversary on 1 March of a leap year", "2001-03-01T10:00:00Z", "", "2024-03-01T10:00:00Z", 23},
		{"29 February in a common year not yet passed on 28 February", "2000-02-29T10:00:00Z", "", "2023-02-28T10:00:00Z", 22},
		{"29 February in a common year passed on 1 March", "2000-02-29T10:00:00Z", "", "2023-03-01T10:00:00Z", 23},
		{"29 February in a leap year", "2000-02-29T10:00:00Z", "", "2024-02-29T10:00:00Z", 24},
		{"the day before", "2010-06-15T10:00:00Z", "", "2026-06-14T23:00:00Z", 15},
		{"the day itself", "2010-06-15T10:00:00Z", "", "2026-06-15T00:00:00Z", 16},
		{"in the contact's zone the anniversary is today", "2001-03-01T02:00:00Z", "America/New_York", "2024-02-28T20:00:00Z", 23},
		{"in UTC the same anniversary is tomorrow", "2001-03-01T02:00:00Z", "", "2024-02-28T20:00:00Z", 22},
		{"a signup in the future", "2030-01-01T00:00:00Z", "", "2026-01-01T00:00:00Z", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := contacts.Contact{ID: 1, Timezone: tc.zone, SignupAt: at(t, tc.signup), FirstPurchaseAt: at(t, tc.signup)}
			d := NewData(c, nil, CampaignInfo{}, Links{Untracked: true}, *at(t, tc.now))
			if d.YearsSinceSignup != tc.want || d.YearsSinceFirstPurchase != tc.want {
				t.Errorf("years since signup %d, since first purchase %d, want %d", d.YearsSinceSignup, d.YearsSinceFirstPurchase, tc.want)
			}
		})
	}
	if d := NewData(contacts.Contact{ID: 1}, nil, CampaignInfo{}, Links{Untracked: true}, time.Now()); d.YearsSinceSignup != 0 || d.YearsSinceFirstPurchase != 0 {
		t.Errorf("unknown dates give %d and %d years, want 0", d.YearsSinceSignup, d.YearsSinceFirstPurchase)
	}
}

func TestDaysSinceLastPurchaseCountsCalendarDaysInTheContactsZone(t *testing.T) {
	tests := []struct {
		name string
		last string
		zone string
		now  string
		want int
	}{
		{"last evening, this morning", "2026-05-19T22:30:00+02:00", "Europe/Amsterdam", "2026-05-20T06:00:00+02:00", 1},
		{"the same local day", "2026-05-20T00:30:00+02:00", "Europe/Amsterdam", "2026-05-20T23:30:00+02:00", 0},
		{"past midnight in Tokyo, not yet in UTC", "2026-05-19T14:00:00Z", "Asia/Tokyo", "2026-05-19T16:00:00Z", 1},
		{"the same instants in UTC", "2026-05-19T14:00:00Z", "", "2026-05-19T16:00:00Z", 0},
		{"across the spring clock change", "2026-03-28T12:00:00+01:00", "Europe/Amsterdam", "2026-03-30T11:00:00+02:00", 2},
		{"ninety days", "2026-02-19T12:00:00Z", "UTC", "2026-05-20T08:00:00Z", 90},
		{"a purchase stamped in the future", "2026-05-21T12:00:00Z", "", "2026-05-20T12:00:00Z", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := contacts.Contact{ID: 1, Timezone: tc.zone, LastPurchaseAt: at(t, tc.last)}
			if d := NewData(c, nil, CampaignInfo{}, Links{Untracked: true}, *at(t, tc.now)); d.DaysSinceLastPurchase != tc.want {
				t.Errorf("DaysSinceLastPurchase = %d, want %d", d.DaysSinceLastPurchase, tc.want)
			}
		})
	}
	if d := NewData(contacts.Contact{ID: 1}, nil, CampaignInfo{}, Links{Untracked: true}, time.Now()); d.DaysSinceLastPurchase != -1 {
		t.Errorf("a contact who never bought: %d, want -1", d.DaysSinceLastPurchase)
	}
}

func TestRenderedSubjectIsCappedBetweenCharacters(t *testing.T) {
	long := strings.Repeat("very long value ", 75) // 1,200 bytes
	tests := []struct {
		name  string
		value string
		keep  string // the subject must start with this
	}{
		{"a long custom attribute", long, "Hi " + long[:200]},
		{"Hebrew", strings.Repeat("שלום ", 100), "Hi שלום"},
		{"a combining mark at the cut", strings.Repeat("e\u0301", 200), "Hi e\u0301"},
		{"a Persian joiner at the cut", strings.Repeat("گل\u200cها ", 80), "Hi گل\u200cها"},
		{"emoji with skin tones", strings.Repeat("👋🏽", 200), "Hi 👋🏽"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := contacts.Contact{ID: 1, Attributes: map[string]any{"note": tc.value}}
			r := render(t, Content{Subject: "Hi {{.Attr.note}}", Text: "x"}, []string{"note"}, c, "", time.Now())
			if n := utf8.RuneCountInString(r.Subject); n > MaxSubjectRunes {
				t.Fatalf("subject of %d characters, want at most %d", n, MaxSubjectRunes)
			}
			if !strings.HasSuffix(r.Subject, "…") || !strings.HasPrefix(r.Subject, tc.keep) {
				t.Fatalf("subject = %q", r.Subject)
			}
			body := strings.TrimSuffix(r.Subject, "…")
			if !strings.HasPrefix("Hi "+tc.value, body) {
				t.Fatalf("the subject is not a prefix of the full one: %q", body)
			}
			last, _ := utf8.DecodeLastRuneInString(body)
			next, _ := utf8.DecodeRuneInString(("Hi " + tc.value)[len(body):])
			if bindsToPrevious(next) || isJoiner(last) {
				t.Fatalf("cut inside a character: %q | %q", last, next)
			}
		})
	}
	short := render(t, Content{Subject: "Hi {{.FirstName}}", Text: "x"}, nil, contacts.Contact{ID: 1, FirstName: strings.Repeat("a", MaxSubjectRunes-3)}, "", time.Now())
	if short.Subject != "Hi "+strings.Repeat("a", MaxSubjectRunes-3) {
		t.Fatalf("a subject of exactly %d characters was cut: %q", MaxSubjectRunes, short.Subject)
	}
}

func TestTextFromHTMLNeverTurnsEntitiesIntoActions(t *testing.T) {
	ada := contacts.Contact{ID: 1, Email: "secret@example.com", FirstName: "Ada"}
	tests := []struct {
		name string
		html string
		want []string // in the text part
		not  []string
	}{
		{"braces as entities", `<p>Write &#123;&#123;.Email&#125;&#125; in your template</p>`, []string{"Write {{.Email}} in your template"}, []string{"secret@example.com"}},
		{"an unknown field as entities", `<p>&#123;&#123;.Foo&#125;&#125;</p>`, []string{"{{.Foo}}"}, nil},
		{"named and hex entities", `<p>&lbrace;&lcub;.Email&#x7D;&#x7d;</p>`, []string{"{{.Email}}"}, []string{"secret@example.com"}},
		{"half an entity, half a brace", `<p>&#123;{.Email}}</p>`, []string{"{{.Email}}"}, []string{"secret@example.com"}},
		{"a brace before an action", `<p>{&#123;{{.FirstName}}}</p>`, []string{"{{Ada}"}, nil},
		{"entities in a link", `<a href="https://shop.example/?q=&#123;&#123;.Email&#125;&#125;">shop</a>`, []string{"shop (https://shop.example/?q={{.Email}})"}, []string{"secret@example.com"}},
		{"entities in alt text", `<img alt="&#123;&#123;.Email&#125;&#125;" src="data:,">`, []string{"{{.Email}}"}, []string{"secret@example.com"}},
		{"single braces stay", `<p>Use code {SAVE10} at checkout</p>`, []string{"Use code {SAVE10} at checkout"}, nil},
		{"the marketer's actions still run", `<p>Hi {{.FirstName}}, {{"}}"}} {{/* a note */}}</p>`, []string{"Hi Ada, }}"}, []string{"a note"}},
		{"a block opened in a hidden preheader", `<div style="display:none">{{if .FirstName}}preheader</div><p>Dear {{.FirstName}}</p>{{end}}<p>Bye</p>`, []string{"Dear Ada", "Bye"}, []string{"preheader"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, Content{Subject: "x", HTML: tc.html}, nil, ada, "", time.Now())
			for _, w := range tc.want {
				if !strings.Contains(r.Text, w) {
					t.Errorf("text lacks %q:\n%s", w, r.Text)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(r.Text, w) {
					t.Errorf("text has %q:\n%s", w, r.Text)
				}
			}
		})
	}
}

func TestIndexOfAnUnknownCustomFieldIsRefusedAtSave(t *testing.T) {
	tests := []struct {
		name string
		src  string
		line int
		col  int
		ok   bool
	}{
		{"a defined field", `{{index .Attr "shoe_size"}}`, 0, 0, true},
		{"a typo", "Size:\n  {{index .Attr \"shoe_sise\"}}", 2, 17, false},
		{"from the root inside range", `{{range .Attr}}{{index $.Attr "colour"}}{{end}}`, 1, 31, false},
		{"inside a pipeline", `{{index .Attr "nope" | default "none"}}`, 1, 15, false},
		{"a computed name cannot be checked", `{{index .Attr .City}}`, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(Content{Subject: "x", Text: tc.src}, []string{"shoe_size"})
			if tc.ok {
				if err != nil {
					t.Fatalf("compile: %v", err)
				}
				return
			}
			var te *Error
			if !errors.As(err, &te) || te.Part != "text" || te.Line != tc.line || te.Col != tc.col || !strings.Contains(te.Msg, "unknown custom field") {
				t.Fatalf("err = %v, want text:%d:%d unknown custom field", err, tc.line, tc.col)
			}
		})
	}
	_, err := Compile(Content{Subject: "x", Text: `{{index .Attr "shoe_sise"}}`}, []string{"shoe_size"})
	if err == nil || !strings.Contains(err.Error(), "did you mean shoe_size") {
		t.Errorf("no suggestion: %v", err)
	}
}

func TestHTMLLeftOpenAtTheEndIsReportedWhereItOpens(t *testing.T) {
	tests := []struct {
		name string
		html string
		line int
		col  int
		msg  string
	}{
		{"an unclosed comment", "<p>hi</p>\n<p><!-- note {{.FirstName}}", 2, 4, "comment is not closed"},
		{"an unclosed script", "<p>hi</p>\n  <script>var x = \"{{.FirstName}}", 2, 3, "<script> has no </script>"},
		{"an unclosed style", "<p>x</p>\n<style>/* {{.FirstName}}", 2, 1, "<style> has no </style>"},
		{"an unclosed attribute quote", "<p>x</p>\n<p>é <a href=\"{{.WebViewURL}}\n</p>", 2, 6, "tag, or a quoted value in it, is not closed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(Content{Subject: "x", HTML: tc.html}, nil)
			var te *Error
			if !errors.As(err, &te) || te.Part != "html" || te.Line != tc.line || te.Col != tc.col || !strings.Contains(te.Msg, tc.msg) {
				t.Fatalf("err = %v, want html:%d:%d %s", err, tc.line, tc.col, tc.msg)
			}
			if strings.Contains(te.Msg, "state") {
				t.Errorf("the message shows html/template's internals: %s", te.Msg)
			}
		})
	}
}

func TestCouponSourceFailuresAreTellableFromTemplateFaults(t *testing.T) {
	comp, err := Compile(Content{Subject: "x", HTML: `<p>{{coupon "WINBACK10"}}</p>`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	empty := errors.New("pool is empty")
	tests := []struct {
		name   string
		source Coupons
		cause  error
	}{
		{"the source fails", func(string) (string, error) { return "", empty }, empty},
		{"the source gives a blank code", func(string) (string, error) { return "", nil }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewData(contacts.Contact{ID: 1}, nil, CampaignInfo{ID: 1}, Links{Untracked: true}, time.Now()).WithCoupons(tc.source)
			_, err := comp.Render(d)
			var te *Error
			var ce *CouponError
			if !errors.As(err, &te) || !errors.As(err, &ce) || ce.Pool != "WINBACK10" {
				t.Fatalf("err = %v, want a *templates.Error holding a *templates.CouponError", err)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("errors.Is does not reach the source's error: %v", err)
			}
		})
	}
	// A fault of the contact's data is not a coupon error.
	bad, err := Compile(Content{Subject: "x", Text: `{{date "2006" .Attr.when}}`}, []string{"when"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Render(NewData(contacts.Contact{ID: 1, Attributes: map[string]any{"when": "soon"}}, []string{"when"}, CampaignInfo{}, Links{Untracked: true}, time.Now()))
	var te *Error
	var ce *CouponError
	if !errors.As(err, &te) || errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *templates.Error and no *templates.CouponError", err)
	}
}
