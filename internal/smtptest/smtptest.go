// Package smtptest runs an in-process SMTP server for tests of code that
// sends mail. It records every message it accepts (envelope and raw bytes),
// counts the connections clients open, and injects faults on request: a
// 451 at DATA, a connection dropped at the end of DATA without a reply, a
// 550 at RCPT for chosen addresses, a delay before the DATA reply. Random
// faults are drawn from a seeded generator, so a test that sends messages
// one after another sees the same faults on every run.
package smtptest

import (
	"bytes"
	"errors"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Options configure the server's faults. The zero value accepts everything.
type Options struct {
	// Seed seeds the generator that decides the random faults.
	Seed int64
	// TempFail is the probability of answering the end of DATA with 451;
	// the message is not accepted.
	TempFail float64
	// Drop is the probability of closing the connection at the end of
	// DATA without any reply; the message is not accepted.
	Drop float64
	// BounceContains makes RCPT answer 550 for every address containing
	// it (case-insensitive); empty refuses no one.
	BounceContains string
	// Delay is waited before replying to DATA.
	Delay time.Duration
}

// Message is one accepted message.
type Message struct {
	From string   // envelope sender (MAIL FROM)
	To   []string // envelope recipients (RCPT TO)
	Raw  []byte   // the message as received, CRLF line endings
}

// Server is a running test SMTP server.
type Server struct {
	srv  *smtp.Server
	ln   *listener
	done chan struct{}

	mu      sync.Mutex
	opts    Options
	rng     *rand.Rand
	msgs    []Message
	perRcpt map[string]int
}

// Start listens on a free loopback port and serves until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s := &Server{
		ln:      &listener{Listener: ln, open: map[*conn]struct{}{}},
		done:    make(chan struct{}),
		opts:    opts,
		rng:     rand.New(rand.NewPCG(uint64(opts.Seed), uint64(opts.Seed)^0x9e3779b97f4a7c15)),
		perRcpt: map[string]int{},
	}
	srv := smtp.NewServer(backend{s})
	srv.Domain = "smtptest.localhost"
	srv.MaxMessageBytes = 32 << 20
	srv.MaxRecipients = 1000
	srv.AllowInsecureAuth = true
	srv.ErrorLog = log.New(io.Discard, "", 0)
	s.srv = srv
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(s.ln)
	}()
	t.Cleanup(func() {
		s.Close()
		<-served
	})
	return s
}

// Close stops the server and closes every open connection. It is called
// when the test ends; calling it earlier simulates a server going away.
func (s *Server) Close() {
	select {
	case <-s.done:
		return
	default:
		close(s.done)
	}
	// Serve may not have registered the listener with go-smtp yet.
	_ = s.ln.Close()
	_ = s.srv.Close()
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is smtp://host:port?tls=none.
func (s *Server) URL() string { return "smtp://" + s.Addr() + "?tls=none" }

// SetOptions replaces the faults for the commands that follow (a running
// transaction may see either). Seed is ignored: the generator keeps going.
func (s *Server) SetOptions(opts Options) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seed := s.opts.Seed
	s.opts = opts
	s.opts.Seed = seed
}

// Messages returns the accepted messages in the order they were accepted.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.msgs))
	for i, m := range s.msgs {
		out[i] = Message{From: m.From, To: append([]string(nil), m.To...), Raw: append([]byte(nil), m.Raw...)}
	}
	return out
}

// CountFor is the number of accepted messages addressed to rcpt
// (case-insensitive).
func (s *Server) CountFor(rcpt string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perRcpt[strings.ToLower(rcpt)]
}

// Total is the number of accepted messages.
func (s *Server) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// Connections is the number of connections opened so far.
func (s *Server) Connections() int { return int(s.ln.accepted.Load()) }

// KickIdle answers 421 and closes every open connection, as a server does
// to clients that stay idle past its timeout: the client reads the 421 as
// the reply to its next command. Call it only while no transaction runs.
func (s *Server) KickIdle() {
	for _, c := range s.ln.snapshot() {
		_, _ = c.Write([]byte("421 4.4.2 smtptest: idle for too long, closing\r\n"))
		_ = c.Close()
	}
}

// decide draws the fault for one DATA: "" (accept), "tempfail" or "drop".
func (s *Server) decide() (fault string, delay time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.opts
	if o.TempFail <= 0 && o.Drop <= 0 {
		return "", o.Delay
	}
	u := s.rng.Float64()
	switch {
	case u < o.TempFail:
		return "tempfail", o.Delay
	case u < o.TempFail+o.Drop:
		return "drop", o.Delay
	}
	return "", o.Delay
}

func (s *Server) bounces(rcpt string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.opts.BounceContains
	return b != "" && strings.Contains(strings.ToLower(rcpt), strings.ToLower(b))
}

func (s *Server) accept(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	for _, r := range m.To {
		s.perRcpt[strings.ToLower(r)]++
	}
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, c: c}, nil
}

type session struct {
	s    *Server
	c    *smtp.Conn
	from string
	to   []string
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	ss.to = nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.s.bounces(to) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "smtptest: no such user"}
	}
	ss.to = append(ss.to, to)
	return nil
}

var errDropped = errors.New("smtptest: connection dropped")

func (ss *session) Data(r io.Reader) error {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	fault, delay := ss.s.decide()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ss.s.done:
			t.Stop()
		}
	}
	switch fault {
	case "tempfail":
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "smtptest: try again later"}
	case "drop":
		// go-smtp writes its reply to the closed connection, which fails.
		_ = ss.c.Conn().Close()
		return errDropped
	}
	ss.s.accept(Message{From: ss.from, To: append([]string(nil), ss.to...), Raw: buf.Bytes()})
	return nil
}

// listener counts accepted connections and keeps the open ones for
// KickIdle.
type listener struct {
	net.Listener
	accepted atomic.Int64

	mu   sync.Mutex
	open map[*conn]struct{}
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.accepted.Add(1)
	tc := &conn{Conn: c, l: l}
	l.mu.Lock()
	l.open[tc] = struct{}{}
	l.mu.Unlock()
	return tc, nil
}

func (l *listener) snapshot() []*conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*conn, 0, len(l.open))
	for c := range l.open {
		out = append(out, c)
	}
	return out
}

type conn struct {
	net.Conn
	l    *listener
	once sync.Once
}

func (c *conn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.open, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
