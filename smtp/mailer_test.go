package smtp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"herald/campaigns"
	"herald/internal/smtptest"
	"herald/internal/testenv"
	"herald/outbox"
)

// newMailer builds a Mailer on urls, closed when the test ends.
func newMailer(t *testing.T, cfg Config, urls ...string) *Mailer {
	t.Helper()
	cfg.URLs = urls
	if cfg.Log == nil {
		cfg.Log = testenv.Logger()
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	m, err := NewMailer(cfg)
	if err != nil {
		t.Fatalf("NewMailer: %v", err)
	}
	t.Cleanup(m.Close)
	return m
}

// message is a small campaign message to rcpt.
func message(i int, rcpt string) *campaigns.Message {
	return &campaigns.Message{
		FromName:        "Herald Shop",
		FromEmail:       "news@shop.test",
		To:              rcpt,
		ToName:          "Reader",
		Subject:         fmt.Sprintf("Message %d", i),
		Text:            fmt.Sprintf("Hello, message %d.", i),
		HTML:            fmt.Sprintf("<p>Hello, message %d.</p>", i),
		MessageID:       fmt.Sprintf("herald.7.%d@shop.test", i),
		ListUnsubscribe: fmt.Sprintf("https://shop.test/u/token%d", i),
		CampaignID:      7,
		FeedbackID:      "7:campaign:shop.test:herald",
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func sendErr(t *testing.T, err error) *campaigns.SendError {
	t.Helper()
	var se *campaigns.SendError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *campaigns.SendError", err, err)
	}
	return se
}

// crlf turns the line ends of s into CRLF, as SMTP carries text.
func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

func TestMailerWritesHeadersAndBodiesIntact(t *testing.T) {
	tests := []struct {
		name string
		msg  campaigns.Message
	}{
		{
			name: "Dutch",
			msg: campaigns.Message{
				FromName: "Bloemenwinkel De Tulp", FromEmail: "nieuws@detulp.test",
				ToName: "Daniëlle van den Berg", To: "danielle@example.nl",
				Subject: "Gefeliciteerd, Daniëlle!",
				Text:    "Beste Ruud,\n\nGefeliciteerd met je verjaardag! Je krijgt €10 korting op je volgende bestelling bij De Tulp — tot en met zondag.\n\nGroeten,\nDe Tulp",
				HTML:    `<p>Beste Ruud,</p><p>Gefeliciteerd met je <b>verjaardag</b>! Je krijgt €10 korting — <a href="https://detulp.test/c?x=1&amp;y=2">bestel nu</a>.</p>`,
			},
		},
		{
			name: "Hebrew",
			msg: campaigns.Message{
				FromName: "חנות הפרחים", FromEmail: "news@flowers.test",
				ToName: "דוד כהן", To: "david@example.co.il",
				Subject: "מזל טוב, דוד! 20% הנחה על זרי פרחים 🎉",
				Text:    "שלום דוד,\n\nמזל טוב ליום הולדתך! קוד ההנחה שלך: BDAY20.\n",
				HTML:    `<div dir="rtl"><p>שלום דוד,</p><p>מזל טוב ליום הולדתך! קוד ההנחה שלך: <b>BDAY20</b>.</p></div>`,
			},
		},
		{
			name: "Arabic",
			msg: campaigns.Message{
				FromName: "متجر الزهور", FromEmail: "news@flowers.test",
				ToName: "فاطمة الزهراء", To: "fatima@example.ae",
				Subject: "تهانينا يا فاطمة! خصم ٢٠٪ على جميع باقات الورد حتى نهاية الأسبوع",
				Text:    "مرحباً فاطمة،\n\nعيد ميلاد سعيد! استخدمي الرمز BDAY20 للحصول على خصم ٢٠٪.\n",
				HTML:    `<div dir="rtl" lang="ar"><p>مرحباً فاطمة،</p><p>عيد ميلاد سعيد! استخدمي الرمز <b>BDAY20</b>.</p></div>`,
			},
		},
		{
			name: "Persian with zero-width non-joiner",
			msg: campaigns.Message{
				FromName: "گل\u200cفروشی لاله", FromEmail: "news@laleh.test",
				ToName: "نگار رضایی", To: "negar@example.ir",
				Subject: "تبریک، نگار! ۲۰٪ تخفیف برای گل\u200cهای بهاری",
				Text:    "سلام نگار،\n\nتولدت مبارک! کد تخفیف: BDAY20\n",
				HTML:    `<div dir="rtl" lang="fa"><p>سلام نگار،</p><p>تولدت مبارک! کد تخفیف: <b>BDAY20</b></p></div>`,
			},
		},
		{
			name: "mixed direction with explicit marks",
			msg: campaigns.Message{
				FromName: "Herald", FromEmail: "news@shop.test",
				ToName: "Ruud \u200fדוד\u200e 3", To: "mixed@example.test",
				Subject: "\u200fשלום Ruud\u200e, order #123 — \u202bعرض\u202c",
				Text:    "Line one\n\u200fשורה שתיים\u200e\n" + strings.Repeat("a long line without breaks ", 8) + "\n",
				HTML:    "<p>\u200fשלום\u200e " + strings.Repeat("x", 120) + "</p>",
			},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{})
			m := newMailer(t, Config{}, srv.URL())
			cm := tt.msg
			cm.MessageID = fmt.Sprintf("herald.42.%d@shop.test", i)
			cm.ListUnsubscribe = fmt.Sprintf("https://shop.test/u/tok-%d", i)
			cm.CampaignID = 42
			if err := m.Send(context.Background(), &cm); err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("server accepted %d messages, want 1", len(msgs))
			}
			if msgs[0].From != cm.FromEmail || strings.Join(msgs[0].To, ",") != cm.To {
				t.Errorf("envelope %q -> %q, want %q -> %q", msgs[0].From, msgs[0].To, cm.FromEmail, cm.To)
			}
			p, err := outbox.Parse(msgs[0].Raw)
			if err != nil {
				t.Fatalf("parse: %v\n%s", err, msgs[0].Raw)
			}
			// On the wire the non-ASCII headers are ASCII encoded words.
			for _, f := range []struct{ field, text string }{{"Subject", cm.Subject}, {"From", cm.FromName}, {"To", cm.ToName}} {
				raw := strings.Join(rawHeader(t, msgs[0].Raw, f.field), "\r\n")
				if !asciiOnly(raw) {
					t.Errorf("raw %s is not ASCII: %q", f.field, raw)
				}
				if !asciiOnly(f.text) && !strings.Contains(raw, "=?UTF-8?") {
					t.Errorf("raw %s has no UTF-8 encoded word: %q", f.field, raw)
				}
			}
			h := p.Header
			from, err := mail.ParseAddress(h.Get("From"))
			if err != nil {
				t.Fatalf("From %q: %v", h.Get("From"), err)
			}
			if from.Name != cm.FromName || from.Address != cm.FromEmail {
				t.Errorf("From = %q <%s>, want %q <%s>", from.Name, from.Address, cm.FromName, cm.FromEmail)
			}
			to, err := mail.ParseAddress(h.Get("To"))
			if err != nil {
				t.Fatalf("To %q: %v", h.Get("To"), err)
			}
			if to.Name != cm.ToName || to.Address != cm.To {
				t.Errorf("To = %q <%s>, want %q <%s>", to.Name, to.Address, cm.ToName, cm.To)
			}
			if p.Subject != cm.Subject {
				t.Errorf("Subject = %q, want %q (raw %q)", p.Subject, cm.Subject, h.Get("Subject"))
			}
			if got := h.Get("Message-ID"); got != "<"+cm.MessageID+">" {
				t.Errorf("Message-ID = %q, want <%s>", got, cm.MessageID)
			}
			if d, err := h.Date(); err != nil || d.IsZero() {
				t.Errorf("Date %q: %v", h.Get("Date"), err)
			}
			if got := h.Get("List-Unsubscribe"); got != "<"+cm.ListUnsubscribe+">" {
				t.Errorf("List-Unsubscribe = %q, want <%s>", got, cm.ListUnsubscribe)
			}
			if got := h.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
				t.Errorf("List-Unsubscribe-Post = %q", got)
			}
			if got := h.Get("X-Herald-Campaign"); got != "42" {
				t.Errorf("X-Herald-Campaign = %q, want 42", got)
			}
			if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative;") {
				t.Errorf("Content-Type = %q, want multipart/alternative", ct)
			}
			if len(p.Parts) != 2 || p.Parts[0].ContentType != "text/plain" || p.Parts[1].ContentType != "text/html" {
				t.Fatalf("parts = %+v, want text/plain then text/html", p.Parts)
			}
			for _, part := range p.Parts {
				if !strings.EqualFold(part.Charset, "UTF-8") {
					t.Errorf("%s charset = %q, want UTF-8", part.ContentType, part.Charset)
				}
			}
			if p.Text != crlf(cm.Text) {
				t.Errorf("text body = %q, want %q", p.Text, crlf(cm.Text))
			}
			if p.HTML != crlf(cm.HTML) {
				t.Errorf("HTML body = %q, want %q", p.HTML, crlf(cm.HTML))
			}
		})
	}
}

func TestMailerSendsSinglePartWhenOnlyOneBodyIsGiven(t *testing.T) {
	tests := []struct {
		name, text, html, wantType string
	}{
		{"HTML only", "", "<p>Alleen HTML — één deel</p>", "text/html"},
		{"text only", "Alleen tekst — één deel", "", "text/plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{})
			m := newMailer(t, Config{}, srv.URL())
			cm := message(1, "ruud@example.nl")
			cm.Text, cm.HTML = tt.text, tt.html
			if err := m.Send(context.Background(), cm); err != nil {
				t.Fatalf("Send: %v", err)
			}
			p, err := outbox.Parse(srv.Messages()[0].Raw)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Parts) != 1 || p.Parts[0].ContentType != tt.wantType || !strings.EqualFold(p.Parts[0].Charset, "UTF-8") {
				t.Fatalf("parts = %+v, want one %s part in UTF-8", p.Parts, tt.wantType)
			}
			// A message ends with CRLF on the wire whatever its body.
			if got := strings.TrimSuffix(p.Parts[0].Body, "\r\n"); got != tt.text+tt.html {
				t.Errorf("body = %q, want %q", got, tt.text+tt.html)
			}
		})
	}
}

func TestMailerUsesTheEnvelopeSenderForMailFromAndLeavesFromAlone(t *testing.T) {
	tests := []struct{ name, envelope, wantMailFrom string }{
		{"a VERP return path", "bounces+aaaqbcdefghij@shop.test", "bounces+aaaqbcdefghij@shop.test"},
		{"none: the From address", "", "news@shop.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{})
			m := newMailer(t, Config{}, srv.URL())
			// Two messages on one connection: the second goes through the
			// pooled path with its own envelope.
			for i := 1; i <= 2; i++ {
				cm := message(i, fmt.Sprintf("ruud%d@example.nl", i))
				cm.EnvelopeFrom = tt.envelope
				if err := m.Send(context.Background(), cm); err != nil {
					t.Fatalf("Send: %v", err)
				}
			}
			for _, msg := range srv.Messages() {
				if msg.From != tt.wantMailFrom {
					t.Errorf("MAIL FROM %q, want %q", msg.From, tt.wantMailFrom)
				}
				p, err := outbox.Parse(msg.Raw)
				if err != nil {
					t.Fatal(err)
				}
				if from := p.Header.Get("From"); !strings.Contains(from, "<news@shop.test>") {
					t.Errorf("From header %q, want the sender's address", from)
				}
				if rp := p.Header.Get("Return-Path"); rp != "" {
					t.Errorf("Return-Path %q written by the sender; the receiving server adds it", rp)
				}
			}
		})
	}
}

func TestMailerWithoutUnsubscribeURLOmitsListHeaders(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	m := newMailer(t, Config{}, srv.URL())
	cm := message(1, "ruud@example.nl")
	cm.ListUnsubscribe, cm.MessageID = "", ""
	if err := m.Send(context.Background(), cm); err != nil {
		t.Fatalf("Send: %v", err)
	}
	p, err := outbox.Parse(srv.Messages()[0].Raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"List-Unsubscribe", "List-Unsubscribe-Post"} {
		if v := p.Header.Get(k); v != "" {
			t.Errorf("%s = %q on a message without an unsubscribe URL", k, v)
		}
	}
	if id := p.Header.Get("Message-ID"); len(id) < 5 || id == "<>" {
		t.Errorf("Message-ID = %q, want a generated one", id)
	}
}

func TestMailerReusesConnections(t *testing.T) {
	t.Run("sequential sends use one connection", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Options{})
		m := newMailer(t, Config{PoolSize: 4}, srv.URL())
		for i := range 50 {
			if err := m.Send(context.Background(), message(i, fmt.Sprintf("r%d@example.test", i))); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
		}
		if srv.Total() != 50 || srv.Connections() != 1 {
			t.Errorf("Total = %d, Connections = %d, want 50 and 1", srv.Total(), srv.Connections())
		}
	})
	tests := []struct {
		name     string
		poolSize int
		url      func(*smtptest.Server) string
		wantMax  int
	}{
		{"concurrent sends stay within PoolSize", 3, (*smtptest.Server).URL, 3},
		{"pool in the URL overrides PoolSize", 8, func(s *smtptest.Server) string { return s.URL() + "&pool=2" }, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The delay keeps transactions open long enough to overlap.
			srv := smtptest.Start(t, smtptest.Options{Delay: 2 * time.Millisecond})
			m := newMailer(t, Config{PoolSize: tt.poolSize}, tt.url(srv))
			const workers, each = 12, 10
			var wg sync.WaitGroup
			errs := make(chan error, workers*each)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						if err := m.Send(context.Background(), message(w*each+i, fmt.Sprintf("w%d@example.test", w))); err != nil {
							errs <- err
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if srv.Total() != workers*each {
				t.Errorf("Total = %d, want %d", srv.Total(), workers*each)
			}
			if c := srv.Connections(); c < 1 || c > tt.wantMax {
				t.Errorf("Connections = %d, want 1..%d", c, tt.wantMax)
			}
		})
	}
}

func TestMailerClassifiesFailures(t *testing.T) {
	tests := []struct {
		name          string
		opts          smtptest.Options
		rcpt          string
		wantTemporary bool
		wantRecipient bool
		wantCode      int
		// connections after the failed send and one good send after it
		wantConns int
	}{
		{name: "451 at DATA is temporary", opts: smtptest.Options{TempFail: 1}, rcpt: "a@example.test",
			wantTemporary: true, wantCode: 451, wantConns: 1},
		{name: "550 at RCPT is a hard bounce", opts: smtptest.Options{BounceContains: "nobody"}, rcpt: "nobody@example.test",
			wantRecipient: true, wantCode: 550, wantConns: 1},
		{name: "dropped connection is temporary and replaced", opts: smtptest.Options{Drop: 1}, rcpt: "a@example.test",
			wantTemporary: true, wantConns: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, tt.opts)
			m := newMailer(t, Config{}, srv.URL())
			err := m.Send(context.Background(), message(1, tt.rcpt))
			if err == nil {
				t.Fatal("Send succeeded")
			}
			se := sendErr(t, err)
			if se.Temporary != tt.wantTemporary || se.Recipient != tt.wantRecipient || se.Code != tt.wantCode {
				t.Errorf("got Temporary=%v Recipient=%v Code=%d (%v), want %v %v %d",
					se.Temporary, se.Recipient, se.Code, se, tt.wantTemporary, tt.wantRecipient, tt.wantCode)
			}
			if srv.Total() != 0 {
				t.Errorf("the server accepted %d messages", srv.Total())
			}
			srv.SetOptions(smtptest.Options{})
			if err := m.Send(context.Background(), message(2, "ok@example.test")); err != nil {
				t.Fatalf("the send after the failure: %v", err)
			}
			if srv.CountFor("ok@example.test") != 1 || srv.Connections() != tt.wantConns {
				t.Errorf("after a good send: accepted %d, Connections = %d, want 1 and %d",
					srv.CountFor("ok@example.test"), srv.Connections(), tt.wantConns)
			}
		})
	}
}

func TestMailerUnreachableServerIsTemporary(t *testing.T) {
	m := newMailer(t, Config{}, "smtp://"+closedAddr(t)+"?tls=none")
	err := m.Send(context.Background(), message(1, "a@example.test"))
	if err == nil {
		t.Fatal("Send to a closed port succeeded")
	}
	if se := sendErr(t, err); !se.Temporary || se.Recipient {
		t.Errorf("got Temporary=%v Recipient=%v (%v), want a temporary failure", se.Temporary, se.Recipient, se)
	}
}

func TestMailerReplacesConnectionTheServerClosedWhileIdle(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	m := newMailer(t, Config{}, srv.URL())
	if err := m.Send(context.Background(), message(1, "a@example.test")); err != nil {
		t.Fatal(err)
	}
	srv.KickIdle() // 421 and close, as servers do to idle clients
	if err := m.Send(context.Background(), message(2, "a@example.test")); err != nil {
		t.Fatalf("send on a pool whose connection the server closed: %v", err)
	}
	if srv.Total() != 2 || srv.Connections() != 2 {
		t.Errorf("Total = %d, Connections = %d, want 2 and 2", srv.Total(), srv.Connections())
	}
}

func TestMailerSpreadsMessagesOverServers(t *testing.T) {
	a := smtptest.Start(t, smtptest.Options{})
	b := smtptest.Start(t, smtptest.Options{})
	m := newMailer(t, Config{}, a.URL(), b.URL())
	const n = 40
	for i := range n {
		if err := m.Send(context.Background(), message(i, "a@example.test")); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if a.Total()+b.Total() != n || a.Total() < n/4 || b.Total() < n/4 {
		t.Errorf("servers got %d and %d of %d messages, want both a fair share", a.Total(), b.Total(), n)
	}
}

func TestMailerSendsThroughTheServerThatIsUp(t *testing.T) {
	tests := []struct {
		name     string
		downLast bool
	}{
		{"first server down", false},
		{"second server down", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := smtptest.Start(t, smtptest.Options{})
			urls := []string{"smtp://" + closedAddr(t) + "?tls=none", up.URL()}
			if tt.downLast {
				urls[0], urls[1] = urls[1], urls[0]
			}
			m := newMailer(t, Config{}, urls...)
			const n = 20
			for i := range n {
				if err := m.Send(context.Background(), message(i, "a@example.test")); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			if up.Total() != n {
				t.Errorf("the server that is up got %d of %d", up.Total(), n)
			}
		})
	}
}

func TestMailerKeepsSendingWhenAServerGoesAway(t *testing.T) {
	a := smtptest.Start(t, smtptest.Options{})
	b := smtptest.Start(t, smtptest.Options{})
	m := newMailer(t, Config{}, a.URL(), b.URL())
	for i := range 10 {
		if err := m.Send(context.Background(), message(i, "a@example.test")); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	before := a.Total()
	a.Close() // its pooled connection is now dead and it refuses new ones
	for i := 10; i < 30; i++ {
		if err := m.Send(context.Background(), message(i, "a@example.test")); err != nil {
			t.Fatalf("send %d after a server went away: %v", i, err)
		}
	}
	if a.Total() != before || a.Total()+b.Total() != 30 {
		t.Errorf("a got %d (had %d), b got %d; want all 20 later ones on b", a.Total(), before, b.Total())
	}
}

func TestNewMailerRejectsBadConfiguration(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no server", Config{}, "no SMTP server"},
		{"bad scheme", Config{URLs: []string{"http://mail.test:25"}}, "scheme"},
		{"bad tls", Config{URLs: []string{"smtp://mail.test:25?tls=maybe"}}, "tls must be"},
		{"password not echoed", Config{URLs: []string{"ftp://user:s3cret@mail.test:25"}}, "user@mail.test"},
		{"partial DKIM", Config{URLs: []string{"smtp://mail.test:25"}, DKIM: DKIMConfig{Domain: "shop.test"}}, "DKIM needs"},
		{"missing DKIM key", Config{URLs: []string{"smtp://mail.test:25"}, DKIM: DKIMConfig{Domain: "shop.test", Selector: "s1", KeyFile: "/nonexistent/key.pem"}}, "DKIM key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewMailer(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// A message whose Commit fails is not completed: the server sees the
// transaction dropped before the end of its data and accepts nothing.
func TestMailerDoesNotCompleteAMessageWhoseCommitFails(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	m := newMailer(t, Config{PoolSize: 1}, srv.URL())
	ctx := context.Background()

	committed := 0
	ok := message(1, "a@example.test")
	ok.Commit = func() error { committed++; return nil }
	if err := m.Send(ctx, ok); err != nil {
		t.Fatal(err)
	}
	refused := message(2, "b@example.test")
	refused.Commit = func() error { return campaigns.ErrClaimRevoked }
	if err := m.Send(ctx, refused); !errors.Is(err, campaigns.ErrClaimRevoked) {
		t.Fatalf("Send with a failing Commit: %v, want ErrClaimRevoked", err)
	}
	// The connection was dropped mid-DATA; the next message goes on a new one.
	if err := m.Send(ctx, message(3, "c@example.test")); err != nil {
		t.Fatal(err)
	}
	if committed != 1 {
		t.Errorf("Commit called %d times, want 1", committed)
	}
	for rcpt, want := range map[string]int{"a@example.test": 1, "b@example.test": 0, "c@example.test": 1} {
		if got := srv.CountFor(rcpt); got != want {
			t.Errorf("%s: the server accepted %d messages, want %d", rcpt, got, want)
		}
	}
}

// sendEach sends msgs in one SendEach run and returns each one's outcome,
// checking that every message is answered once, in order.
func sendEach(t *testing.T, m *Mailer, msgs []*campaigns.Message) []error {
	t.Helper()
	errs := make([]error, len(msgs))
	given, answered := 0, 0
	m.SendEach(context.Background(), func() *campaigns.Message {
		if given == len(msgs) {
			return nil
		}
		given++
		return msgs[given-1]
	}, func(cm *campaigns.Message, err error) {
		if answered >= given || cm != msgs[answered] {
			t.Fatalf("outcome %d is of %v, not of the message given %d-th", answered, cm.To, answered+1)
		}
		errs[answered] = err
		answered++
	})
	if answered != len(msgs) {
		t.Fatalf("%d outcomes for %d messages", answered, len(msgs))
	}
	return errs
}

func TestMailerSendEachSettlesEachMessageOnItsOwn(t *testing.T) {
	rcpts := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("r%d@example.test", i)
			if i%7 == 3 {
				out[i] = fmt.Sprintf("refuse%d@example.test", i)
			}
		}
		return out
	}
	tests := []struct {
		name string
		opts smtptest.Options
		n    int
		// wantConns bounds the connections the run used; 0: no bound.
		wantConns int
	}{
		{name: "every message accepted over one connection", n: 40, wantConns: 1},
		{name: "refused recipients bounce alone", opts: smtptest.Options{BounceContains: "refuse"}, n: 40, wantConns: 1},
		{name: "451 at every DATA", opts: smtptest.Options{TempFail: 1}, n: 20, wantConns: 1},
		{name: "every connection dropped at the end of DATA", opts: smtptest.Options{Drop: 1}, n: 10, wantConns: 10},
		{name: "451s, dropped connections and refused recipients at random",
			opts: smtptest.Options{Seed: 3, TempFail: 0.2, Drop: 0.15, BounceContains: "refuse"}, n: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, tt.opts)
			m := newMailer(t, Config{PoolSize: 2}, srv.URL())
			var msgs []*campaigns.Message
			for i, r := range rcpts(tt.n) {
				msgs = append(msgs, message(i, r))
			}
			errs := sendEach(t, m, msgs)
			accepted := 0
			for i, err := range errs {
				rcpt := msgs[i].To
				got := srv.CountFor(rcpt)
				refused := tt.opts.BounceContains != "" && strings.Contains(rcpt, tt.opts.BounceContains)
				switch {
				case err == nil:
					accepted++
					if got != 1 {
						t.Errorf("%s: no error, and the server accepted %d messages", rcpt, got)
					}
				case refused:
					if se := sendErr(t, err); !se.Recipient || se.Code != 550 || got != 0 {
						t.Errorf("%s: %v (Recipient=%v), accepted %d; want a 550 hard bounce, none accepted", rcpt, err, se.Recipient, got)
					}
				default:
					if se := sendErr(t, err); !se.Temporary || got != 0 {
						t.Errorf("%s: %v (Temporary=%v), accepted %d; want a temporary failure, none accepted", rcpt, err, se.Temporary, got)
					}
				}
			}
			if srv.Total() != accepted {
				t.Errorf("the server accepted %d messages, the outcomes say %d", srv.Total(), accepted)
			}
			if tt.opts == (smtptest.Options{}) && accepted != tt.n {
				t.Errorf("%d of %d accepted by a server that refuses nothing", accepted, tt.n)
			}
			if tt.wantConns > 0 && srv.Connections() != tt.wantConns {
				t.Errorf("Connections = %d, want %d", srv.Connections(), tt.wantConns)
			}
		})
	}
}

func TestMailerSendEachCommitsEachMessageAfterTheOneBeforeIsSettled(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	m := newMailer(t, Config{PoolSize: 1}, srv.URL())
	var log []string
	var msgs []*campaigns.Message
	for i := range 6 {
		cm := message(i, fmt.Sprintf("r%d@example.test", i))
		cm.Commit = func() error {
			log = append(log, fmt.Sprintf("commit %d", i))
			if i == 3 {
				return campaigns.ErrClaimRevoked
			}
			return nil
		}
		msgs = append(msgs, cm)
	}
	given, answered := 0, 0
	m.SendEach(context.Background(), func() *campaigns.Message {
		if given == len(msgs) {
			return nil
		}
		log = append(log, fmt.Sprintf("next %d", given))
		given++
		return msgs[given-1]
	}, func(cm *campaigns.Message, err error) {
		log = append(log, fmt.Sprintf("done %d %v", answered, err != nil))
		if answered == 3 && !errors.Is(err, campaigns.ErrClaimRevoked) {
			t.Errorf("message 3, whose Commit failed: %v, want ErrClaimRevoked", err)
		}
		answered++
	})
	// Each message's Commit comes after the outcome of the one before, and
	// the next message is asked for only once that Commit succeeded; the
	// one whose Commit failed is not completed, and the run goes on over a
	// new connection.
	want := []string{
		"next 0", "commit 0", "next 1", "done 0 false", "commit 1", "next 2", "done 1 false", "commit 2", "next 3", "done 2 false",
		"commit 3", "done 3 true", "next 4", "commit 4", "next 5", "done 4 false", "commit 5", "done 5 false",
	}
	if strings.Join(log, ", ") != strings.Join(want, ", ") {
		t.Errorf("order:\n got %s\nwant %s", strings.Join(log, ", "), strings.Join(want, ", "))
	}
	for i := range 6 {
		want := 1
		if i == 3 {
			want = 0
		}
		if got := srv.CountFor(msgs[i].To); got != want {
			t.Errorf("%s: the server accepted %d messages, want %d", msgs[i].To, got, want)
		}
	}
	if srv.Connections() != 2 {
		t.Errorf("Connections = %d, want 2 (the one dropped mid-DATA, and its replacement)", srv.Connections())
	}
}
