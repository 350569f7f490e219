package worker

import (
	"bytes"
	"io"
	"math/rand/v2"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"herald/campaigns"
	"herald/outbox"
	"herald/templates"
)

// TestQuotedPrintableRoundTripsWithinLineLimitsAndWithoutLeadingDots
// checks the encoder against the standard library's decoder, and the two
// promises the SMTP writer relies on: no line longer than 76 characters
// and no line starting with a dot (so no dot-stuffing is needed).
func TestQuotedPrintableRoundTripsWithinLineLimitsAndWithoutLeadingDots(t *testing.T) {
	long := strings.Repeat("abcdefghij", 30)
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"plain", "Hello, world."},
		{"equals and controls", "a=b\x00c\x7fd\re"},
		{"line ends of both kinds", "one\ntwo\r\nthree\n\nfive\n"},
		{"trailing spaces and tabs", "space \ntab\t\r\nend \t"},
		{"leading dots", ".\n..\n.hidden\r\n. x"},
		{"dot after a soft break", strings.Repeat("x", 75) + "." + strings.Repeat("y", 74) + ".z"},
		{"long line", long},
		{"long line of escapes", strings.Repeat("é€", 80)},
		{"escape at the break", strings.Repeat("a", 73) + "=" + strings.Repeat("b", 10)},
		{"space at the break", strings.Repeat("a", 74) + " " + strings.Repeat("b", 10)},
		{"Hebrew and marks", "\u200fשלום דוד\u200e, 20% הנחה 🎉\n" + strings.Repeat("ש", 60)},
		{"HTML", `<p style="margin:0">Hi <a href="https://shop.test/c?x=1&amp;y=2">there</a></p>` + "\n" + long},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab .=\t\r\n\xc3\xa9\x00~")
	for i := range 200 {
		b := make([]byte, rng.IntN(400))
		for j := range b {
			b[j] = alphabet[rng.IntN(len(alphabet))]
		}
		tests = append(tests, struct{ name, in string }{"random " + string(rune('A'+i%26)), string(b)})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			writeQP(&b, tt.in)
			enc := b.String()
			for _, line := range strings.Split(enc, "\r\n") {
				if len(line) > qpMaxLine {
					t.Fatalf("line of %d characters: %q", len(line), line)
				}
				if strings.HasPrefix(line, ".") {
					t.Fatalf("line starts with a dot: %q", line)
				}
				if strings.HasSuffix(line, " ") || strings.HasSuffix(line, "\t") {
					t.Fatalf("line ends in white space: %q", line)
				}
			}
			if strings.ContainsAny(strings.ReplaceAll(enc, "\r\n", ""), "\r\n") {
				t.Fatalf("bare CR or LF in %q", enc)
			}
			got, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(enc)))
			if err != nil {
				t.Fatalf("decode %q: %v", enc, err)
			}
			// Hard line breaks come back as CRLF; a lone CR is data.
			want := strings.ReplaceAll(strings.ReplaceAll(tt.in, "\r\n", "\n"), "\n", "\r\n")
			if string(got) != want {
				t.Fatalf("round trip:\n got %q\nwant %q\n via %q", got, want, enc)
			}
		})
	}
}

// TestLongHeadersAreFoldedAndDecodeToTheOriginal covers the header
// encoding a long non-Latin subject and display names need.
func TestLongHeadersAreFoldedAndDecodeToTheOriginal(t *testing.T) {
	tests := []campaigns.Message{
		{Subject: strings.TrimSpace(strings.Repeat("Ünïcödé subject words ", 20)), FromName: "Le Café Ünïque", ToName: "Zoë"},
		{Subject: strings.Repeat("מזל טוב ", 60), FromName: strings.Repeat("חנות ", 20), ToName: "דוד"},
		{Subject: strings.TrimSpace(strings.Repeat("plain ascii ", 40)), FromName: `Shop "Best" Ltd`, ToName: "O'Brien, Pat"},
		{Subject: "=?utf-8?q?looks_encoded?=", FromName: "A", ToName: "B"},
	}
	for _, cm := range tests {
		cm.FromEmail, cm.To, cm.Text = "news@shop.test", "to@example.test", "x"
		var b bytes.Buffer
		writeMessage(&b, &cm, time.Now())
		head := b.String()[:strings.Index(b.String(), "\r\n\r\n")]
		for _, line := range strings.Split(head, "\r\n") {
			if len(line) > 998 {
				t.Fatalf("header line of %d characters", len(line))
			}
		}
		p, err := outbox.Parse(b.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if p.Subject != cm.Subject {
			t.Errorf("subject = %q, want %q", p.Subject, cm.Subject)
		}
		from, ferr := mail.ParseAddress(p.Header.Get("From"))
		to, terr := mail.ParseAddress(p.Header.Get("To"))
		if ferr != nil || terr != nil || from.Name != cm.FromName || to.Name != cm.ToName {
			t.Errorf("From %q, To %q (%v, %v); want names %q and %q", p.Header.Get("From"), p.Header.Get("To"), ferr, terr, cm.FromName, cm.ToName)
		}
	}
}

// BenchmarkWriteMessage measures building a campaign-sized message (the
// birthday starter's 6 KB of HTML and a text part).
func BenchmarkWriteMessage(b *testing.B) {
	st, _ := templates.StarterByKey("birthday")
	cm := message(1, "reader@example.test")
	cm.HTML, cm.Text = st.HTML, strings.Repeat("Happy birthday, Anna! A little gift inside.\n", 16)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		writeMessage(&buf, cm, time.Now())
	}
	b.SetBytes(int64(buf.Len()))
}
