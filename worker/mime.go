package worker

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"mime"
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

// needsEncoding reports whether a header value must be written as
// encoded words: non-ASCII, control characters, or anything that would
// read as an encoded word itself.
func needsEncoding(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || (c < ' ' && c != '\t') || c == 0x7f {
			return true
		}
	}
	return strings.Contains(s, "=?")
}

// encodeWords encodes a header text as RFC 2047 words: Q when the text is
// mostly ASCII (Latin scripts stay readable), B otherwise (shorter for
// Hebrew, Arabic, CJK).
func encodeWords(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	high := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			high++
		}
	}
	if high*3 > len(s) || high == 0 {
		// B also for ASCII that merely looks like an encoded word: the
		// standard encoders would leave it as it is.
		return encodeB(s)
	}
	return mime.QEncoding.Encode("UTF-8", s)
}

// encodeB writes s as base64 encoded words of at most 75 characters,
// split between characters, separated by spaces.
func encodeB(s string) string {
	const maxBytes = 45 // 60 base64 characters and 12 of =?UTF-8?b??=
	var b strings.Builder
	for s != "" {
		n := min(len(s), maxBytes)
		for n < len(s) && n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("=?UTF-8?b?")
		b.WriteString(base64.StdEncoding.EncodeToString([]byte(s[:n])))
		b.WriteString("?=")
		s = s[n:]
	}
	return b.String()
}

// writeHeader writes "Name: value" CRLF, folding the value at spaces so
// that lines stay within 78 characters where the value allows it.
func writeHeader(b *bytes.Buffer, name, value string) {
	b.WriteString(name)
	b.WriteString(": ")
	col := len(name) + 2
	if col+len(value) <= 78 || strings.IndexByte(value, '"') >= 0 {
		b.WriteString(value)
		b.WriteString("\r\n")
		return
	}
	first := true
	for value != "" {
		word := value
		rest := ""
		if i := strings.IndexByte(value, ' '); i >= 0 {
			word, rest = value[:i], value[i+1:]
		}
		if !first {
			if col+1+len(word) > 78 {
				b.WriteString("\r\n")
				col = 0
			}
			b.WriteByte(' ')
			col++
		}
		b.WriteString(word)
		col += len(word)
		first = false
		value = rest
	}
	b.WriteString("\r\n")
}

// address formats a mailbox for a header: the display name quoted or
// encoded as needed.
func address(name, email string) string {
	if name == "" {
		return "<" + email + ">"
	}
	if needsEncoding(name) {
		return encodeWords(name) + " <" + email + ">"
	}
	return (&mail.Address{Name: name, Address: email}).String()
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
	subject := cm.Subject
	if needsEncoding(subject) {
		subject = encodeWords(subject)
	}
	writeHeader(b, "Subject", subject)
	writeHeader(b, "From", address(cm.FromName, cm.FromEmail))
	writeHeader(b, "To", address(cm.ToName, cm.To))
	if cm.ReplyTo != "" {
		writeHeader(b, "Reply-To", "<"+cm.ReplyTo+">")
	}
	if cm.ListUnsubscribe != "" {
		// RFC 8058 wants https; a local install on http still gets the
		// headers so the whole path can be tried.
		writeHeader(b, "List-Unsubscribe", "<"+cm.ListUnsubscribe+">")
		b.WriteString("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
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
