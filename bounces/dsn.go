package bounces

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"
	"time"

	"herald/campaigns"
	"herald/tracking"
)

// ErrNotBounce is wrapped by ParseDSN's error for a message that reports
// no bounce or complaint: an auto-reply, a delay warning, a delivery
// notice, a person's mail. The mailbox leaves such messages for a person.
var ErrNotBounce = errors.New("bounces: not a bounce")

// Limits that keep a hostile message from costing much: the part of a
// message read, the MIME parts visited and how deep.
const (
	maxDSNBytes = 4 << 20
	maxDSNParts = 64
	maxDSNDepth = 6
)

// ParseDSN reads a message from the bounce mailbox and returns the
// bounces or complaints it reports, one per recipient:
//
//   - an RFC 3464 delivery status notification (multipart/report;
//     report-type=delivery-status): each recipient whose Action is failed,
//     hard for a 5.x.x Status and soft for a 4.x.x one (see kindOf);
//     delayed, delivered, relayed and expanded recipients are no bounce;
//   - an RFC 5965 feedback report (report-type=feedback-report) of type
//     abuse: a complaint;
//   - the plain-text bounces of qmail, Exim, Postfix and Microsoft
//     Exchange, read for the failed address and its SMTP code.
//
// The original Message-ID comes from the returned message or headers.
// When rp is set and the message went to a VERP address of it (To,
// Delivered-To, X-Original-To, or the returned message's Return-Path),
// the report names that delivery. A message that reports nothing returns
// an error wrapping ErrNotBounce.
func ParseDSN(raw []byte, rp *tracking.ReturnPath) ([]Report, error) {
	if len(raw) > maxDSNBytes {
		raw = raw[:maxDSNBytes]
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: unreadable message: %v", ErrNotBounce, err)
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: unreadable body: %v", ErrNotBounce, err)
	}
	d := &dsn{header: msg.Header, rp: rp}
	d.walk(textproto.MIMEHeader(msg.Header), body, 0)
	reps, err := d.reports()
	if err != nil {
		return nil, err
	}
	if reps = d.finish(reps); len(reps) == 0 {
		return nil, fmt.Errorf("%w: a report that names neither a recipient nor a message", ErrNotBounce)
	}
	return reps, nil
}

// dsn is what the walk over a message's parts found.
type dsn struct {
	header mail.Header
	rp     *tracking.ReturnPath
	parts  int

	reportType string   // of the multipart/report, lower case
	status     []byte   // message/delivery-status body
	feedback   []byte   // message/feedback-report body
	returned   []byte   // returned message or its headers
	texts      [][]byte // human-readable parts, in order
}

func (d *dsn) walk(h textproto.MIMEHeader, body []byte, depth int) {
	if d.parts++; d.parts > maxDSNParts || depth > maxDSNDepth {
		return
	}
	ct, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		ct = "text/plain"
	}
	body = decodeTransfer(h.Get("Content-Transfer-Encoding"), body)
	switch {
	case strings.HasPrefix(ct, "multipart/"):
		if ct == "multipart/report" && d.reportType == "" {
			d.reportType = strings.ToLower(params["report-type"])
		}
		boundary := params["boundary"]
		if boundary == "" {
			return
		}
		mr := multipart.NewReader(bytes.NewReader(body), boundary)
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return
			}
			b, err := io.ReadAll(io.LimitReader(p, maxDSNBytes))
			if err != nil {
				return
			}
			d.walk(p.Header, b, depth+1)
		}
	case ct == "message/delivery-status" || ct == "message/global-delivery-status":
		if d.status == nil {
			d.status = body
		}
	case ct == "message/feedback-report":
		if d.feedback == nil {
			d.feedback = body
		}
	case ct == "message/rfc822" || ct == "message/global" || ct == "text/rfc822-headers" ||
		ct == "message/rfc822-headers" || ct == "message/global-headers":
		if d.returned == nil {
			d.returned = body
		}
	case ct == "text/plain" || ct == "text/html":
		if ct == "text/html" {
			body = stripTags(body)
		}
		d.texts = append(d.texts, body)
	}
}

// decodeTransfer undoes a part's Content-Transfer-Encoding; what does not
// decode is read as it is.
func decodeTransfer(cte string, body []byte) []byte {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, body)
		out, err := base64.StdEncoding.DecodeString(string(clean))
		if err != nil {
			out, err = base64.RawStdEncoding.DecodeString(string(bytes.TrimRight(clean, "=")))
		}
		if err != nil {
			return body
		}
		return out
	case "quoted-printable":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err != nil && len(out) == 0 {
			return body
		}
		return out
	}
	return body
}

var tagRE = regexp.MustCompile(`(?s)<(style|script)[^>]*>.*?</(style|script)>|<br\s*/?>|</(p|div|tr|li|h[1-6])>|<[^>]*>`)

// stripTags turns an HTML part into text good enough to search: the
// Exchange NDRs that come without a plain part.
func stripTags(b []byte) []byte {
	out := tagRE.ReplaceAllFunc(b, func(m []byte) []byte {
		if bytes.HasPrefix(m, []byte("<br")) || bytes.HasPrefix(m, []byte("</")) {
			return []byte("\n")
		}
		return nil
	})
	r := strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&", "&nbsp;", " ", "&quot;", `"`, "&#39;", "'")
	return []byte(r.Replace(string(out)))
}

func (d *dsn) reports() ([]Report, error) {
	switch {
	case d.reportType == "feedback-report" || d.feedback != nil:
		return d.complaint()
	case d.status != nil:
		return d.deliveryStatus()
	}
	if why := autoReply(d.header); why != "" {
		return nil, fmt.Errorf("%w: %s", ErrNotBounce, why)
	}
	return d.plainText()
}

// finish fills in what every report of the message shares: the original
// Message-ID, the delivery named by a VERP address, the source, the
// message's own id for replays and its date. Reports that name no one
// are dropped.
func (d *dsn) finish(reps []Report) []Report {
	ret := parseReturned(d.returned, d.texts)
	var deliveryID int64
	if d.rp != nil && len(reps) == 1 {
		// A VERP address names one message, sent to one recipient: it says
		// nothing about the others of a report that lists several.
		for _, a := range append(verpCandidates(d.header), ret.returnPath) {
			if id, err := d.rp.DeliveryID(a); err == nil {
				deliveryID = id
				break
			}
		}
	}
	own := strings.Trim(strings.TrimSpace(d.header.Get("Message-ID")), "<>")
	date, _ := d.header.Date()
	for i := range reps {
		r := &reps[i]
		r.Source = SourceMailbox
		r.DeliveryID = deliveryID
		if r.MessageID == "" {
			r.MessageID = ret.messageID
		}
		if r.Email == "" && r.Kind == Complaint {
			// Feedback loops often redact the recipient in the returned
			// headers: when the report names Herald's message, that is
			// enough to find the person, and a redacted address would
			// only keep it from matching.
			if _, _, herald := campaigns.ParseMessageID(r.MessageID); !herald && deliveryID == 0 {
				r.Email = ret.to
			}
		}
		if own != "" {
			r.ProviderID = clean(own+"/"+strings.ToLower(r.Email), 300)
		}
		if r.OccurredAt.IsZero() {
			r.OccurredAt = date.UTC()
		}
		r.Diagnostic = clean(r.Diagnostic, maxDiagnostic)
	}
	kept := reps[:0]
	for _, r := range reps {
		if r.Email != "" || r.MessageID != "" || r.DeliveryID != 0 {
			kept = append(kept, r)
		}
	}
	return kept
}

// verpCandidates are the headers a bounce's envelope recipient shows up
// in, as the receiving system wrote them.
func verpCandidates(h mail.Header) []string {
	var out []string
	for _, k := range []string{"X-Original-To", "Delivered-To", "Envelope-To", "X-Envelope-To", "To"} {
		for _, v := range h[textproto.CanonicalMIMEHeaderKey(k)] {
			if as, err := mail.ParseAddressList(v); err == nil {
				for _, a := range as {
					out = append(out, a.Address)
				}
			} else {
				out = append(out, strings.TrimSpace(v))
			}
		}
	}
	return out
}

// returned is what the returned message (or its headers) tells.
type returned struct {
	messageID, to, returnPath string
}

var messageIDLineRE = regexp.MustCompile(`(?im)^[ \t]*message-id:[ \t]*(?:\r?\n[ \t]+)?<?([^\s<>]+@[^\s<>]+)>?`)

// parseReturned reads the returned message's headers; without such a
// part, it looks for them quoted in the text (as plain-text bounces do).
func parseReturned(part []byte, texts [][]byte) returned {
	var r returned
	if part != nil {
		if m, err := mail.ReadMessage(bytes.NewReader(headersOnly(part))); err == nil {
			r.messageID = strings.Trim(strings.TrimSpace(m.Header.Get("Message-ID")), "<>")
			r.returnPath = strings.Trim(strings.TrimSpace(m.Header.Get("Return-Path")), "<>")
			if as, err := mail.ParseAddressList(m.Header.Get("To")); err == nil && len(as) == 1 {
				r.to = as[0].Address
			}
		}
		if r.messageID == "" {
			if m := messageIDLineRE.FindSubmatch(part); m != nil {
				r.messageID = string(m[1])
			}
		}
	}
	if r.messageID == "" {
		for _, t := range texts {
			if m := messageIDLineRE.FindSubmatch(t); m != nil {
				r.messageID = string(m[1])
				break
			}
		}
	}
	if r.returnPath == "" {
		for _, t := range texts {
			if m := returnPathLineRE.FindSubmatch(t); m != nil {
				r.returnPath = string(m[1])
				break
			}
		}
	}
	return r
}

var returnPathLineRE = regexp.MustCompile(`(?im)^[ \t]*return-path:[ \t]*<([^\s<>]+@[^\s<>]+)>`)

// headersOnly cuts a returned message after its headers, with the blank
// line mail.ReadMessage needs even when only headers were returned.
func headersOnly(b []byte) []byte {
	b = bytes.TrimLeft(b, "\r\n")
	if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
		return b[:i+2]
	}
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return b[:i+4]
	}
	return append(append([]byte{}, b...), "\r\n\r\n"...)
}

// fieldBlocks splits a delivery-status or feedback-report body into its
// blocks of fields (RFC 3464: the per-message fields, then one block per
// recipient), keys in canonical form, folded lines unfolded.
func fieldBlocks(b []byte) []textproto.MIMEHeader {
	var blocks []textproto.MIMEHeader
	cur := textproto.MIMEHeader{}
	last := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.TrimSpace(line) == "":
			if len(cur) > 0 {
				blocks = append(blocks, cur)
				cur, last = textproto.MIMEHeader{}, ""
			}
		case (line[0] == ' ' || line[0] == '\t') && last != "":
			vs := cur[last]
			vs[len(vs)-1] += " " + strings.TrimSpace(line)
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok || strings.ContainsAny(k, " \t") {
				continue
			}
			last = textproto.CanonicalMIMEHeaderKey(k)
			cur[last] = append(cur[last], strings.TrimSpace(v))
		}
	}
	if len(cur) > 0 {
		blocks = append(blocks, cur)
	}
	return blocks
}

// typedAddress reads "rfc822; user@example.com" (the address type is
// optional in the wild, and angle brackets common).
func typedAddress(v string) string {
	if _, a, ok := strings.Cut(v, ";"); ok {
		v = a
	}
	v = strings.Trim(strings.TrimSpace(v), "<>")
	if !strings.Contains(v, "@") || strings.ContainsAny(v, " \t<>") {
		return ""
	}
	return v
}

// typedText reads "smtp; 550 5.1.1 ..." as its text.
func typedText(v string) string {
	if t, rest, ok := strings.Cut(v, ";"); ok && !strings.ContainsAny(t, " \t") {
		return strings.TrimSpace(rest)
	}
	return strings.TrimSpace(v)
}

var (
	// enhancedRE is an RFC 3463 status code, not part of an IP address or
	// a version number.
	enhancedRE = regexp.MustCompile(`(?:^|[^\w.])([245])\.(\d{1,3})\.(\d{1,3})(?:$|[^\w.]|\.(?:$|\s))`)
	basicRE    = regexp.MustCompile(`(?:^|[^\d.])([45]\d\d)(?:[ -]|$)`)
)

// kindOf says what a failure with this enhanced status (RFC 3463) or SMTP
// code was. A 5.x.x is a hard bounce when it is about the address or the
// domain; a full mailbox (5.2.2), a message too big (5.3.4) and a policy
// refusal (5.7.x, spam filters and blocklists) say nothing of the
// address, so they count as soft: a few of them in a row still suppress
// it (see SoftBouncePolicy). Temporary failures are soft.
func kindOf(status string) (Kind, bool) {
	if m := enhancedRE.FindStringSubmatch(status); m != nil {
		switch {
		case m[1] == "4":
			return Soft, true
		case m[1] == "2":
			return "", false
		case m[2] == "2" && m[3] == "2", m[2] == "3" && m[3] == "4", m[2] == "7":
			return Soft, true
		default:
			return Hard, true
		}
	}
	if m := basicRE.FindStringSubmatch(status); m != nil {
		switch {
		case m[1][0] == '4':
			return Soft, true
		case m[1] == "552" || m[1] == "554":
			// Mailbox full, or a transaction refused for any reason.
			return Soft, true
		default:
			return Hard, true
		}
	}
	return "", false
}

// deliveryStatus reads an RFC 3464 report.
func (d *dsn) deliveryStatus() ([]Report, error) {
	blocks := fieldBlocks(d.status)
	if len(blocks) == 0 {
		return nil, fmt.Errorf("%w: an empty delivery status", ErrNotBounce)
	}
	var msgDate time.Time
	if v := blocks[0].Get("Arrival-Date"); v != "" {
		msgDate, _ = mail.ParseDate(v)
	}
	var reps []Report
	actions := map[string]bool{}
	for _, b := range blocks {
		action := strings.ToLower(strings.TrimSpace(b.Get("Action")))
		if action == "" {
			continue // the per-message block
		}
		actions[action] = true
		if !strings.HasPrefix(action, "failed") {
			continue
		}
		email := typedAddress(b.Get("Original-Recipient"))
		if email == "" {
			email = typedAddress(b.Get("Final-Recipient"))
		}
		diag := typedText(b.Get("Diagnostic-Code"))
		kind, ok := kindOf(b.Get("Status"))
		if !ok {
			kind, ok = kindOf(diag)
		}
		if !ok {
			// Failed without a code is still failed: the sending system
			// gave up on the address.
			kind = Hard
		}
		if diag == "" {
			diag = strings.TrimSpace(b.Get("Status"))
		}
		at := msgDate
		if v := b.Get("Last-Attempt-Date"); v != "" {
			if t, err := mail.ParseDate(v); err == nil {
				at = t
			}
		}
		if email == "" {
			continue
		}
		reps = append(reps, Report{Kind: kind, Email: email, Diagnostic: diag, OccurredAt: at.UTC()})
	}
	if len(reps) == 0 {
		what := "no failed recipient"
		if actions["delayed"] {
			what = "a delay warning"
		} else if actions["delivered"] || actions["relayed"] || actions["expanded"] {
			what = "a delivery notice"
		}
		return nil, fmt.Errorf("%w: %s", ErrNotBounce, what)
	}
	return reps, nil
}

// complaint reads an RFC 5965 feedback report. Only abuse reports (a
// person pressing "this is spam", or an unspecified type, which the
// reporting systems use for the same) are complaints.
func (d *dsn) complaint() ([]Report, error) {
	blocks := fieldBlocks(d.feedback)
	if len(blocks) == 0 {
		return nil, fmt.Errorf("%w: an empty feedback report", ErrNotBounce)
	}
	f := blocks[0]
	typ := strings.ToLower(strings.TrimSpace(f.Get("Feedback-Type")))
	if typ != "abuse" && typ != "" {
		return nil, fmt.Errorf("%w: a feedback report of type %q", ErrNotBounce, typ)
	}
	rep := Report{Kind: Complaint, Diagnostic: "feedback report: abuse"}
	if ua := f.Get("User-Agent"); ua != "" {
		rep.Diagnostic += " (" + ua + ")"
	}
	rep.Email = typedAddress(f.Get("Original-Rcpt-To"))
	if v := f.Get("Arrival-Date"); v != "" {
		if t, err := mail.ParseDate(v); err == nil {
			rep.OccurredAt = t.UTC()
		}
	}
	return []Report{rep}, nil
}

// autoReply tells why a message is an automatic reply (RFC 3834's
// Auto-Submitted, and the headers and subjects of the usual responders),
// or "" when it is not one.
func autoReply(h mail.Header) string {
	if bounceSender(h) {
		return ""
	}
	as := strings.ToLower(h.Get("Auto-Submitted"))
	subject := strings.ToLower(h.Get("Subject"))
	switch {
	case strings.HasPrefix(as, "auto-replied"):
		return "an automatic reply (Auto-Submitted: auto-replied)"
	case h.Get("X-Autoreply") != "" || h.Get("X-Autorespond") != "" || h.Get("X-Autoresponder") != "":
		return "an automatic reply (X-Autoreply)"
	case strings.Contains(strings.ToLower(h.Get("Precedence")), "auto_reply"):
		return "an automatic reply (Precedence: auto_reply)"
	case strings.Contains(subject, "out of office") || strings.HasPrefix(subject, "automatic reply") ||
		strings.HasPrefix(subject, "auto:") || strings.HasPrefix(subject, "autoreply") || strings.Contains(subject, "abwesenheit"):
		return "an automatic reply (" + h.Get("Subject") + ")"
	}
	return ""
}

var bounceSenderRE = regexp.MustCompile(`(?i)mailer-daemon|postmaster|mail delivery (subsystem|system)|microsoftexchange|mail\.?delivery`)

// bounceSender tells whether the message comes from a mail system rather
// than a person.
func bounceSender(h mail.Header) bool {
	return bounceSenderRE.MatchString(h.Get("From")) || strings.TrimSpace(h.Get("Return-Path")) == "<>"
}

var (
	bounceSubjectRE = regexp.MustCompile(`(?i)undeliver|undelivered|delivery status notification \(failure\)|mail delivery failed|returned mail|failure notice|delivery failure|could not be delivered|delivery has failed|non remis|unzustellbar|no entregado`)
	// bounceBodyRE are the opening lines of the mail systems' bounces.
	bounceBodyRE = regexp.MustCompile(`(?i)this is the qmail-send program|created automatically by mail delivery software|this is the mail system at host|delivery has failed to these recipients|your message (to .{1,320} )?(couldn't|could not|wasn't|was not) be(en)? delivered|i'm sorry to have to inform you that your message could not|permanent error|address not found`)
	// delayRE are warnings that a message is late, not lost.
	delayRE = regexp.MustCompile(`(?i)has not yet been delivered|not been delivered yet|will (continue|keep) (to try|trying)|delivery (is )?delayed|delayed mail|warning: message .{0,80} delayed|delivery status notification \(delay\)`)
	// sectionEndRE starts the copy of the returned message in a text bounce.
	sectionEndRE = regexp.MustCompile(`(?im)^[ \t]*(-{2,}.*(below this line|copy of the message|original message|returned message|message headers?|undelivered message).*|original message headers:|-{2,}\s*(original|returned) message.*)$`)
	addrRE       = regexp.MustCompile(`[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+`)
	// Where the mail systems name the address that failed.
	qmailPostfixRE = regexp.MustCompile(`(?m)^[ \t]*<([^<>\s]+@[^<>\s]+)>:?`)
	failedListRE   = regexp.MustCompile(`(?is)(following address(?:\(es\))? failed:|delivery has failed to these recipients or groups:|could not be delivered to the following recipients?:|your message to|wasn't delivered to|couldn't be delivered to)\s*(.{0,1000})`)
	permanentRE    = regexp.MustCompile(`(?i)permanent(ly)? (error|failure)|user unknown|unknown user|no such (user|mailbox|recipient)|does not exist|doesn't exist|address not found|couldn't be found|recipient address rejected|mailbox unavailable|invalid recipient|account (has been )?disabled`)
)

// plainText reads the bounces that carry no delivery-status part: it
// finds the failed addresses in the human-readable text (X-Failed-
// Recipients first, where Exim lists them) and the SMTP code after each.
func (d *dsn) plainText() ([]Report, error) {
	var text []byte
	for _, t := range d.texts {
		text = append(append(text, t...), '\n')
	}
	subject := d.header.Get("Subject")
	isBounce := bounceSender(d.header) || bounceSubjectRE.MatchString(subject) ||
		d.header.Get("X-Failed-Recipients") != "" || bounceBodyRE.Match(text)
	if !isBounce {
		return nil, fmt.Errorf("%w: no sign of a mail system's report", ErrNotBounce)
	}
	diag := text
	if loc := sectionEndRE.FindIndex(text); loc != nil {
		diag = text[:loc[0]]
	}
	if delayRE.Match(diag) || delayRE.MatchString(subject) {
		return nil, fmt.Errorf("%w: a delay warning", ErrNotBounce)
	}
	emails := d.failedAddresses(diag)
	if len(emails) == 0 {
		return nil, fmt.Errorf("%w: a report that names no failed address", ErrNotBounce)
	}
	s := string(diag)
	lower := strings.ToLower(s)
	var reps []Report
	for i, e := range emails {
		// The reason follows the address, up to the next one.
		start := strings.Index(lower, strings.ToLower(e))
		if start < 0 {
			start = 0
		}
		end := len(s)
		if i+1 < len(emails) {
			if j := strings.Index(lower[start+len(e):], strings.ToLower(emails[i+1])); j >= 0 {
				end = start + len(e) + j
			}
		}
		// From the start of the address's line: Postfix puts the reply
		// on the same line.
		start = strings.LastIndexByte(s[:start], '\n') + 1
		window := s[start:end]
		kind, ok := kindOf(window)
		if !ok {
			kind, ok = kindOf(s)
		}
		if !ok {
			if !permanentRE.MatchString(s) {
				continue // failed, says the system, but not why or for good
			}
			kind = Hard
		}
		reps = append(reps, Report{Kind: kind, Email: e, Diagnostic: diagnosticLine(window)})
	}
	if len(reps) == 0 {
		return nil, fmt.Errorf("%w: a report without a reason", ErrNotBounce)
	}
	return reps, nil
}

// failedAddresses returns the addresses a text bounce says failed, each
// once, in order: X-Failed-Recipients; "<addr>:" lines (qmail, Postfix);
// the list after Exim's or Exchange's heading; at last the only address
// in the text that is not the mail system's own.
func (d *dsn) failedAddresses(diag []byte) []string {
	var out []string
	seen := map[string]bool{}
	add := func(a string) {
		a = strings.Trim(strings.TrimSpace(a), "<>:.,;'\"()[]")
		k := strings.ToLower(a)
		if a == "" || seen[k] || !strings.Contains(a, "@") || d.ownAddress(k) {
			return
		}
		seen[k] = true
		out = append(out, a)
	}
	for _, v := range d.header[textproto.CanonicalMIMEHeaderKey("X-Failed-Recipients")] {
		for _, a := range strings.Split(v, ",") {
			add(a)
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, m := range qmailPostfixRE.FindAllSubmatch(diag, -1) {
		add(string(m[1]))
	}
	if len(out) > 0 {
		return out
	}
	if m := failedListRE.FindSubmatch(diag); m != nil {
		// The addresses listed right after the heading, up to the first
		// line that is not one (Exchange) or the first address (the
		// one-line forms).
		for _, line := range strings.Split(string(m[2]), "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				if len(out) > 0 {
					break
				}
				continue
			}
			a := addrRE.FindString(line)
			if a == "" {
				break
			}
			add(a)
			if len(out) > 0 && !strings.HasPrefix(line, a) && !strings.HasPrefix(line, "<"+a) {
				break // a sentence naming the address: it is the one
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	var all []string
	for _, a := range addrRE.FindAllString(string(diag), -1) {
		if !d.ownAddress(strings.ToLower(a)) && !seen[strings.ToLower(a)] {
			seen[strings.ToLower(a)] = true
			all = append(all, a)
		}
	}
	if len(all) == 1 {
		return all
	}
	return nil
}

var systemLocalRE = regexp.MustCompile(`^(mailer-daemon|postmaster|abuse|noreply|no-reply|root)@`)

// ownAddress tells whether a is the mail system's, or where the bounce
// went (the sender's), rather than a failed recipient.
func (d *dsn) ownAddress(a string) bool {
	if systemLocalRE.MatchString(a) {
		return true
	}
	for _, k := range []string{"From", "To", "Delivered-To", "X-Original-To", "Return-Path"} {
		if strings.Contains(strings.ToLower(d.header.Get(k)), a) {
			return true
		}
	}
	return d.rp != nil && strings.HasPrefix(a, strings.ToLower(strings.Split(d.rp.Plain(), "@")[0])+"+")
}

// diagnosticLine keeps the reason of a text bounce: the first line with
// an SMTP code and the indented lines that continue it (Postfix folds the
// server's reply), or the first lines.
func diagnosticLine(window string) string {
	lines := strings.Split(window, "\n")
	var keep []string
	for i, line := range lines {
		if !enhancedRE.MatchString(line) && !basicRE.MatchString(line) {
			continue
		}
		keep = append(keep, strings.TrimSpace(line))
		for _, next := range lines[i+1:] {
			if strings.TrimSpace(next) == "" || (next[0] != ' ' && next[0] != '\t') {
				break
			}
			keep = append(keep, strings.TrimSpace(next))
		}
		break
	}
	if len(keep) == 0 {
		for _, line := range lines {
			if line = strings.TrimSpace(line); line != "" {
				keep = append(keep, line)
			}
			if len(keep) == 3 {
				break
			}
		}
	}
	return strings.Join(keep, " ")
}
