// Package outbox is the embedded SMTP capture of the zero-setup default: an
// SMTP server on loopback that accepts every message and stores it, so a
// newcomer can see in the UI's Outbox exactly what Herald sent, without a
// real mail server. It also parses stored messages for display and tests.
package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"gorm.io/gorm"

	"herald/internal/db"
	"herald/internal/errs"
)

// Message is one captured email.
type Message struct {
	ID         int64     `gorm:"primaryKey"`
	MailFrom   string    `gorm:"size:320;not null"`
	RcptTo     string    `gorm:"size:4000;not null"` // comma separated
	Subject    string    `gorm:"size:1000;not null;default:''"`
	Raw        string    `gorm:"not null"`
	ReceivedAt time.Time `gorm:"not null"`
}

// TableName keeps the table name explicit.
func (Message) TableName() string { return "outbox_messages" }

// Migrate creates the table.
func Migrate(g *gorm.DB) error { return g.AutoMigrate(&Message{}) }

// Keep is how many captured messages are kept; older ones are pruned.
const Keep = 5000

// Store keeps captured messages.
type Store struct {
	db    *gorm.DB
	saved atomic.Int64
}

// NewStore returns a Store on g.
func NewStore(g *gorm.DB) *Store { return &Store{db: g} }

// Save stores a message.
func (s *Store) Save(ctx context.Context, from string, to []string, raw []byte) error {
	subject := ""
	if p, err := Parse(raw); err == nil {
		subject = p.Subject
	}
	if len(subject) > 1000 {
		subject = subject[:1000]
	}
	m := Message{MailFrom: from, RcptTo: strings.Join(to, ","), Subject: subject, Raw: string(raw), ReceivedAt: db.Now()}
	if err := s.db.WithContext(ctx).Create(&m).Error; err != nil {
		return fmt.Errorf("outbox: save: %w", err)
	}
	if s.saved.Add(1)%100 == 0 {
		s.db.WithContext(ctx).Where("id <= ?", m.ID-Keep).Delete(&Message{})
	}
	return nil
}

// List returns a page of messages, newest first, and the next cursor.
func (s *Store) List(ctx context.Context, before int64, limit int) ([]Message, int64, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	q := s.db.WithContext(ctx).Select("id", "mail_from", "rcpt_to", "subject", "received_at").Order("id DESC").Limit(limit + 1)
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	var ms []Message
	if err := q.Find(&ms).Error; err != nil {
		return nil, 0, fmt.Errorf("outbox: list: %w", err)
	}
	var next int64
	if len(ms) > limit {
		ms = ms[:limit]
		next = ms[len(ms)-1].ID
	}
	return ms, next, nil
}

// Get returns one message with its raw text.
func (s *Store) Get(ctx context.Context, id int64) (Message, error) {
	var m Message
	err := s.db.WithContext(ctx).Take(&m, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Message{}, errs.NotFound("message", id)
	}
	if err != nil {
		return Message{}, fmt.Errorf("outbox: get %d: %w", id, err)
	}
	return m, nil
}

// Count returns the number of captured messages.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&Message{}).Count(&n).Error
	return n, err
}

// Server is the capturing SMTP server.
type Server struct {
	srv *smtp.Server
	ln  net.Listener
}

// Start listens on addr ("127.0.0.1:0" for any free port) and stores every
// message it accepts in store.
func Start(addr string, store *Store, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("outbox: listen on %s: %w", addr, err)
	}
	srv := smtp.NewServer(backend{store: store})
	srv.Domain = "localhost"
	srv.MaxMessageBytes = 25 << 20
	srv.MaxRecipients = 100
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.AllowInsecureAuth = true
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) && log != nil {
			log.Error("outbox: smtp server stopped", "err", err)
		}
	}()
	return &Server{srv: srv, ln: ln}, nil
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the smtp:// URL of the server.
func (s *Server) URL() string { return "smtp://" + s.Addr() }

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

type backend struct{ store *Store }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{store: b.store}, nil }

type session struct {
	store *Store
	from  string
	to    []string
}

func (s *session) AuthMechanisms() []string { return nil }

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	if err := s.store.Save(context.Background(), s.from, s.to, buf.Bytes()); err != nil {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "could not store the message"}
	}
	return nil
}
