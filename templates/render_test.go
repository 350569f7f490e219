package templates

import (
	"html"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"herald/contacts"
)

// FuzzRenderTreatsContactDataAsData renders contact values chosen by the
// fuzzer: rendering never fails or panics, HTML output carries the value
// escaped (it unescapes to exactly the value), the subject carries it
// verbatim on one line, and template syntax in a value is never run.
func FuzzRenderTreatsContactDataAsData(f *testing.F) {
	for _, seed := range []string{"Anna", "", "{{.Email}}", strings.Repeat("lang ", 300), `<script>alert("x")</script>`, "نوا", "מרים\r\nBcc: x@evil.example", "&amp; \x00 ]]>", "{{coupon \"X\"}}", "%s %d"} {
		f.Add(seed, seed)
	}
	comp, err := Compile(Content{
		Subject: `Hi {{.FirstName | default "there"}} in {{.City}}`,
		HTML:    `<html><body><p id="n">{{.FirstName}}</p><p id="a" title="{{.City}}">x</p><a href="https://s.example/">s</a></body></html>`,
	}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name, city string) {
		if !utf8.ValidString(name) || !utf8.ValidString(city) || strings.ContainsRune(name+city, 0) {
			t.Skip("contacts hold valid UTF-8 without NUL only (contacts.Input refuses the rest)")
		}
		c := contacts.Contact{ID: 1, Email: "secret@example.com", FirstName: name, City: city}
		r, err := comp.Render(NewData(c, nil, CampaignInfo{ID: 1}, Links{BaseURL: "https://h.example", Untracked: true}, time.Now()))
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		start := strings.Index(r.HTML, `<p id="n">`) + len(`<p id="n">`)
		end := strings.Index(r.HTML[start:], "</p>")
		if end < 0 {
			t.Fatalf("the value broke out of its element: %s", r.HTML)
		}
		if got := html.UnescapeString(r.HTML[start : start+end]); got != name {
			t.Fatalf("html carries %q, want %q", got, name)
		}
		if strings.Contains(r.HTML, "secret@example.com") {
			t.Fatal("template syntax in contact data was evaluated")
		}
		if strings.ContainsAny(r.Subject, "\r\n") {
			t.Fatalf("subject has a line break: %q", r.Subject)
		}
		oneLine := strings.NewReplacer("\r", " ", "\n", " ", "\x00", " ").Replace
		greeting := oneLine(name)
		if strings.TrimSpace(name) == "" {
			greeting = "there"
		}
		want := strings.TrimSpace("Hi " + greeting + " in " + oneLine(city))
		if utf8.RuneCountInString(want) > MaxSubjectRunes {
			// Capped: a prefix of the subject, cut between characters.
			if utf8.RuneCountInString(r.Subject) > MaxSubjectRunes || !strings.HasSuffix(r.Subject, "…") || !strings.HasPrefix(want, strings.TrimSuffix(r.Subject, "…")) {
				t.Fatalf("subject = %q, want a prefix of %q of at most %d characters", r.Subject, want, MaxSubjectRunes)
			}
		} else if r.Subject != want {
			t.Fatalf("subject = %q, want %q", r.Subject, want)
		}
	})
}

// BenchmarkRenderBirthday renders the birthday starter (about 5 KB of
// HTML, a generated text part, tracked links and the open pixel) for one
// contact per iteration. Run with -cpu 1 for renders per second per core.
func BenchmarkRenderBirthday(b *testing.B) {
	st, ok := StarterByKey("birthday")
	if !ok {
		b.Fatal("no birthday starter")
	}
	comp, err := Compile(Content{Subject: st.Subject, HTML: st.HTML}, nil)
	if err != nil {
		b.Fatal(err)
	}
	s := benchSigner(b)
	c := sampleContacts()[0]
	b.ReportAllocs()
	b.ResetTimer()
	size := 0
	for i := 0; i < b.N; i++ {
		c.ID = int64(i + 1)
		d := NewData(c, nil, CampaignInfo{ID: 9, Name: "Birthday"}, Links{Signer: s, BaseURL: "https://mail.example.com", Campaign: 9, Contact: c.ID}, time.Now())
		r, err := comp.Render(d)
		if err != nil {
			b.Fatal(err)
		}
		size = len(r.HTML) + len(r.Text)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "renders/s")
	b.ReportMetric(float64(size), "bytes/msg")
}
