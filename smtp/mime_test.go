package smtp

import (
	"bytes"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
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

// rawHeader returns the lines of a header field as written (the first and
// its continuations).
func rawHeader(t *testing.T, raw []byte, field string) []string {
	t.Helper()
	head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
	var out []string
	in := false
	for _, line := range strings.Split(head, "\r\n") {
		switch {
		case strings.HasPrefix(line, field+":"):
			in = true
		case line == "" || (line[0] != ' ' && line[0] != '\t'):
			in = false
		}
		if in {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s header in\n%s", field, head)
	}
	return out
}

// TestNonLatinHeadersAreEncodedWordsThatDecodeExactly writes the names our
// users write in and checks the bytes on the wire: Subject, From and To are
// ASCII lines carrying RFC 2047 UTF-8 words, within 78 characters, and
// decode to exactly the original, direction marks and zero-width
// non-joiners included; every part says charset=UTF-8.
func TestNonLatinHeadersAreEncodedWordsThatDecodeExactly(t *testing.T) {
	tests := []struct {
		name string
		msg  campaigns.Message
	}{
		{"Hebrew", campaigns.Message{FromName: "חנות הפרחים", ToName: "דוד כהן", Subject: "מזל טוב, דוד! 20% הנחה על זרי פרחים"}},
		{"Arabic", campaigns.Message{FromName: "متجر الزهور", ToName: "فاطمة الزهراء", Subject: "تهانينا يا فاطمة! خصم ٢٠٪ على جميع باقات الورد حتى نهاية الأسبوع القادم"}},
		{"Persian with zero-width non-joiners", campaigns.Message{FromName: "گل\u200cفروشی لاله", ToName: "نگار رضایی\u200cنژاد", Subject: "تبریک، نگار! ۲۰٪ تخفیف برای گل\u200cهای بهاری و می\u200cخواهیم"}},
		{"Dutch", campaigns.Message{FromName: "Bloemenwinkel De Tulp", ToName: "Daniëlle van 't Hof", Subject: "Gefeliciteerd, Daniëlle! Een cadeautje van €10 voor jou"}},
		{"right-to-left marks and embeddings", campaigns.Message{FromName: "\u202bחנות\u202c Shop", ToName: "\u200fדוד\u200e Cohen", Subject: "\u200fשלום Ruud\u200e, order #123 — \u202bعرض\u202c"}},
		{"long names fold between words", campaigns.Message{FromName: strings.Repeat("חנות הפרחים של דוד ", 6), ToName: strings.Repeat("Daniëlle ", 12), Subject: strings.Repeat("گل\u200cهای بهاری ", 12)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cm := tt.msg
			cm.FromEmail, cm.To, cm.Text, cm.HTML = "news@shop.test", "reader@example.test", "שלום\n", "<p dir=\"rtl\">שלום</p>"
			var b bytes.Buffer
			writeMessage(&b, &cm, time.Now())
			for _, h := range []struct{ field, text string }{{"Subject", cm.Subject}, {"From", cm.FromName}, {"To", cm.ToName}} {
				lines := rawHeader(t, b.Bytes(), h.field)
				for _, line := range lines {
					for i := 0; i < len(line); i++ {
						if line[i] >= 0x80 {
							t.Fatalf("%s line is not ASCII: %q", h.field, line)
						}
					}
					if len(line) > 78 {
						t.Errorf("%s line of %d characters: %q", h.field, len(line), line)
					}
				}
				joined := strings.Join(lines, "")
				if !asciiOnly(h.text) && !strings.Contains(joined, "=?UTF-8?") {
					t.Errorf("%s has no UTF-8 encoded word: %q", h.field, joined)
				}
				if strings.Contains(h.text, " ") && len(lines) == 1 && len(joined) > 78 {
					t.Errorf("%s is not folded: %q", h.field, joined)
				}
			}
			msg, err := mail.ReadMessage(bytes.NewReader(b.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			var dec mime.WordDecoder
			if got, err := dec.DecodeHeader(msg.Header.Get("Subject")); err != nil || got != cm.Subject {
				t.Errorf("subject decodes to %q (%v), want %q", got, err, cm.Subject)
			}
			for _, h := range []struct{ field, name, email string }{{"From", cm.FromName, cm.FromEmail}, {"To", cm.ToName, cm.To}} {
				a, err := mail.ParseAddress(msg.Header.Get(h.field))
				if err != nil || a.Name != h.name || a.Address != h.email {
					t.Errorf("%s decodes to %+v (%v), want %q <%s>", h.field, a, err, h.name, h.email)
				}
			}
			_, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
			mr := multipart.NewReader(msg.Body, params["boundary"])
			parts := 0
			for {
				p, err := mr.NextRawPart()
				if err != nil {
					break
				}
				parts++
				if ct := p.Header.Get("Content-Type"); !strings.HasSuffix(ct, "; charset=UTF-8") {
					t.Errorf("part Content-Type %q lacks charset=UTF-8", ct)
				}
			}
			if parts != 2 {
				t.Errorf("%d parts, want 2", parts)
			}
		})
	}
}

// TestHeaderLinesStayWithinLimitsWhateverTheValue covers values the old
// folding left on one line: no spaces, quotes in a display name, runs of
// spaces, a kilobyte of subject. Lines stay within 78 characters where a
// fold is possible and never pass 998, and every value decodes back.
func TestHeaderLinesStayWithinLimitsWhateverTheValue(t *testing.T) {
	tests := []struct {
		name string
		msg  campaigns.Message
	}{
		{"a subject of one long word", campaigns.Message{Subject: strings.Repeat("x", 1202), FromName: "Shop", ToName: "Pat"}},
		{"a display name with quotes", campaigns.Message{Subject: "Hi", FromName: `The "Best" Shop ` + strings.Repeat(`"quoted" words `, 20), ToName: `O'Brien, "Pat"`}},
		{"runs of spaces", campaigns.Message{Subject: strings.Repeat("a    b ", 30) + "end", FromName: "A  B", ToName: strings.Repeat("x  ", 40) + "y"}},
		{"white space at the ends", campaigns.Message{Subject: "  padded subject\t", FromName: " Shop ", ToName: "\tPat "}},
		{"a kilobyte of words", campaigns.Message{Subject: strings.TrimSpace(strings.Repeat("word ", 240)), FromName: strings.Repeat("Shop ", 50), ToName: "Pat"}},
		{"a long ASCII name with a comma", campaigns.Message{Subject: "Hi", FromName: "Shop", ToName: strings.Repeat("van den Berg, ", 10) + "Pat"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cm := tt.msg
			cm.FromEmail, cm.To, cm.Text, cm.HTML = "news@shop.test", "to@example.test", "x", "<p>x</p>"
			cm.MessageID, cm.ListUnsubscribe = "herald.1.2@shop.test", "https://shop.test/u/"+strings.Repeat("t", 60)
			var b bytes.Buffer
			writeMessage(&b, &cm, time.Now())
			checkWireFormat(t, b.Bytes())
			checkMessage(t, b.Bytes(), &cm)
		})
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

func asciiOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func TestFeedbackIDHeaderIsWrittenOnlyWhenSet(t *testing.T) {
	for _, tc := range []struct{ name, id, want string }{
		{"campaign message", "42:campaign:shop.test:herald", "42:campaign:shop.test:herald"},
		{"test send", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cm := message(1, "a@example.test")
			cm.FeedbackID = tc.id
			var b bytes.Buffer
			writeMessage(&b, cm, time.Now())
			p, err := outbox.Parse(b.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Header.Get("Feedback-ID"); got != tc.want {
				t.Errorf("Feedback-ID = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestExtraHeadersAreWrittenAfterFeedbackIDAndNotSigned(t *testing.T) {
	cases := []struct {
		name    string
		headers []campaigns.Header
		want    string
	}{
		{"none", nil, ""},
		{"postmark metadata", []campaigns.Header{{Name: campaigns.PostmarkMetadataHeader, Value: "herald.7.42@h.example"}}, "herald.7.42@h.example"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cm := campaigns.Message{FromEmail: "news@shop.test", To: "to@example.test", Subject: "Hi", Text: "x", FeedbackID: "7:campaign:shop.test:herald", Headers: tc.headers}
			var b bytes.Buffer
			writeMessage(&b, &cm, time.Now())
			p, err := outbox.Parse(b.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Header.Get("X-PM-Metadata-herald-message-id"); got != tc.want {
				t.Errorf("X-PM-Metadata-herald-message-id = %q, want %q", got, tc.want)
			}
			if got := p.Header.Get("Feedback-ID"); got != cm.FeedbackID {
				t.Errorf("Feedback-ID = %q, want %q", got, cm.FeedbackID)
			}
		})
	}
	for _, h := range dkimHeaders() {
		if strings.HasPrefix(h, "X-PM-") {
			t.Errorf("DKIM signs %s", h)
		}
	}
}
