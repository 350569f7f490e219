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
	"io"
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
	bufs    sync.Pool // *wire for building messages
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
	m.bufs.New = func() any { return new(wire) }
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

// wire holds one message's bytes on their way out: the message as
// written, and the signed or dot-stuffed copy when it needs one.
type wire struct {
	msg, out bytes.Buffer
	data     *bytes.Buffer // the one of the two that goes out
}

// then appends cmds after the message's final dot and returns all of it,
// for one write: the next message's envelope goes in the same system
// call and reaches the server in the same read.
func (w *wire) then(cmds []string) []byte {
	writeCmds(w.data, cmds)
	return w.data.Bytes()
}

func (m *Mailer) getWire() *wire { return m.bufs.Get().(*wire) }

func (m *Mailer) putWire(w *wire) {
	if w.msg.Cap() <= maxPooledBuffer && w.out.Cap() <= maxPooledBuffer {
		m.bufs.Put(w)
	}
}

// prepare writes cm into w and returns what goes after DATA: the
// DKIM-Signature header when signing, the message, and the final dot.
func (m *Mailer) prepare(w *wire, cm *campaigns.Message) ([]byte, error) {
	w.msg.Reset()
	writeMessage(&w.msg, cm, time.Now())
	data := w.msg.Bytes()
	var sig string
	if m.signer != nil {
		// The signature covers the message as the recipient sees it, so
		// it is made before dot-stuffing, which the server undoes.
		i := bytes.Index(data, []byte("\r\n\r\n"))
		var err error
		if sig, err = signDKIM(m.signer, data[:i+2], data[i+4:]); err != nil {
			return nil, &campaigns.SendError{Msg: fmt.Sprintf("DKIM signing: %v", err), Err: err}
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
	if sig == "" && !stuffed {
		w.msg.WriteString(".\r\n")
		w.data = &w.msg
		return w.msg.Bytes(), nil
	}
	w.out.Reset()
	w.out.WriteString(sig)
	w.out.Write(data)
	w.out.WriteString(".\r\n")
	w.data = &w.out
	return w.out.Bytes(), nil
}

// Send sends one message. Errors are *campaigns.SendError.
func (m *Mailer) Send(ctx context.Context, cm *campaigns.Message) error {
	var err error
	given := false
	m.SendEach(ctx, func() *campaigns.Message {
		if given {
			return nil
		}
		given = true
		return cm
	}, func(_ *campaigns.Message, e error) { err = e })
	return err
}

// SendEach sends the messages next gives over one connection while it
// lasts, each message's MAIL, RCPT and DATA written with the previous
// message's final dot when the server pipelines (RFC 2920): the server's
// reply to the dot and its replies to the next envelope then come back
// together. A refused recipient, a 451 or a lost connection still settles
// only the message it concerns; a message whose envelope went out on a
// connection that was then lost is sent again on a new one, as nothing
// of it can have been accepted. It implements campaigns.SequenceMailer.
func (m *Mailer) SendEach(ctx context.Context, next func() *campaigns.Message, done func(*campaigns.Message, error)) {
	r := &run{m: m, ctx: ctx, next: next, done: done}
	r.wires[0], r.wires[1] = m.getWire(), m.getWire()
	defer func() {
		if r.pc != nil {
			r.s.put(r.pc)
		}
		m.putWire(r.wires[0])
		m.putWire(r.wires[1])
	}()
	r.loop()
}

// run is one SendEach call: the connection it holds and the buffers of
// the message being completed and of the one after it.
type run struct {
	m     *Mailer
	ctx   context.Context
	next  func() *campaigns.Message
	done  func(*campaigns.Message, error)
	wires [2]*wire
	s     *smtpServer
	pc    *pooledConn
}

// pull takes the next message and writes it into w.
func (r *run) pull(w *wire) (*campaigns.Message, []byte, error) {
	cm := r.next()
	if cm == nil {
		return nil, nil, nil
	}
	payload, err := r.m.prepare(w, cm)
	return cm, payload, err
}

func (r *run) loop() {
	k := 0 // wires[k] holds cur's bytes
	cur, payload, perr := r.pull(r.wires[k])
	// piped holds cur's envelope commands when they went out with the
	// previous message's dot, on r.pc, and their replies are still to read.
	var piped []string
	retried := false // cur's envelope was already tried on another connection
	start := time.Now()
	advance := func() {
		cur, payload, perr = r.pull(r.wires[k])
		piped, retried = nil, false
	}
	for cur != nil {
		if perr != nil {
			r.done(cur, perr)
			advance()
			continue
		}
		var res result
		var open, fresh bool
		if piped != nil {
			res, open = r.pc.readEnvelope(r.s.name, piped)
			piped = nil
		} else {
			if err := r.connect(); err != nil {
				r.done(cur, err)
				advance()
				continue
			}
			fresh, start = r.pc.fresh, time.Now()
			res, open = r.pc.openData(r.m.timeout, r.s.name, r.pc.envelope(envelopeFrom(cur), cur.To))
		}
		if !open {
			r.observe(res, start)
			r.release(res)
			// A pooled connection the server closed while it sat idle
			// (421, or no answer at all), or one lost after the previous
			// message, fails before the transaction started: nothing can
			// have been accepted, so try once more on a new one.
			if res.beforeData && !res.keep && !fresh && !retried {
				retried = true
				continue
			}
			r.done(cur, res.err)
			advance()
			continue
		}
		r.pc.fresh = false
		if cur.Commit != nil {
			// The server is waiting for the data; nothing it has can be
			// accepted without the final dot. This is the point of no
			// return.
			if err := cur.Commit(); err != nil {
				r.release(result{drop: true})
				r.done(cur, err)
				advance()
				continue
			}
		}
		k = 1 - k
		nxt, nxtPayload, nerr := r.pull(r.wires[k])
		var cmds []string
		if nxt != nil && nerr == nil && r.pc.pipelining {
			cmds = r.pc.envelope(envelopeFrom(nxt), nxt.To)
			payload = r.wires[1-k].then(cmds)
		}
		res = r.pc.finish(r.m.timeout, r.s.name, payload)
		r.observe(res, start)
		start = time.Now()
		r.release(res)
		if res.err != nil {
			r.done(cur, res.err)
		} else {
			r.done(cur, nil)
		}
		cur, payload, perr = nxt, nxtPayload, nerr
		piped, retried = nil, false
		if cmds != nil && r.pc != nil {
			piped = cmds
		}
	}
}

// connect makes sure the run holds a connection: an idle one of the next
// server, or a new one; a server that cannot be reached is skipped for a
// while and the next one tried, once per server.
func (r *run) connect() error {
	if r.pc != nil {
		return nil
	}
	unreachable := 0
	for {
		s := r.m.pick()
		pc, err := s.get(r.ctx)
		if err == nil {
			r.s, r.pc = s, pc
			return nil
		}
		var se *campaigns.SendError
		if !errors.As(err, &se) || r.ctx.Err() != nil {
			return err // cancelled, or a client that cannot be built
		}
		// Nothing was sent: skip this server for a while and try the
		// next one.
		s.down.Store(time.Now().Add(5 * time.Second).UnixNano())
		if unreachable++; unreachable >= len(r.m.servers) {
			return err
		}
	}
}

// observe reports a transaction's reply code to the metrics.
func (r *run) observe(res result, start time.Time) {
	if r.m.observe == nil {
		return
	}
	code := 250
	if res.err != nil {
		code = res.err.Code
	}
	r.m.observe(code, time.Since(start))
}

// release keeps the connection when it can carry another transaction, and
// lets it go otherwise.
func (r *run) release(res result) {
	switch {
	case res.keep:
		return
	case res.drop:
		// Mid-DATA: a QUIT would be read as message text. Closing the
		// connection makes the server discard the transaction.
		_ = r.pc.sc.Close()
		<-r.s.slots
	default:
		r.s.discard(r.pc)
	}
	r.pc = nil
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
	// drop tells that the connection is mid-DATA and must be closed
	// without a QUIT, so that the server discards the transaction.
	drop bool
}

// envelope returns the commands that open a message's data: RSET first
// when a failed transaction may still be open, then MAIL, RCPT and DATA.
func (pc *pooledConn) envelope(from, to string) []string {
	params := ""
	if pc.smtputf8 && (!isASCII(from) || !isASCII(to)) {
		params = " SMTPUTF8"
	}
	cmds := make([]string, 0, 4)
	if pc.reset {
		cmds = append(cmds, "RSET")
	}
	return append(cmds, "MAIL FROM:<"+from+">"+params, "RCPT TO:<"+to+">", "DATA")
}

// expect is the first digit of a command's success reply.
func expect(cmd string) int {
	if cmd == "DATA" {
		return 3
	}
	return 2
}

func writeCmds(w io.StringWriter, cmds []string) {
	for _, c := range cmds {
		w.WriteString(c)
		w.WriteString("\r\n")
	}
}

func lost(server string, err error, beforeData bool) result {
	return result{err: &campaigns.SendError{Temporary: true, Msg: fmt.Sprintf("connection to %s lost: %v", server, err), Err: err}, beforeData: beforeData}
}

// openData sends an envelope, its commands in one write when the server
// pipelines (one round trip instead of three), one at a time otherwise.
// open tells that the server waits for the data; when it does not, res
// says why. go-mail has no pipelining and sends a Msg a byte at a time
// through its dot-stuffing writer; Herald writes the prepared bytes as
// they are.
func (pc *pooledConn) openData(timeout time.Duration, server string, cmds []string) (res result, open bool) {
	if err := pc.sc.UpdateDeadline(timeout); err != nil {
		return lost(server, err, true), false
	}
	text := pc.sc.Text
	if pc.pipelining {
		writeCmds(text.W, cmds)
		if err := text.W.Flush(); err != nil {
			return lost(server, err, true), false
		}
		return pc.readEnvelope(server, cmds)
	}
	var replyErr [4]*textproto.Error
	for i, c := range cmds {
		writeCmds(text.W, cmds[i:i+1])
		if err := text.W.Flush(); err != nil {
			return lost(server, err, true), false
		}
		_, _, err := text.ReadResponse(expect(c))
		var te *textproto.Error
		if errors.As(err, &te) {
			replyErr[i] = te
			break // unpipelined: stop at the first refusal
		} else if err != nil {
			return lost(server, err, true), false
		}
	}
	return pc.envelopeResult(server, cmds, replyErr, false)
}

// readEnvelope reads the replies to cmds, written pipelined.
func (pc *pooledConn) readEnvelope(server string, cmds []string) (res result, open bool) {
	var replyErr [4]*textproto.Error
	for i, c := range cmds {
		_, _, err := pc.sc.Text.ReadResponse(expect(c))
		var te *textproto.Error
		if errors.As(err, &te) {
			replyErr[i] = te
		} else if err != nil {
			return lost(server, err, true), false
		}
	}
	return pc.envelopeResult(server, cmds, replyErr, true)
}

// envelopeResult reads the replies to an envelope's commands.
func (pc *pooledConn) envelopeResult(server string, cmds []string, replyErr [4]*textproto.Error, pipelined bool) (res result, open bool) {
	off := 0
	if cmds[0] == "RSET" {
		if replyErr[0] != nil {
			return lost(server, fmt.Errorf("RSET refused: %w", replyErr[0]), true), false
		}
		off = 1
	}
	mailErr, rcptErr, dataErr := replyErr[off], replyErr[off+1], replyErr[off+2]
	dataOpen := !pipelined && mailErr == nil && rcptErr == nil && dataErr == nil ||
		pipelined && dataErr == nil
	if mailErr != nil || rcptErr != nil || (!dataOpen && dataErr != nil) {
		if dataOpen {
			// A server that opened DATA for a refused sender or recipient:
			// end it by dropping the connection rather than send anything.
			return result{err: refused(firstErr(mailErr, rcptErr), false), beforeData: true, drop: true}, false
		}
		pc.reset = true
		switch {
		case mailErr != nil:
			return result{err: refused(mailErr, false), keep: mailErr.Code != 421, beforeData: true}, false
		case rcptErr != nil:
			return result{err: refused(rcptErr, rcptErr.Code >= 500), keep: rcptErr.Code != 421, beforeData: true}, false
		default:
			return result{err: refused(dataErr, false), keep: dataErr.Code != 421, beforeData: true}, false
		}
	}
	pc.reset = false
	return result{}, true
}

// finish writes a message's data and final dot, followed in the same
// write by the next message's envelope when it is pipelined (whose
// replies readEnvelope reads), and reads the reply to the dot.
func (pc *pooledConn) finish(timeout time.Duration, server string, payload []byte) result {
	if err := pc.sc.UpdateDeadline(timeout); err != nil {
		return lost(server, err, false)
	}
	text := pc.sc.Text
	// A payload larger than the buffer goes to the connection as it is,
	// in one write.
	text.W.Write(payload)
	if err := text.W.Flush(); err != nil {
		return lost(server, err, false)
	}
	_, _, err := text.ReadResponse(2)
	var te *textproto.Error
	if errors.As(err, &te) {
		return result{err: refused(te, false), keep: te.Code != 421}
	}
	if err != nil {
		return lost(server, err, false)
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
