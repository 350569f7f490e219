package smtp

import (
	"bytes"
	"fmt"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"herald/campaigns"
	"herald/contacts"
	"herald/templates"
	"herald/tracking"
)

// fuzzContent uses every contact value the fuzzer picks in the subject,
// the HTML (in text, an attribute and a link) and the generated text part.
var fuzzContent = templates.Content{
	Subject: `{{.FirstName | default "Hi"}} {{.LastName}}: {{.Attr.note}} in {{.City}}`,
	HTML: `<html><body><p>Dear {{.FullName | default "friend"}},</p>` +
		`<p title="{{.Attr.note}}">{{.Attr.note}} from {{.City}}</p>` +
		`<p><a href="https://shop.example/c?city={{.City}}">Shop in {{.City}}</a></p>` +
		`<p><a href="{{.UnsubscribeURL}}">Unsubscribe</a></p></body></html>`,
}

// FuzzRenderedMessageIsValidMIME renders arbitrary contact values (and an
// arbitrary sender name) and writes the message as a send does: it must
// parse as MIME, be 7-bit with CRLF line ends, keep every line within 998
// octets (and the address and subject headers within 78), and its
// subject, From and To must decode to exactly what was rendered.
func FuzzRenderedMessageIsValidMIME(f *testing.F) {
	seeds := []struct{ first, last, city, note, from string }{
		{"Anna", "de Vries", "Utrecht", "size 38", "Example Shop"},
		{"Daniëlle", "van 't Hof", "Den Haag", "maat 38", "Bloemen & Co"},
		{"דוד", "כהן", "תל אביב", "\u200fמידה 42\u200e", "חנות הפרחים"},
		{"فاطمة", "الزهراء", "دبي", "مقاس ٣٨", "متجر الزهور"},
		{"نگار", "رضایی", "تهران", "گل\u200cهای بهاری", "گل\u200cفروشی لاله"},
		{"{{.Email}}", `"quoted" \ name`, "<b>", "=?utf-8?q?fake?=", `Shop "Best", Ltd.`},
		{"  spaced  ", "\ttab", "a  b", " lead and trail ", " "},
		{"line\r\nBcc: x@evil.example", "a\x00b", "\x7f\x01", "%s %d", "From\r\nTo: x"},
		{strings.Repeat("Bartholomew ", 12), strings.Repeat("x", 300), strings.Repeat("long-word", 40), strings.Repeat("very long value ", 75), strings.Repeat("Shop ", 30)},
		{strings.Repeat("ש", 200), strings.Repeat("é", 200), "🎉👋🏽", strings.Repeat("گل\u200cها ", 80), strings.Repeat("مت", 100)},
	}
	for _, s := range seeds {
		f.Add(s.first, s.last, s.city, s.note, s.from)
	}
	comp, err := templates.Compile(fuzzContent, []string{"note"})
	if err != nil {
		f.Fatal(err)
	}
	signer, err := tracking.NewSigner([]byte("fuzz secret of enough length!!"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, first, last, city, note, from string) {
		for _, v := range []string{first, last, city, note, from} {
			if !utf8.ValidString(v) {
				t.Skip("contacts and campaigns hold valid UTF-8 only")
			}
		}
		c := contacts.Contact{ID: 7, Email: "reader@example.test", FirstName: first, LastName: last, City: city, Attributes: map[string]any{"note": note}}
		links := templates.Links{Signer: signer, BaseURL: "https://h.example", Campaign: 3, Contact: c.ID}
		d := templates.NewData(c, []string{"note"}, templates.CampaignInfo{ID: 3, FromName: from}, links, time.Now())
		r, err := comp.Render(d)
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		cm := &campaigns.Message{
			FromName: from, FromEmail: "news@shop.example", To: c.Email, ToName: d.FullName,
			Subject: r.Subject, HTML: r.HTML, Text: r.Text,
			MessageID: "herald.3.7@shop.example", ListUnsubscribe: d.UnsubscribeURL, CampaignID: 3,
		}
		var b bytes.Buffer
		writeMessage(&b, cm, time.Now())
		checkWireFormat(t, b.Bytes())
		checkMessage(t, b.Bytes(), cm)
	})
}

// checkWireFormat asserts what SMTP needs of a message: 7-bit data, CRLF
// line ends only, no line over 998 octets, and Subject, From and To lines
// within 78.
func checkWireFormat(t *testing.T, raw []byte) {
	t.Helper()
	for i, c := range raw {
		if c == 0 || c >= 0x80 {
			t.Fatalf("byte %#x at %d is not 7-bit data", c, i)
		}
		if c == '\n' && (i == 0 || raw[i-1] != '\r') || c == '\r' && (i+1 == len(raw) || raw[i+1] != '\n') {
			t.Fatalf("bare CR or LF at %d", i)
		}
	}
	head, _, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !ok {
		t.Fatal("no end of header")
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Fatalf("line of %d octets: %.80q...", len(line), line)
		}
	}
	field := ""
	for _, line := range strings.Split(string(head), "\r\n") {
		if line != "" && line[0] != ' ' && line[0] != '\t' {
			field, _, _ = strings.Cut(line, ":")
		}
		if (field == "Subject" || field == "From" || field == "To") && len(line) > 78 {
			t.Fatalf("%s line of %d characters: %q", field, len(line), line)
		}
	}
}

// checkMessage parses raw with net/mail and mime/multipart and compares it
// with what was rendered.
func checkMessage(t *testing.T, raw []byte, cm *campaigns.Message) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, raw)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != cm.Subject {
		t.Fatalf("subject decodes to %q (%v), want %q; raw %q", subject, err, cm.Subject, msg.Header.Get("Subject"))
	}
	for _, h := range []struct{ field, name, email string }{{"From", cm.FromName, cm.FromEmail}, {"To", cm.ToName, cm.To}} {
		a, err := mail.ParseAddress(msg.Header.Get(h.field))
		if err != nil {
			t.Fatalf("%s %q: %v", h.field, msg.Header.Get(h.field), err)
		}
		if a.Name != h.name || a.Address != h.email {
			t.Fatalf("%s = %q <%s>, want %q <%s>; raw %q", h.field, a.Name, a.Address, h.name, h.email, msg.Header.Get(h.field))
		}
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v)", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	want := []struct{ typ, body string }{{"text/plain", cm.Text}, {"text/html", cm.HTML}}
	for i := 0; ; i++ {
		p, err := mr.NextPart() // decodes quoted-printable
		if err != nil {
			if i != len(want) {
				t.Fatalf("part %d: %v", i, err)
			}
			break
		}
		if i >= len(want) {
			t.Fatalf("more than %d parts", len(want))
		}
		pt, pp, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if err != nil || pt != want[i].typ || !strings.EqualFold(pp["charset"], "UTF-8") {
			t.Fatalf("part %d Content-Type %q (%v), want %s; charset=UTF-8", i, p.Header.Get("Content-Type"), err, want[i].typ)
		}
		var body bytes.Buffer
		if _, err := body.ReadFrom(p); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		// The CRLF before the boundary belongs to the boundary.
		if got, w := body.String(), crlf(want[i].body); got != w {
			t.Fatalf("part %d body differs:\n got %q\nwant %q", i, got, w)
		}
	}
	if fmt.Sprint(msg.Header["Mime-Version"]) != "[1.0]" {
		t.Fatalf("MIME-Version = %v", msg.Header["Mime-Version"])
	}
}

// FuzzUnfoldInsideWords: taking folds out of a signature header removes
// nothing but folds, and leaves none between two characters that are not
// white space before the b= tag.
func FuzzUnfoldInsideWords(f *testing.F) {
	f.Add("v=1; h=From:Fe\r\n edback-ID; bh=abc; b=sig")
	f.Add("v=1; \r\n h=From:To; bh=ab\r\n c=; b=si\r\n g")
	f.Add("\r\n \r\n ;")
	f.Fuzz(func(t *testing.T, sig string) {
		if bare := strings.ReplaceAll(sig, "\r\n ", ""); strings.ContainsAny(bare, "\r\n") {
			t.Skip("a signature header has line breaks only in folds")
		}
		got := unfoldInsideWords(sig)
		strip := func(s string) string { return strings.ReplaceAll(s, "\r\n ", "") }
		if strip(got) != strip(sig) {
			t.Fatalf("unfoldInsideWords(%q) = %q changed more than folds", sig, got)
		}
		end := strings.LastIndexByte(got, ';')
		for i := 0; end > 0 && i < end; i++ {
			if !strings.HasPrefix(got[i:end], "\r\n ") {
				continue
			}
			j := i
			for strings.HasPrefix(got[j:end], "\r\n ") {
				j += 3
			}
			if i > 0 && !isWSP(got[i-1]) && j < end && !isWSP(got[j]) {
				t.Fatalf("unfoldInsideWords(%q) = %q keeps a fold inside a word at %d", sig, got, i)
			}
			i = j - 1
		}
	})
}
