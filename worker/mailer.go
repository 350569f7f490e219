package worker

import (
	"context"
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mail "github.com/wneessen/go-mail"

	"herald/campaigns"
)

// DKIMConfig turns on DKIM signing when all three are set.
type DKIMConfig struct {
	Domain   string
	Selector string
	KeyFile  string // PEM, RSA or Ed25519
}

// MailerConfig configures the SMTP pool.
type MailerConfig struct {
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
}

// Mailer sends through a pool of reused SMTP connections. It implements
// campaigns.Mailer.
type Mailer struct {
	servers []*smtpServer
	next    atomic.Uint64
	signer  *mail.DKIMSigner
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

type pooledConn struct {
	c        *mail.Client
	lastUsed time.Time
}

// idleFor is how long a connection may sit unused before it is closed
// rather than reused (servers drop idle clients after a while).
const idleFor = 30 * time.Second

// NewMailer builds a pool; it dials lazily.
func NewMailer(cfg MailerConfig) (*Mailer, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("worker: no SMTP server configured")
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
	m := &Mailer{log: cfg.Log}
	for _, raw := range cfg.URLs {
		s, err := newSMTPServer(strings.TrimSpace(raw), cfg)
		if err != nil {
			return nil, err
		}
		m.servers = append(m.servers, s)
	}
	if cfg.DKIM.Domain != "" || cfg.DKIM.Selector != "" || cfg.DKIM.KeyFile != "" {
		if cfg.DKIM.Domain == "" || cfg.DKIM.Selector == "" || cfg.DKIM.KeyFile == "" {
			return nil, errors.New("worker: DKIM needs HERALD_DKIM_DOMAIN, HERALD_DKIM_SELECTOR and HERALD_DKIM_KEY_FILE together")
		}
		pem, err := os.ReadFile(cfg.DKIM.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("worker: read DKIM key: %w", err)
		}
		key, err := mail.PrivKeyFromPEM(pem)
		if err != nil {
			return nil, fmt.Errorf("worker: DKIM key %s: %w", cfg.DKIM.KeyFile, err)
		}
		m.signer = NewDKIMSigner(cfg.DKIM.Domain, cfg.DKIM.Selector, key)
	}
	return m, nil
}

// dkimHeaders are the headers signed. go-mail folds a DKIM tag longer
// than a line (75 characters with "h=" and "; ") inside a word, and with
// relaxed canonicalisation the signature then fails to verify: the
// default list plus List-Unsubscribe-Post does that. The h= tag of this
// list is 74 characters; TestMailerSignsWithDKIMThatVerifies checks it.
var dkimHeaders = []string{"From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post"}

// NewDKIMSigner returns a signer over dkimHeaders, safe to share between
// connections: go-mail's Sign records the key's algorithm in the signer
// the first time it runs, a data race when connections sign at once, so
// the signer signs once here before anyone shares it.
func NewDKIMSigner(domain, selector string, key crypto.Signer) *mail.DKIMSigner {
	s := mail.NewDKIMSigner(domain, selector, key)
	s.SignHeaders(dkimHeaders...)
	_, _ = s.Sign([]byte("From: warm-up@"+domain+"\r\n"), []byte("\r\n"))
	return s
}

func newSMTPServer(raw string, cfg MailerConfig) (*smtpServer, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("worker: SMTP URL %q: expected smtp://user:pass@host:port", redactURL(raw))
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
			return nil, fmt.Errorf("worker: SMTP URL %q: tls must be starttls, opportunistic, tls or none", redactURL(raw))
		}
	default:
		return nil, fmt.Errorf("worker: SMTP URL %q: scheme must be smtp or smtps", redactURL(raw))
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("worker: SMTP URL %q: bad port", redactURL(raw))
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
func (s *smtpServer) get(ctx context.Context, signer *mail.DKIMSigner) (*pooledConn, error) {
	for {
		select {
		case pc := <-s.idle:
			if time.Since(pc.lastUsed) > idleFor {
				pc.c.Close()
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
			opts := s.opts
			if signer != nil {
				opts = append(append([]mail.Option(nil), opts...), mail.WithAlwaysDKIMSign(signer))
			}
			c, err := mail.NewClient(s.host, opts...)
			if err != nil {
				<-s.slots
				return nil, fmt.Errorf("worker: SMTP client for %s: %w", s.name, err)
			}
			dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			err = c.DialWithContext(dctx)
			cancel()
			if err != nil {
				<-s.slots
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, &campaigns.SendError{Temporary: true, Msg: fmt.Sprintf("connect to %s: %v", s.name, err)}
			}
			return &pooledConn{c: c, lastUsed: time.Now()}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (s *smtpServer) put(pc *pooledConn) {
	pc.lastUsed = time.Now()
	select {
	case s.idle <- pc:
	default:
		pc.c.Close()
		<-s.slots
	}
}

func (s *smtpServer) discard(pc *pooledConn) {
	pc.c.Close()
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

// Send sends one message. Errors are *campaigns.SendError.
func (m *Mailer) Send(ctx context.Context, cm *campaigns.Message) error {
	msg, err := buildMsg(cm)
	if err != nil {
		return &campaigns.SendError{Msg: err.Error()}
	}
	unreachable, retried := 0, false
	for {
		s := m.pick()
		pc, err := s.get(ctx, m.signer)
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
		err = pc.c.Send(msg)
		if err == nil {
			s.put(pc)
			return nil
		}
		se := classify(err)
		if se.Code != 0 && se.Code != 421 {
			s.put(pc)
			return se
		}
		// The connection is gone: lost, or closed by the server with 421
		// (which servers also send to clients idle past their timeout,
		// read here as the reply to MAIL). A pooled connection that fails
		// before the transaction started is tried once more on a new one.
		s.discard(pc)
		var ge *mail.SendError
		if !retried && errors.As(err, &ge) && (ge.Reason == mail.ErrConnCheck || ge.Reason == mail.ErrSMTPMailFrom) {
			retried = true
			continue
		}
		return se
	}
}

// classify maps a go-mail error to a SendError: 4xx and lost connections
// are temporary; a 5xx at RCPT is the recipient's hard bounce.
func classify(err error) *campaigns.SendError {
	var ge *mail.SendError
	if !errors.As(err, &ge) {
		return &campaigns.SendError{Temporary: true, Msg: err.Error()}
	}
	code := ge.ErrorCode()
	se := &campaigns.SendError{Code: code, Msg: strings.TrimSpace(ge.Error())}
	switch {
	case code == 0:
		se.Temporary = true
	case code >= 400 && code < 500:
		se.Temporary = true
	case code >= 500:
		se.Recipient = ge.Reason == mail.ErrSMTPRcptTo
	default:
		se.Temporary = ge.IsTemp()
	}
	return se
}

// buildMsg turns a campaigns.Message into a MIME message: a text part and
// an HTML alternative, UTF-8, quoted-printable, RFC 2047 encoded headers.
func buildMsg(cm *campaigns.Message) (*mail.Msg, error) {
	msg := mail.NewMsg(mail.WithNoDefaultUserAgent(), mail.WithCharset(mail.CharsetUTF8), mail.WithEncoding(mail.EncodingQP))
	var err error
	if cm.FromName != "" {
		err = msg.FromFormat(cm.FromName, cm.FromEmail)
	} else {
		err = msg.From(cm.FromEmail)
	}
	if err != nil {
		return nil, fmt.Errorf("from address: %w", err)
	}
	if cm.ToName != "" {
		err = msg.AddToFormat(cm.ToName, cm.To)
	} else {
		err = msg.To(cm.To)
	}
	if err != nil {
		return nil, fmt.Errorf("to address: %w", err)
	}
	if cm.ReplyTo != "" {
		if err := msg.ReplyTo(cm.ReplyTo); err != nil {
			return nil, fmt.Errorf("reply-to address: %w", err)
		}
	}
	msg.Subject(cm.Subject)
	if cm.MessageID != "" {
		msg.SetMessageIDWithValue(cm.MessageID)
	} else {
		msg.SetMessageID()
	}
	msg.SetDate()
	if cm.ListUnsubscribe != "" {
		// RFC 8058 wants https; a local install on http still gets the
		// headers so the whole path can be tried.
		msg.SetListUnsubscribe(cm.ListUnsubscribe)
		msg.SetListUnsubscribePost()
	}
	if cm.CampaignID != 0 {
		msg.SetGenHeader("X-Herald-Campaign", strconv.FormatInt(cm.CampaignID, 10))
	}
	switch {
	case cm.Text != "" && cm.HTML != "":
		msg.SetBodyString(mail.TypeTextPlain, cm.Text)
		msg.AddAlternativeString(mail.TypeTextHTML, cm.HTML)
	case cm.HTML != "":
		msg.SetBodyString(mail.TypeTextHTML, cm.HTML)
	default:
		msg.SetBodyString(mail.TypeTextPlain, cm.Text)
	}
	return msg, nil
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
				go func() { defer wg.Done(); pc.c.Close() }()
				continue
			default:
			}
			break
		}
	}
	wg.Wait()
}
