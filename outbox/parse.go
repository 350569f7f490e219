package outbox

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
)

// Parsed is a message taken apart: decoded headers and body parts.
type Parsed struct {
	Header  mail.Header
	Subject string // decoded from RFC 2047
	From    string
	To      string
	HTML    string
	Text    string
	// Parts lists the content types of the leaf parts, in order.
	Parts []Part
}

// Part is one leaf part of a message.
type Part struct {
	ContentType string
	Charset     string
	Encoding    string
	Body        string
}

var wordDecoder = &mime.WordDecoder{}

// Parse reads a raw RFC 5322 message, walking multipart bodies and
// undoing quoted-printable and base64 transfer encodings.
func Parse(raw []byte) (*Parsed, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("outbox: parse message: %w", err)
	}
	p := &Parsed{Header: msg.Header}
	if p.Subject, err = wordDecoder.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return nil, fmt.Errorf("outbox: decode subject: %w", err)
	}
	p.From, _ = wordDecoder.DecodeHeader(msg.Header.Get("From"))
	p.To, _ = wordDecoder.DecodeHeader(msg.Header.Get("To"))
	if err := p.walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, 0); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Parsed) walk(contentType, encoding string, body io.Reader, depth int) error {
	if depth > 10 {
		return fmt.Errorf("outbox: parts nested too deep")
	}
	if contentType == "" {
		contentType = "text/plain; charset=us-ascii"
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("outbox: content type %q: %w", contentType, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("outbox: read part: %w", err)
			}
			if err := p.walk(part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), part, depth+1); err != nil {
				return err
			}
		}
	}
	var r io.Reader = body
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &newlineStripper{r: body})
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("outbox: decode %s part: %w", mt, err)
	}
	part := Part{ContentType: mt, Charset: params["charset"], Encoding: encoding, Body: string(b)}
	p.Parts = append(p.Parts, part)
	switch {
	case mt == "text/html" && p.HTML == "":
		p.HTML = part.Body
	case mt == "text/plain" && p.Text == "":
		p.Text = part.Body
	}
	return nil
}

// newlineStripper drops CR and LF so base64 can be decoded as one run.
type newlineStripper struct{ r io.Reader }

func (n *newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
