// Package smtp sends Herald's messages: a pool of SMTP connections per
// server, one transaction per message whose reply codes become
// campaigns.SendError (permanent or temporary, per recipient), the MIME
// writing of a rendered campaigns.Message, and DKIM signing. Mailer
// implements campaigns.Mailer for the worker's sender and the web tier's
// test sends.
package smtp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"

	"herald/campaigns"
)

// DKIMConfig turns on DKIM signing when all three are set.
type DKIMConfig struct {
	Domain   string
	Selector string
	KeyFile  string // PEM, RSA or Ed25519
}

// Config configures the SMTP pool.
type Config struct {
	// URLs are smtp://user:pass@host:587?tls=starttls (or tls=none,
	// tls=opportunistic), or smtps://host:465 for implicit TLS. Messages
	// are spread over them round-robin; a server that cannot be reached
	// is skipped until it can.
	URLs []string
	// PoolSize is the number of connections kept per server.
	PoolSize int
	// HELO is the name given in EHLO; the host name when empty.
	HELO    string
	Timeout time.Duration
	DKIM    DKIMConfig
	Log     *slog.Logger
	// Observe, when set, is told each transaction's reply code (250 when
	// the message was accepted, 0 when the connection failed without one)
	// and how long it took, for the metrics.
	Observe func(code int, took time.Duration)
}

// Mailer sends through a pool of reused SMTP connections. It implements
// campaigns.Mailer.
type Mailer struct {
	observe func(code int, took time.Duration)
	servers []*smtpServer
	next    atomic.Uint64
	signer  *mail.DKIMSigner
	timeout time.Duration
	bufs    sync.Pool // *bytes.Buffer for building messages
	log     *slog.Logger
	closed  atomic.Bool
}

type smtpServer struct {
	name  string
	host  string
	opts  []mail.Option
	idle  chan *pooledConn
	slots chan struct{}
	down  atomic.Int64 // unix nanos until which the server is skipped
}

// idleFor is how long a connection may sit unused before it is closed
// rather than reused (servers drop idle clients after a while).
const idleFor = 30 * time.Second

// NewMailer builds a pool; it dials lazily.
func NewMailer(cfg Config) (*Mailer, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("smtp: no SMTP server configured")
	}
	if cfg.PoolSize <= 0 {
		cfg.PoolSize = 8
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	m := &Mailer{log: cfg.Log, timeout: cfg.Timeout, observe: cfg.Observe}
	m.bufs.New = func() any { return new(bytes.Buffer) }
	for _, raw := range cfg.URLs {
		s, err := newSMTPServer(strings.TrimSpace(raw), cfg)
		if err != nil {
			return nil, err
		}
		m.servers = append(m.servers, s)
	}
	if cfg.DKIM.Domain != "" || cfg.DKIM.Selector != "" || cfg.DKIM.KeyFile != "" {
		if cfg.DKIM.Domain == "" || cfg.DKIM.Selector == "" || cfg.DKIM.KeyFile == "" {
			return nil, errors.New("smtp: DKIM needs HERALD_DKIM_DOMAIN, HERALD_DKIM_SELECTOR and HERALD_DKIM_KEY_FILE together")
		}
		pem, err := os.ReadFile(cfg.DKIM.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("smtp: read DKIM key: %w", err)
		}
		key, err := mail.PrivKeyFromPEM(pem)
		if err != nil {
			return nil, fmt.Errorf("smtp: DKIM key %s: %w", cfg.DKIM.KeyFile, err)
		}
		m.signer = NewDKIMSigner(cfg.DKIM.Domain, cfg.DKIM.Selector, key)
	}
	return m, nil
}

// dkimHeaders are the headers signed. Feedback-ID is among them because
// Gmail reads it only from signed mail. The h= tag of this list is longer
// than a line and go-mail folds it inside a word, which relaxed
// canonicalisation would read as a space: signDKIM takes those folds out.
func dkimHeaders() []string {
	return []string{"From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post", "Feedback-ID"}
}

// NewDKIMSigner returns a signer over dkimHeaders, safe to share between
// connections: go-mail's Sign records the key's algorithm in the signer
// the first time it runs, a data race when connections sign at once, so
// the signer signs once here before anyone shares it.
func NewDKIMSigner(domain, selector string, key crypto.Signer) *mail.DKIMSigner {
	s := mail.NewDKIMSigner(domain, selector, key)
	s.SignHeaders(dkimHeaders()...)
	_, _ = s.Sign([]byte("From: warm-up@"+domain+"\r\n"), []byte("\r\n"))
	return s
}

// signDKIM returns the DKIM-Signature header of a message. go-mail signs
// the tags unfolded and then folds them at 76 characters, inside a tag
// value where one is longer than a line (h= with the headers above, bh=
// after a long domain). A verifier reads such a fold as a space, so the
// header would no longer be what was signed; folds next to white space
// are harmless. The folds inside words before the b= tag are removed
// here, leaving a longer line (RFC 5322 allows 998 characters); b= may
// be folded anywhere, as verifiers drop its white space.
func signDKIM(s *mail.DKIMSigner, header, body []byte) (string, error) {
	sig, err := s.Sign(header, body)
	if err != nil {
		return "", err
	}
	return unfoldInsideWords(sig), nil
}

// unfoldInsideWords removes the "\r\n " folds (or runs of them) that
// stand between two characters other than white space, up to the last tag
// (b=).
func unfoldInsideWords(sig string) string {
	end := strings.LastIndexByte(sig, ';')
	if end < 0 {
		return sig
	}
	const fold = "\r\n "
	var b strings.Builder
	b.Grow(len(sig))
	for i := 0; i < end; {
		if !strings.HasPrefix(sig[i:end], fold) {
			b.WriteByte(sig[i])
			i++
			continue
		}
		j := i
		for strings.HasPrefix(sig[j:end], fold) {
			j += len(fold)
		}
		out := b.String()
		if len(out) == 0 || isWSP(out[len(out)-1]) || j >= end || isWSP(sig[j]) {
			b.WriteString(sig[i:j]) // beside white space: harmless
		}
		i = j
	}
	b.WriteString(sig[end:])
	return b.String()
}

func newSMTPServer(raw string, cfg Config) (*smtpServer, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("smtp: SMTP URL %q: expected smtp://user:pass@host:port", redactURL(raw))
	}
	host := u.Hostname()
	q := u.Query()
	opts := []mail.Option{mail.WithTimeout(cfg.Timeout), mail.WithoutNoop(), mail.WithoutRset()}
	port := u.Port()
	tlsMode := strings.ToLower(q.Get("tls"))
	switch u.Scheme {
	case "smtps":
		opts = append(opts, mail.WithSSL())
		if port == "" {
			port = "465"
		}
	case "smtp":
		if port == "" {
			port = "587"
		}
		switch tlsMode {
		case "", "opportunistic":
			opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
		case "starttls", "mandatory":
			opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
		case "none", "off":
			opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
		case "tls", "ssl":
			opts = append(opts, mail.WithSSL())
		default:
			return nil, fmt.Errorf("smtp: SMTP URL %q: tls must be starttls, opportunistic, tls or none", redactURL(raw))
		}
	default:
		return nil, fmt.Errorf("smtp: SMTP URL %q: scheme must be smtp or smtps", redactURL(raw))
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("smtp: SMTP URL %q: bad port", redactURL(raw))
	}
	opts = append(opts, mail.WithPort(p))
	if q.Get("skip_verify") == "1" || q.Get("skip_verify") == "true" {
		opts = append(opts, mail.WithTLSConfig(&tls.Config{ServerName: host, InsecureSkipVerify: true}))
	}
	if u.User != nil {
		pass, _ := u.User.Password()
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(u.User.Username()), mail.WithPassword(pass))
	}
	if cfg.HELO != "" {
		opts = append(opts, mail.WithHELO(cfg.HELO))
	}
	size := cfg.PoolSize
	if v := q.Get("pool"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 && n <= 256 {
			size = n
		}
	}
	s := &smtpServer{name: redactURL(raw), host: host, opts: opts, idle: make(chan *pooledConn, size), slots: make(chan struct{}, size)}
	return s, nil
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = url.User(u.User.Username())
	return u.String()
}

// get returns an idle connection or dials a new one when the pool has room.
func (s *smtpServer) get(ctx context.Context) (*pooledConn, error) {
	for {
		select {
		case pc := <-s.idle:
			if time.Since(pc.lastUsed) > idleFor {
				pc.close()
				<-s.slots
				continue
			}
			return pc, nil
		default:
		}
		select {
		case pc := <-s.idle:
			return pc, nil
		case s.slots <- struct{}{}:
			pc, err := s.dial(ctx)
			if err != nil {
				<-s.slots
				return nil, err
			}
			return pc, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// dial opens a connection: go-mail connects, says EHLO, starts TLS and
// authenticates as the URL asks.
func (s *smtpServer) dial(ctx context.Context) (*pooledConn, error) {
	c, err := mail.NewClient(s.host, s.opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp: SMTP client for %s: %w", s.name, err)
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	sc, err := c.DialToSMTPClientWithContext(dctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &campaigns.SendError{Temporary: true, Msg: fmt.Sprintf("connect to %s: %v", s.name, err), Err: err}
	}
	pc := &pooledConn{c: c, sc: sc, lastUsed: time.Now(), fresh: true}
	pc.pipelining, _ = sc.Extension("PIPELINING")
	pc.smtputf8, _ = sc.Extension("SMTPUTF8")
	return pc, nil
}

func (s *smtpServer) put(pc *pooledConn) {
	pc.lastUsed = time.Now()
	pc.fresh = false
	select {
	case s.idle <- pc:
	default:
		pc.close()
		<-s.slots
	}
}

func (s *smtpServer) discard(pc *pooledConn) {
	pc.close()
	<-s.slots
}

// pick chooses the next server that is not marked down.
func (m *Mailer) pick() *smtpServer {
	n := len(m.servers)
	start := m.next.Add(1)
	now := time.Now().UnixNano()
	for i := 0; i < n; i++ {
		s := m.servers[(int(start)+i)%n]
		if s.down.Load() < now {
			return s
		}
	}
	return m.servers[int(start)%n]
}

// maxPooledBuffer bounds the message buffers kept for reuse, so one huge
// message does not pin its memory.
const maxPooledBuffer = 1 << 20

// Send sends one message. Errors are *campaigns.SendError.
func (m *Mailer) Send(ctx context.Context, cm *campaigns.Message) error {
	buf := m.bufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledBuffer {
			m.bufs.Put(buf)
		}
	}()
	buf.Reset()
	writeMessage(buf, cm, time.Now())
	data := buf.Bytes()
	var sig string
	if m.signer != nil {
		// The signature covers the message as the recipient sees it, so
		// it is made before dot-stuffing, which the server undoes.
		i := bytes.Index(data, []byte("\r\n\r\n"))
		var err error
		if sig, err = signDKIM(m.signer, data[:i+2], data[i+4:]); err != nil {
			return &campaigns.SendError{Msg: fmt.Sprintf("DKIM signing: %v", err), Err: err}
		}
	}
	stuffed := false
	if bytes.Contains(data, []byte("\n.")) {
		// writeMessage never starts a line with a dot; should that change,
		// stuff them rather than cut the message short.
		data, stuffed = bytes.ReplaceAll(data, []byte("\n."), []byte("\n..")), true
	}
	// The signature, the message and the final dot go in one write: one
	// system call, and one read for the server, instead of three.
	var payload []byte
	if sig == "" && !stuffed {
		buf.WriteString(".\r\n")
		payload = buf.Bytes()
	} else {
		out := m.bufs.Get().(*bytes.Buffer)
		defer func() {
			if out.Cap() <= maxPooledBuffer {
				m.bufs.Put(out)
			}
		}()
		out.Reset()
		out.WriteString(sig)
		out.Write(data)
		out.WriteString(".\r\n")
		payload = out.Bytes()
	}
	unreachable, retried := 0, false
	for {
		s := m.pick()
		pc, err := s.get(ctx)
		if err != nil {
			var se *campaigns.SendError
			if !errors.As(err, &se) || ctx.Err() != nil {
				return err // cancelled, or a client that cannot be built
			}
			// Nothing was sent: skip this server for a while and try the
			// next one, once per server.
			s.down.Store(time.Now().Add(5 * time.Second).UnixNano())
			if unreachable++; unreachable < len(m.servers) {
				continue
			}
			return err
		}
		fresh := pc.fresh
		start := time.Now()
		res := pc.transact(m.timeout, s.name, envelopeFrom(cm), cm.To, payload, cm.Commit)
		if m.observe != nil && res.abort == nil {
			code := 250
			if res.err != nil {
				code = res.err.Code
			}
			m.observe(code, time.Since(start))
		}
		switch {
		case res.keep:
			s.put(pc)
		case res.drop:
			// Mid-DATA: a QUIT would be read as message text. Closing
			// the connection makes the server discard the transaction.
			_ = pc.sc.Close()
			<-s.slots
		default:
			s.discard(pc)
		}
		if res.abort != nil {
			return res.abort
		}
		if res.err == nil {
			return nil
		}
		// A pooled connection the server closed while it sat idle (421,
		// or no answer at all) fails before the transaction started:
		// nothing can have been accepted, so try once more on a new one.
		if res.beforeData && !res.keep && !fresh && !retried {
			retried = true
			continue
		}
		return res.err
	}
}

// envelopeFrom is the MAIL FROM address: the message's VERP or plain
// return path when it has one, its From address otherwise.
func envelopeFrom(cm *campaigns.Message) string {
	if cm.EnvelopeFrom != "" {
		return cm.EnvelopeFrom
	}
	return cm.FromEmail
}

// pooledConn is one SMTP connection: go-mail's client for connecting, TLS,
// authentication and QUIT, and its textproto connection for transactions.
type pooledConn struct {
	c          *mail.Client
	sc         *gosmtp.Client
	lastUsed   time.Time
	fresh      bool // dialled for this send, never used before
	pipelining bool // the server takes MAIL, RCPT and DATA in one write (RFC 2920)
	smtputf8   bool
	reset      bool // a failed transaction may still be open: RSET first
}

func (pc *pooledConn) close() { _ = pc.c.CloseWithSMTPClient(pc.sc) }

// result is the outcome of one transaction.
type result struct {
	err *campaigns.SendError // nil: the server accepted the message
	// keep tells whether the connection can carry another transaction.
	keep bool
	// beforeData is set when the transaction failed before any of the
	// message was sent, so no server can have accepted it.
	beforeData bool
	// abort is the error of the message's Commit: the message was not
	// completed.
	abort error
	// drop tells that the connection is mid-DATA and must be closed
	// without a QUIT, so that the server discards the transaction.
	drop bool
}

// transact sends one message: MAIL, RCPT and DATA pipelined in one write
// when the server allows it (one round trip instead of three), then the
// message and the final dot in another. go-mail has no pipelining and
// sends a Msg a byte at a time through its dot-stuffing writer; this
// writes the prepared bytes as they are.
func (pc *pooledConn) transact(timeout time.Duration, server, from, to string, payload []byte, commit func() error) result {
	lost := func(err error, beforeData bool) result {
		return result{err: &campaigns.SendError{Temporary: true, Msg: fmt.Sprintf("connection to %s lost: %v", server, err), Err: err}, beforeData: beforeData}
	}
	if err := pc.sc.UpdateDeadline(timeout); err != nil {
		return lost(err, true)
	}
	text := pc.sc.Text
	params := ""
	if pc.smtputf8 && (!isASCII(from) || !isASCII(to)) {
		params = " SMTPUTF8"
	}
	cmds := make([]string, 0, 4)
	if pc.reset {
		cmds = append(cmds, "RSET")
	}
	cmds = append(cmds, "MAIL FROM:<"+from+">"+params, "RCPT TO:<"+to+">", "DATA")
	// expect is the first digit of each command's success reply.
	expect := func(cmd string) int {
		if cmd == "DATA" {
			return 3
		}
		return 2
	}
	var replyErr [4]*textproto.Error
	for i := 0; i < len(cmds); {
		// Write every command (pipelining) or one at a time.
		j := i + 1
		if pc.pipelining {
			j = len(cmds)
		}
		for _, c := range cmds[i:j] {
			text.W.WriteString(c)
			text.W.WriteString("\r\n")
		}
		if err := text.W.Flush(); err != nil {
			return lost(err, true)
		}
		for k := i; k < j; k++ {
			_, _, err := text.ReadResponse(expect(cmds[k]))
			var te *textproto.Error
			if errors.As(err, &te) {
				replyErr[k] = te
			} else if err != nil {
				return lost(err, true)
			}
		}
		if !pc.pipelining && replyErr[i] != nil {
			break // unpipelined: stop at the first refusal
		}
		i = j
	}
	off := 0
	if pc.reset {
		if replyErr[0] != nil {
			return lost(fmt.Errorf("RSET refused: %w", replyErr[0]), true)
		}
		off = 1
	}
	mailErr, rcptErr, dataErr := replyErr[off], replyErr[off+1], replyErr[off+2]
	dataOpen := !pc.pipelining && mailErr == nil && rcptErr == nil && dataErr == nil ||
		pc.pipelining && dataErr == nil
	if mailErr != nil || rcptErr != nil || (!dataOpen && dataErr != nil) {
		if dataOpen {
			// A server that opened DATA for a refused sender or recipient:
			// end it by dropping the connection rather than send anything.
			return result{err: refused(firstErr(mailErr, rcptErr), false), beforeData: true, drop: true}
		}
		pc.reset = true
		switch {
		case mailErr != nil:
			return result{err: refused(mailErr, false), keep: mailErr.Code != 421, beforeData: true}
		case rcptErr != nil:
			return result{err: refused(rcptErr, rcptErr.Code >= 500), keep: rcptErr.Code != 421, beforeData: true}
		default:
			return result{err: refused(dataErr, false), keep: dataErr.Code != 421, beforeData: true}
		}
	}
	pc.reset = false
	if commit != nil {
		// The server is waiting for the data; nothing it has can be
		// accepted without the final dot. This is the point of no return.
		if err := commit(); err != nil {
			return result{abort: err, drop: true}
		}
	}
	text.W.Write(payload)
	if err := text.W.Flush(); err != nil {
		return lost(err, false)
	}
	_, _, err := text.ReadResponse(2)
	var te *textproto.Error
	if errors.As(err, &te) {
		return result{err: refused(te, false), keep: te.Code != 421}
	}
	if err != nil {
		return lost(err, false)
	}
	return result{keep: true}
}

// refused turns a server's refusal into a SendError: 4xx replies are
// temporary; a 5xx at RCPT is the recipient's hard bounce.
func refused(te *textproto.Error, recipient bool) *campaigns.SendError {
	return &campaigns.SendError{Temporary: te.Code >= 400 && te.Code < 500, Recipient: recipient, Code: te.Code, Msg: strings.TrimSpace(te.Msg)}
}

func firstErr(errs ...*textproto.Error) *textproto.Error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Close closes every pooled connection.
func (m *Mailer) Close() {
	if m.closed.Swap(true) {
		return
	}
	var wg sync.WaitGroup
	for _, s := range m.servers {
		for {
			select {
			case pc := <-s.idle:
				wg.Add(1)
				go func() { defer wg.Done(); pc.close() }()
				continue
			default:
			}
			break
		}
	}
	wg.Wait()
}
