package smtp

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"herald/campaigns"
)

// The MIME writer. Campaign messages are built here, straight into a
// reused buffer, rather than with go-mail's Msg: building a Msg and
// writing it out (quoted-printable a byte at a time through a bufio
// writer, then dot-stuffing a byte at a time) was the largest cost of a
// send. The output is 7-bit: headers with non-ASCII text are RFC 2047
// encoded words, bodies quoted-printable in UTF-8, and no line starts
// with a dot (the encoder writes a leading "." as =2E), so it goes into
// SMTP DATA as it is.

// qpMaxLine is the longest encoded line, soft line break included (RFC 2045).
const qpMaxLine = 76

// hexUpper are the digits of =XX escapes.
const hexUpper = "0123456789ABCDEF"

// qpLiteral tells which bytes quoted-printable writes as they are. Space
// and tab are literal except before a line end, '=' never, nor controls
// or 8-bit bytes.
var qpLiteral = func() (t [256]bool) {
	for c := 33; c <= 126; c++ {
		t[c] = c != '='
	}
	t[' '], t['\t'] = true, true
	return t
}()

// writeQP encodes s as quoted-printable into b. Line ends ("\n" or
// "\r\n") become CRLF hard line breaks; longer lines are broken with soft
// breaks ("=" CRLF) at 76 characters. A dot that would start a line is
// written =2E, so the result needs no SMTP dot-stuffing.
func writeQP(b *bytes.Buffer, s string) {
	b.Grow(len(s) + len(s)/4 + 16)
	dst := b.AvailableBuffer()
	for len(s) > 0 {
		line := s
		hard := false
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			line, s, hard = s[:i], s[i+1:], true
			if strings.HasSuffix(line, "\r") {
				line = line[:len(line)-1]
			}
		} else {
			s = ""
		}
		dst = appendQPLine(dst, line)
		if hard {
			dst = append(dst, '\r', '\n')
		}
	}
	b.Write(dst) // dst is b's own spare capacity: this only moves the end
}

// appendQPLine encodes one line (without its line end).
func appendQPLine(dst []byte, line string) []byte {
	col := 0
	for i := 0; i < len(line); {
		c := line[i]
		last := i == len(line)-1
		literal := qpLiteral[c] && !(c == '.' && col == 0) && !(last && (c == ' ' || c == '\t'))
		if literal && !last && col < qpMaxLine-1 {
			// Most of a message is a run of literal characters: copy as
			// many as fit before the soft break, short of the line's last
			// character (which may need escaping as trailing space).
			j, end := i+1, min(len(line)-1, i+qpMaxLine-1-col)
			for j < end && qpLiteral[line[j]] {
				j++
			}
			dst = append(dst, line[i:j]...)
			col += j - i
			i = j
			continue
		}
		n := 3
		if literal {
			n = 1
		}
		// A character that is not the line's last leaves room for the
		// soft break's "=" after it.
		limit := qpMaxLine - 1
		if last {
			limit = qpMaxLine
		}
		if col+n > limit {
			dst = append(dst, '=', '\r', '\n')
			col = 0
			if c == '.' {
				literal, n = false, 3
			} else if literal && !last {
				continue // the new line starts with a run
			}
		}
		if literal {
			dst = append(dst, c)
		} else {
			dst = append(dst, '=', hexUpper[c>>4], hexUpper[c&15])
		}
		col += n
		i++
	}
	return dst
}

// Header lines: RFC 5322 wants at most 78 characters and allows 998.
const (
	foldAt   = 78
	lineHard = 998
	// wordMax is the longest encoded word (RFC 2047).
	wordMax = 75
)

// needsEncoding reports whether a header text must be written as encoded
// words: non-ASCII, control characters, anything that would read as an
// encoded word itself, or white space at either end (readers drop it).
func needsEncoding(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || (c < ' ' && c != '\t') || c == 0x7f {
			return true
		}
	}
	if s != "" && (isWSP(s[0]) || isWSP(s[len(s)-1])) {
		return true
	}
	return strings.Contains(s, "=?")
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

// qPhrase tells which bytes a Q-encoded word carries as they are: RFC
// 2047 section 5(3) allows only these where a word stands for a display
// name, and Subject is fine with the same set.
var qPhrase = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "!*+-/" {
		t[c] = true
	}
	return t
}()

// encodedWords encodes a header text as RFC 2047 words, each holding whole
// characters: Q when the text is mostly ASCII (Latin scripts stay
// readable), B otherwise (shorter for Hebrew, Arabic, CJK). The first word
// is at most first characters long, so that it fits after the header name;
// the others at most 75.
func encodedWords(s string, first int) []string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	high := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			high++
		}
	}
	useB := high*3 > len(s)
	const overhead = len("=?UTF-8?q??=")
	var words []string
	limit := max(first, overhead+12) - overhead // room for the encoded text
	var cur []byte                              // Q: the word's encoded text
	start := 0                                  // B: where the word's bytes start
	emit := func(text []byte) {
		prefix := "=?UTF-8?q?"
		if useB {
			prefix = "=?UTF-8?b?"
		}
		words = append(words, prefix+string(text)+"?=")
		limit = wordMax - overhead
	}
	for i := 0; i < len(s); {
		_, n := utf8.DecodeRuneInString(s[i:])
		if useB {
			if i > start && 4*((i+n-start+2)/3) > limit {
				emit(base64.StdEncoding.AppendEncode(nil, []byte(s[start:i])))
				start = i
			}
			i += n
			continue
		}
		var enc [12]byte
		e := enc[:0]
		for _, c := range []byte(s[i : i+n]) {
			switch {
			case c == ' ':
				e = append(e, '_')
			case qPhrase[c]:
				e = append(e, c)
			default:
				e = append(e, '=', hexUpper[c>>4], hexUpper[c&15])
			}
		}
		if len(cur) > 0 && len(cur)+len(e) > limit {
			emit(cur)
			cur = cur[:0]
		}
		cur = append(cur, e...)
		i += n
	}
	switch {
	case useB:
		emit(base64.StdEncoding.AppendEncode(nil, []byte(s[start:])))
	case len(cur) > 0 || len(words) == 0:
		emit(cur)
	}
	return words
}

// headerWriter writes one header field, folding it.
type headerWriter struct {
	b      *bytes.Buffer
	col    int // characters on the current line
	tokens int
}

func startHeader(b *bytes.Buffer, name string) *headerWriter {
	b.WriteString(name)
	b.WriteString(":")
	return &headerWriter{b: b, col: len(name) + 1}
}

// token writes " " + tok, on a new line when it would pass 78 characters.
// A token longer than a line may be is broken anyway (RFC 5322's hard
// limit matters more than a token no reader could take): nothing Herald
// writes comes near that.
func (h *headerWriter) token(tok string) {
	if h.col+1+len(tok) > foldAt && h.tokens > 0 {
		h.b.WriteString("\r\n")
		h.col = 0
	}
	h.b.WriteByte(' ')
	h.col++
	for h.col+len(tok) > lineHard {
		n := lineHard - h.col
		h.b.WriteString(tok[:n])
		h.b.WriteString("\r\n ")
		tok, h.col = tok[n:], 1
	}
	h.b.WriteString(tok)
	h.col += len(tok)
	h.tokens++
}

func (h *headerWriter) end() { h.b.WriteString("\r\n") }

// words splits s at the single spaces that stand between two other
// characters: folding there is undone exactly by every reader, which is
// not so for a fold inside a run of white space (Go's reader, for one,
// collapses it).
func words(s string) []string {
	var out []string
	start := 0
	for i := 1; i+1 < len(s); i++ {
		if s[i] == ' ' && !isWSP(s[i-1]) && !isWSP(s[i+1]) {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// fitsPlain reports whether the words, folded after a header name of
// width col, keep every line within 78 characters.
func fitsPlain(ws []string, col int) bool {
	for i, w := range ws {
		if i > 0 && col+1+len(w) > foldAt {
			col = 0
		}
		col += 1 + len(w)
		if col > foldAt {
			return false
		}
	}
	return true
}

// writeHeader writes a header of Herald's own making (Date, Message-ID,
// List-Unsubscribe): printable ASCII, folded between words.
func writeHeader(b *bytes.Buffer, name, value string) {
	writeWords(b, name, words(value))
}

// writeWords writes a header whose value is ws, folded between them.
func writeWords(b *bytes.Buffer, name string, ws []string) {
	h := startHeader(b, name)
	for _, w := range ws {
		h.token(w)
	}
	h.end()
}

// writeTextHeader writes an unstructured header such as Subject: as it is
// when it is plain ASCII that folds within 78 characters, otherwise as
// encoded words, which fold anywhere and decode to exactly the text.
func writeTextHeader(b *bytes.Buffer, name, value string) {
	col := len(name) + 1
	if ws := words(value); !needsEncoding(value) && fitsPlain(ws, col) {
		writeWords(b, name, ws)
		return
	}
	writeWords(b, name, encodedWords(value, foldAt-col-1))
}

// writeAddressHeader writes a mailbox: a short ASCII display name quoted
// as needed, any other as encoded words (a quoted string cannot be folded
// safely), then the address.
func writeAddressHeader(b *bytes.Buffer, name, display, email string) {
	var quoted string
	if display != "" && !needsEncoding(display) {
		quoted = (&mail.Address{Name: display, Address: email}).String()
	}
	h := startHeader(b, name)
	switch {
	case display == "":
	case quoted != "" && len(name)+2+len(quoted) <= foldAt:
		h.token(quoted)
		h.end()
		return
	default:
		for _, w := range encodedWords(display, foldAt-len(name)-2) {
			h.token(w)
		}
	}
	h.token("<" + email + ">")
	h.end()
}

// writeMessage writes cm as a complete RFC 5322 message, ending in CRLF.
func writeMessage(b *bytes.Buffer, cm *campaigns.Message, now time.Time) {
	writeHeader(b, "Date", now.Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\n")
	if cm.MessageID != "" {
		writeHeader(b, "Message-ID", "<"+cm.MessageID+">")
	} else {
		writeHeader(b, "Message-ID", "<"+strconv.FormatUint(rand.Uint64(), 36)+"."+strconv.FormatInt(now.UnixNano(), 36)+"@"+domainOf(cm.FromEmail)+">")
	}
	writeTextHeader(b, "Subject", cm.Subject)
	writeAddressHeader(b, "From", cm.FromName, cm.FromEmail)
	writeAddressHeader(b, "To", cm.ToName, cm.To)
	if cm.ReplyTo != "" {
		writeHeader(b, "Reply-To", "<"+cm.ReplyTo+">")
	}
	if cm.ListUnsubscribe != "" {
		// RFC 8058 wants https; a local install on http still gets the
		// headers so the whole path can be tried.
		writeHeader(b, "List-Unsubscribe", "<"+cm.ListUnsubscribe+">")
		b.WriteString("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
	}
	if cm.FeedbackID != "" {
		writeHeader(b, "Feedback-ID", cm.FeedbackID)
	}
	for _, h := range cm.Headers {
		writeHeader(b, h.Name, h.Value)
	}
	if cm.CampaignID != 0 {
		b.WriteString("X-Herald-Campaign: ")
		b.WriteString(strconv.FormatInt(cm.CampaignID, 10))
		b.WriteString("\r\n")
	}
	part := func(typ, body string) {
		b.WriteString("Content-Type: ")
		b.WriteString(typ)
		b.WriteString("; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
		writeQP(b, body)
	}
	if cm.Text == "" || cm.HTML == "" {
		typ, body := "text/plain", cm.Text
		if cm.HTML != "" {
			typ, body = "text/html", cm.HTML
		}
		part(typ, body)
		b.WriteString("\r\n")
		return
	}
	// "=_" never occurs in quoted-printable output, so the boundary
	// cannot appear in a part.
	boundary := "=_herald_" + strconv.FormatUint(rand.Uint64(), 36)
	b.WriteString("Content-Type: multipart/alternative; boundary=\"")
	b.WriteString(boundary)
	b.WriteString("\"\r\n\r\n")
	for _, p := range [...]struct{ typ, body string }{{"text/plain", cm.Text}, {"text/html", cm.HTML}} {
		b.WriteString("--")
		b.WriteString(boundary)
		b.WriteString("\r\n")
		part(p.typ, p.body)
		b.WriteString("\r\n")
	}
	b.WriteString("--")
	b.WriteString(boundary)
	b.WriteString("--\r\n")
}

func domainOf(email string) string {
	if i := strings.LastIndexByte(email, '@'); i >= 0 && i+1 < len(email) {
		return email[i+1:]
	}
	return "herald.local"
}
