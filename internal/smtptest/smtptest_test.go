package smtptest_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"herald/internal/smtptest"
)

func dial(t *testing.T, s *smtptest.Server) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.test"); err != nil {
		t.Fatalf("EHLO: %v", err)
	}
	return c
}

func body(n int) string {
	return fmt.Sprintf("Subject: message %d\r\n\r\nHello %d.\r\n", n, n)
}

func send(c *smtp.Client, from string, to []string, msg string) error {
	return c.SendMail(from, to, strings.NewReader(msg))
}

func code(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func TestAcceptedMessagesAreRecordedWithTheirEnvelope(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	c := dial(t, s)
	if err := send(c, "news@shop.test", []string{"a@x.test", "B@x.test"}, body(1)); err != nil {
		t.Fatalf("send: %v", err)
	}
	if err := send(c, "news@shop.test", []string{"a@x.test"}, body(2)); err != nil {
		t.Fatalf("send: %v", err)
	}
	msgs := s.Messages()
	if len(msgs) != 2 || s.Total() != 2 {
		t.Fatalf("got %d messages (Total %d), want 2", len(msgs), s.Total())
	}
	if msgs[0].From != "news@shop.test" || strings.Join(msgs[0].To, ",") != "a@x.test,B@x.test" {
		t.Errorf("envelope = %q -> %q", msgs[0].From, msgs[0].To)
	}
	if string(msgs[0].Raw) != body(1) {
		t.Errorf("raw = %q, want %q", msgs[0].Raw, body(1))
	}
	if got := s.CountFor("a@x.test"); got != 2 {
		t.Errorf("CountFor(a) = %d, want 2", got)
	}
	if got := s.CountFor("b@x.test"); got != 1 {
		t.Errorf("CountFor(b) = %d, want 1 (addresses compare case-insensitively)", got)
	}
	if s.Connections() != 1 {
		t.Errorf("Connections = %d, want 1", s.Connections())
	}
	if !strings.HasPrefix(s.URL(), "smtp://"+s.Addr()) || !strings.HasSuffix(s.URL(), "?tls=none") {
		t.Errorf("URL = %q", s.URL())
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name     string
		opts     smtptest.Options
		rcpt     string
		wantCode int  // SMTP code of the error; 0 with wantErr means no reply at all
		wantErr  bool // the send fails
	}{
		{name: "no faults accept", opts: smtptest.Options{}, rcpt: "a@x.test"},
		{name: "tempfail answers 451 at DATA", opts: smtptest.Options{TempFail: 1}, rcpt: "a@x.test", wantErr: true, wantCode: 451},
		{name: "drop closes without reply", opts: smtptest.Options{Drop: 1}, rcpt: "a@x.test", wantErr: true},
		{name: "bounce refuses matching recipient with 550", opts: smtptest.Options{BounceContains: "bounce"}, rcpt: "hard.BOUNCE@x.test", wantErr: true, wantCode: 550},
		{name: "bounce leaves others alone", opts: smtptest.Options{BounceContains: "bounce"}, rcpt: "a@x.test"},
		{name: "delay still accepts", opts: smtptest.Options{Delay: 1}, rcpt: "a@x.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := smtptest.Start(t, tt.opts)
			c := dial(t, s)
			err := send(c, "news@shop.test", []string{tt.rcpt}, body(1))
			if (err != nil) != tt.wantErr {
				t.Fatalf("send err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr && code(err) != tt.wantCode {
				t.Errorf("code = %d (%v), want %d", code(err), err, tt.wantCode)
			}
			wantTotal := 1
			if tt.wantErr {
				wantTotal = 0
			}
			if s.Total() != wantTotal || s.CountFor(tt.rcpt) != wantTotal {
				t.Errorf("Total = %d, CountFor = %d, want %d", s.Total(), s.CountFor(tt.rcpt), wantTotal)
			}
		})
	}
}

func TestDropClosesTheConnection(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{Drop: 1})
	c := dial(t, s)
	if err := send(c, "news@shop.test", []string{"a@x.test"}, body(1)); err == nil {
		t.Fatal("send succeeded on a dropping server")
	}
	if err := c.Noop(); err == nil {
		t.Error("the connection still answers after a drop")
	}
}

func TestTempFailLeavesTheConnectionUsable(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{TempFail: 1})
	c := dial(t, s)
	if err := send(c, "news@shop.test", []string{"a@x.test"}, body(1)); code(err) != 451 {
		t.Fatalf("err = %v, want 451", err)
	}
	s.SetOptions(smtptest.Options{})
	if err := send(c, "news@shop.test", []string{"a@x.test"}, body(2)); err != nil {
		t.Fatalf("second send on the same connection: %v", err)
	}
	if s.Total() != 1 || s.Connections() != 1 {
		t.Errorf("Total = %d, Connections = %d, want 1 and 1", s.Total(), s.Connections())
	}
}

// outcomes sends n messages one after another, reconnecting after a drop,
// and returns what happened to each: "ok", "451" or "drop".
func outcomes(t *testing.T, s *smtptest.Server, n int) []string {
	t.Helper()
	var out []string
	c := dial(t, s)
	for i := range n {
		err := send(c, "news@shop.test", []string{"a@x.test"}, body(i))
		switch {
		case err == nil:
			out = append(out, "ok")
		case code(err) == 451:
			out = append(out, "451")
		default:
			out = append(out, "drop")
			c = dial(t, s)
		}
	}
	return out
}

func TestRandomFaultsFollowTheSeed(t *testing.T) {
	opts := smtptest.Options{Seed: 42, TempFail: 0.3, Drop: 0.2}
	first := outcomes(t, smtptest.Start(t, opts), 40)
	second := outcomes(t, smtptest.Start(t, opts), 40)
	if strings.Join(first, " ") != strings.Join(second, " ") {
		t.Fatalf("same seed, different faults:\n%v\n%v", first, second)
	}
	count := map[string]int{}
	for _, o := range first {
		count[o]++
	}
	if count["ok"] == 0 || count["451"] == 0 || count["drop"] == 0 {
		t.Errorf("40 sends at 30%% tempfail and 20%% drop gave %v", count)
	}
	opts.Seed = 7
	other := outcomes(t, smtptest.Start(t, opts), 40)
	if strings.Join(first, " ") == strings.Join(other, " ") {
		t.Errorf("seeds 42 and 7 gave the same faults: %v", first)
	}
}

func TestAcceptedCountMatchesSuccessfulSends(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{Seed: 3, TempFail: 0.25, Drop: 0.25})
	got := outcomes(t, s, 60)
	ok := 0
	for _, o := range got {
		if o == "ok" {
			ok++
		}
	}
	if s.Total() != ok || s.CountFor("a@x.test") != ok {
		t.Errorf("Total = %d, CountFor = %d, successful sends = %d", s.Total(), s.CountFor("a@x.test"), ok)
	}
	drops := 0
	for _, o := range got {
		if o == "drop" {
			drops++
		}
	}
	if s.Connections() != 1+drops {
		t.Errorf("Connections = %d, want %d (one plus one per drop)", s.Connections(), 1+drops)
	}
}

func TestConcurrentClients(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{BounceContains: "nobody"})
	const clients, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := smtp.Dial(s.Addr())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for j := range each {
				rcpt := fmt.Sprintf("c%d@x.test", i)
				if err := send(c, "news@shop.test", []string{rcpt}, body(j)); err != nil {
					errs <- err
					return
				}
				if err := send(c, "news@shop.test", []string{"nobody@x.test"}, body(j)); code(err) != 550 {
					errs <- fmt.Errorf("bounce: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s.Total() != clients*each || s.Connections() != clients {
		t.Errorf("Total = %d, Connections = %d, want %d and %d", s.Total(), s.Connections(), clients*each, clients)
	}
	for i := range clients {
		if n := s.CountFor(fmt.Sprintf("c%d@x.test", i)); n != each {
			t.Errorf("client %d: %d accepted, want %d", i, n, each)
		}
	}
}

func TestKickIdleAnswers421(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	c := dial(t, s)
	s.KickIdle()
	err := send(c, "news@shop.test", []string{"a@x.test"}, body(1))
	if err == nil {
		t.Fatal("send on a kicked connection succeeded")
	}
	if n := code(err); n != 421 && !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("err = %v, want 421 or a closed connection", err)
	}
	if s.Total() != 0 {
		t.Errorf("Total = %d, want 0", s.Total())
	}
}

func TestCloseStopsAcceptingConnections(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	s.Close()
	if c, err := smtp.Dial(s.Addr()); err == nil {
		c.Close()
		t.Fatal("dial after Close succeeded")
	}
	s.Close() // idempotent; the cleanup calls it again too
}
