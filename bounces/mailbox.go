package bounces

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/client"

	"herald/tracking"
)

// Keywords the poller sets on the messages it read. A processed bounce
// is also \Seen; a message that is not a bounce is left unread for a
// person, marked so it is not read again. See marksFor for servers that
// keep no keywords.
const (
	KeywordProcessed = "$HeraldBounce"
	KeywordNotBounce = "$HeraldNotBounce"
)

// MailboxSettings is a parsed HERALD_BOUNCE_MAILBOX:
// imaps://user:pass@host:993/INBOX (implicit TLS), imap://...?tls=starttls
// (the default for imap://) or ?tls=none (tests and local servers only),
// ?move=Folder to move processed bounces there instead of flagging them,
// ?skip_verify=1 to accept any certificate.
type MailboxSettings struct {
	Addr       string // host:port
	ServerName string
	User       string
	Password   string
	Folder     string
	MoveTo     string
	TLS        string // "implicit", "starttls" or "none"
	SkipVerify bool
}

// ParseMailboxURL reads a bounce mailbox URL; its errors never repeat the
// password.
func ParseMailboxURL(raw string) (MailboxSettings, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return MailboxSettings{}, errors.New("bounces: expected imaps://user:password@host:993/INBOX")
	}
	s := MailboxSettings{ServerName: u.Hostname(), Folder: strings.TrimPrefix(u.Path, "/")}
	if s.Folder == "" {
		s.Folder = "INBOX"
	}
	port := u.Port()
	q := u.Query()
	switch u.Scheme {
	case "imaps":
		s.TLS = "implicit"
		if port == "" {
			port = "993"
		}
	case "imap":
		if port == "" {
			port = "143"
		}
		switch strings.ToLower(q.Get("tls")) {
		case "", "starttls":
			s.TLS = "starttls"
		case "none":
			s.TLS = "none"
		default:
			return MailboxSettings{}, fmt.Errorf("bounces: mailbox %s: tls must be starttls or none", redactMailbox(u))
		}
	case "pop3", "pop3s":
		return MailboxSettings{}, fmt.Errorf("bounces: mailbox %s: POP3 is not supported, give the IMAP address of the mailbox", redactMailbox(u))
	default:
		return MailboxSettings{}, fmt.Errorf("bounces: mailbox %s: the scheme must be imaps or imap", redactMailbox(u))
	}
	s.Addr = net.JoinHostPort(u.Hostname(), port)
	if u.User == nil || u.User.Username() == "" {
		return MailboxSettings{}, fmt.Errorf("bounces: mailbox %s: give the user and password (imaps://user:password@host/INBOX)", redactMailbox(u))
	}
	s.User = u.User.Username()
	s.Password, _ = u.User.Password()
	s.MoveTo = q.Get("move")
	if s.MoveTo == s.Folder && s.MoveTo != "" {
		return MailboxSettings{}, fmt.Errorf("bounces: mailbox %s: move must name another folder than %s", redactMailbox(u), s.Folder)
	}
	s.SkipVerify = q.Get("skip_verify") == "1" || q.Get("skip_verify") == "true"
	return s, nil
}

// Redacted is the mailbox's URL without its password, for logs and pages.
func (s MailboxSettings) Redacted() string {
	scheme := "imaps"
	if s.TLS != "implicit" {
		scheme = "imap"
	}
	return scheme + "://" + url.User(s.User).String() + "@" + s.Addr + "/" + s.Folder
}

func redactMailbox(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(c.User.Username())
	}
	c.RawQuery = ""
	return c.String()
}

// Mailbox polls the bounce mailbox: it reads the messages it has not read
// before, records the bounces and complaints they report, and only once
// those are committed marks the messages (or moves them), so a crash in
// between reads them again rather than losing them; recording the same
// report twice counts once (see Recorder). Nothing is ever deleted.
type Mailbox struct {
	set  MailboxSettings
	rec  *Recorder
	rp   *tracking.ReturnPath
	log  *slog.Logger
	dial func(ctx context.Context) (*client.Client, error)
	// Timeout bounds each IMAP command.
	timeout time.Duration
}

// NewMailbox returns the poller of the mailbox set. rp reads VERP
// addresses and may be nil.
func NewMailbox(set MailboxSettings, rec *Recorder, rp *tracking.ReturnPath, log *slog.Logger) *Mailbox {
	if log == nil {
		log = slog.Default()
	}
	m := &Mailbox{set: set, rec: rec, rp: rp, log: log, timeout: time.Minute}
	m.dial = m.connect
	return m
}

// PollResult counts what a poll did.
type PollResult struct {
	// Messages read, and of those, the ones that were no bounce.
	Messages   int
	NotBounces int
	Result
}

// pollBatch is how many messages are read, recorded and marked at a time:
// a crash re-reads at most this many.
const pollBatch = 50

// maxPerPoll bounds one poll's work; the rest wait for the next poll.
const maxPerPoll = 1000

// Poll reads the new messages once.
func (m *Mailbox) Poll(ctx context.Context) (PollResult, error) {
	var res PollResult
	c, err := m.dial(ctx)
	if err != nil {
		return res, err
	}
	defer func() { _ = c.Logout() }()
	// The connection follows ctx: a cancelled poll ends its command.
	stop := context.AfterFunc(ctx, func() { _ = c.Terminate() })
	defer stop()

	st, err := c.Select(m.set.Folder, false)
	if err != nil {
		return res, fmt.Errorf("bounces: open folder %s: %w", m.set.Folder, err)
	}
	mk := marksFor(st.PermanentFlags)
	crit := imap.NewSearchCriteria()
	crit.WithoutFlags = mk.unread
	uids, err := c.UidSearch(crit)
	if err != nil {
		return res, fmt.Errorf("bounces: search %s: %w", m.set.Folder, err)
	}
	if len(uids) > maxPerPoll {
		uids = uids[:maxPerPoll]
	}
	for start := 0; start < len(uids); start += pollBatch {
		if err := m.batch(ctx, c, mk, uids[start:min(start+pollBatch, len(uids))], &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// marks are the flags that tell what the poller has read.
type marks struct {
	// unread are the flags none of which a message to read carries.
	unread []string
	// processed and notBounce are set on bounces read and on other
	// messages.
	processed, notBounce []any
}

// marksFor chooses the marks a folder can keep: the keywords
// $HeraldBounce and $HeraldNotBounce where the server keeps keywords
// (PERMANENTFLAGS has \*, or was not sent, which RFC 3501 reads as
// everything), so that a message a person has opened is read all the
// same; otherwise \Seen for bounces and \Flagged for the others, and
// only unread messages are read.
func marksFor(permanent []string) marks {
	keywords := len(permanent) == 0
	for _, f := range permanent {
		if f == "\\*" {
			keywords = true
		}
	}
	if keywords {
		return marks{
			unread:    []string{KeywordProcessed, KeywordNotBounce, imap.DeletedFlag},
			processed: []any{imap.SeenFlag, KeywordProcessed},
			notBounce: []any{KeywordNotBounce},
		}
	}
	return marks{
		unread:    []string{imap.SeenFlag, imap.FlaggedFlag, imap.DeletedFlag},
		processed: []any{imap.SeenFlag},
		notBounce: []any{imap.FlaggedFlag},
	}
}

// batch reads, records and marks one batch of messages.
func (m *Mailbox) batch(ctx context.Context, c *client.Client, mk marks, uids []uint32, res *PollResult) error {
	set := new(imap.SeqSet)
	set.AddNum(uids...)
	// PEEK leaves a message that is not a bounce unread for a person; a
	// bounce is longer than any report needs only for its attachments.
	section := &imap.BodySectionName{Peek: true, Partial: []int{0, maxDSNBytes}}
	ch := make(chan *imap.Message, len(uids))
	done := make(chan error, 1)
	go func() { done <- c.UidFetch(set, []imap.FetchItem{imap.FetchUid, section.FetchItem()}, ch) }()
	var reps []Report
	var processed, other []uint32
	for msg := range ch {
		body := msg.GetBody(section)
		if body == nil {
			continue // not read this time: tried again next poll
		}
		raw, err := io.ReadAll(body)
		if err != nil {
			continue
		}
		res.Messages++
		got, err := ParseDSN(raw, m.rp)
		if errors.Is(err, ErrNotBounce) {
			res.NotBounces++
			other = append(other, msg.Uid)
			m.log.Debug("bounces: mailbox message is not a bounce", "uid", msg.Uid, "why", err.Error())
			continue
		}
		reps = append(reps, got...)
		processed = append(processed, msg.Uid)
	}
	if err := <-done; err != nil {
		return fmt.Errorf("bounces: fetch from %s: %w", m.set.Folder, err)
	}
	if len(reps) > 0 {
		r, err := m.rec.Record(ctx, reps)
		if err != nil {
			// Nothing is marked: the next poll reads these again.
			return err
		}
		res.Received += r.Received
		res.Recorded += r.Recorded
		res.Duplicates += r.Duplicates
		res.Unmatched += r.Unmatched
		res.Suppressed += r.Suppressed
	}
	if len(processed) > 0 {
		if err := m.markProcessed(c, mk, processed); err != nil {
			return err
		}
	}
	if len(other) > 0 {
		if err := m.store(c, other, mk.notBounce); err != nil {
			return err
		}
	}
	return nil
}

// markProcessed moves the recorded messages to the move folder, or marks
// them read and processed. The keyword goes on before a move too, so a
// server that copies without moving (or a move cut short) leaves nothing
// to read twice.
func (m *Mailbox) markProcessed(c *client.Client, mk marks, uids []uint32) error {
	if err := m.store(c, uids, mk.processed); err != nil {
		return err
	}
	if m.set.MoveTo == "" {
		return nil
	}
	set := new(imap.SeqSet)
	set.AddNum(uids...)
	if err := c.UidMove(set, m.set.MoveTo); err != nil {
		return fmt.Errorf("bounces: move to %s: %w", m.set.MoveTo, err)
	}
	return nil
}

func (m *Mailbox) store(c *client.Client, uids []uint32, flags []any) error {
	set := new(imap.SeqSet)
	set.AddNum(uids...)
	if err := c.UidStore(set, imap.FormatFlagsOp(imap.AddFlags, true), flags, nil); err != nil {
		return fmt.Errorf("bounces: flag messages in %s: %w", m.set.Folder, err)
	}
	return nil
}

// connect dials and logs in as the settings say.
func (m *Mailbox) connect(ctx context.Context) (*client.Client, error) {
	dialer := &net.Dialer{Timeout: 30 * time.Second}
	if dl, ok := ctx.Deadline(); ok {
		dialer.Deadline = dl
	}
	tlsConf := &tls.Config{ServerName: m.set.ServerName, InsecureSkipVerify: m.set.SkipVerify}
	var c *client.Client
	var err error
	if m.set.TLS == "implicit" {
		c, err = client.DialWithDialerTLS(dialer, m.set.Addr, tlsConf)
	} else {
		c, err = client.DialWithDialer(dialer, m.set.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("bounces: connect to %s: %w", m.set.Redacted(), err)
	}
	c.Timeout = m.timeout
	// The client logs a read error when the connection closes, which it
	// does at every logout; failures reach the caller as errors anyway.
	c.ErrorLog = imapLog{m.log}
	if m.set.TLS == "starttls" {
		if err := c.StartTLS(tlsConf); err != nil {
			_ = c.Terminate()
			return nil, fmt.Errorf("bounces: STARTTLS with %s: %w", m.set.Redacted(), err)
		}
	}
	if err := c.Login(m.set.User, m.set.Password); err != nil {
		_ = c.Terminate()
		return nil, fmt.Errorf("bounces: log in to %s: %w", m.set.Redacted(), err)
	}
	return c, nil
}

// imapLog routes go-imap's log lines to slog at debug level.
type imapLog struct{ l *slog.Logger }

func (g imapLog) Printf(format string, v ...any) {
	g.l.Debug("bounces: imap: " + fmt.Sprintf(format, v...))
}

func (g imapLog) Println(v ...any) {
	g.l.Debug("bounces: imap: " + strings.TrimSpace(fmt.Sprintln(v...)))
}
