// Package imaptest runs an in-process IMAP server (go-imap's server with
// a small thread-safe backend) for tests of code that reads a mailbox: a
// test puts messages in, runs its code against the server's URL, and
// looks at what became of each message (its flags, or the folder it was
// moved to).
package imaptest

import (
	"errors"
	"io"
	"log"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/backend"
	"github.com/emersion/go-imap/backend/backendutil"
	"github.com/emersion/go-imap/backend/memory"
	"github.com/emersion/go-imap/server"
)

// User and Password are the one account's credentials.
const (
	User     = "bounces"
	Password = "a mailbox password"
)

// Message is one stored message as the server holds it.
type Message struct {
	UID   uint32
	Flags []string
	Raw   []byte
}

// Has tells whether the message carries flag (keywords are
// case-insensitive, and go-imap keeps them in lower case).
func (m Message) Has(flag string) bool {
	for _, f := range m.Flags {
		if strings.EqualFold(f, flag) {
			return true
		}
	}
	return false
}

// Server is a running IMAP server with the mailboxes INBOX and Processed.
type Server struct {
	ln  net.Listener
	srv *server.Server

	mu    sync.Mutex
	boxes map[string]*box
	// noKeywords makes the server keep system flags only, as some do.
	noKeywords bool
}

// RefuseKeywords makes the server keep only the system flags: it leaves
// \* out of PERMANENTFLAGS and refuses to store a keyword.
func (s *Server) RefuseKeywords() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noKeywords = true
}

type box struct {
	msgs    []*memory.Message
	nextUID uint32
}

// Start listens on a free loopback port and serves, without TLS, until
// the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("imaptest: listen: %v", err)
	}
	s := &Server{ln: ln, boxes: map[string]*box{"INBOX": {nextUID: 1}, "Processed": {nextUID: 1}}}
	s.srv = server.New(backendFunc(s.login))
	s.srv.AllowInsecureAuth = true
	// Clients hanging up are not news in a test.
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.srv.Serve(ln)
	}()
	t.Cleanup(func() {
		s.srv.Close()
		<-done
	})
	return s
}

// URL is the imap:// URL of a mailbox, with the credentials and tls=none.
func (s *Server) URL(mailbox string) string {
	u := url.URL{Scheme: "imap", User: url.UserPassword(User, Password), Host: s.ln.Addr().String(), Path: "/" + mailbox, RawQuery: "tls=none"}
	return u.String()
}

// Append stores raw in mailbox with flags.
func (s *Server) Append(mailbox string, raw []byte, flags ...string) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.boxes[mailbox]
	uid := b.nextUID
	b.nextUID++
	b.msgs = append(b.msgs, &memory.Message{Uid: uid, Date: time.Now(), Size: uint32(len(raw)), Flags: append([]string{}, flags...), Body: append([]byte{}, raw...)})
	return uid
}

// Messages returns a copy of a mailbox's messages, by UID.
func (s *Server) Messages(mailbox string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	if b, ok := s.boxes[mailbox]; ok {
		for _, m := range b.msgs {
			out = append(out, Message{UID: m.Uid, Flags: append([]string{}, m.Flags...), Raw: append([]byte{}, m.Body...)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UID < out[j].UID })
	return out
}

// backendFunc makes a login function a backend.Backend.
type backendFunc func(user, pass string) (backend.User, error)

func (f backendFunc) Login(_ *imap.ConnInfo, user, pass string) (backend.User, error) {
	return f(user, pass)
}

func (s *Server) login(user, pass string) (backend.User, error) {
	if user != User || pass != Password {
		return nil, backend.ErrInvalidCredentials
	}
	return &account{s: s}, nil
}

type account struct{ s *Server }

func (a *account) Username() string { return User }

func (a *account) ListMailboxes(bool) ([]backend.Mailbox, error) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	var out []backend.Mailbox
	for name := range a.s.boxes {
		out = append(out, &mailbox{s: a.s, name: name})
	}
	return out, nil
}

func (a *account) GetMailbox(name string) (backend.Mailbox, error) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	if _, ok := a.s.boxes[name]; !ok {
		return nil, backend.ErrNoSuchMailbox
	}
	return &mailbox{s: a.s, name: name}, nil
}

func (a *account) CreateMailbox(name string) error {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	if _, ok := a.s.boxes[name]; ok {
		return backend.ErrMailboxAlreadyExists
	}
	a.s.boxes[name] = &box{nextUID: 1}
	return nil
}

func (a *account) DeleteMailbox(string) error         { return errors.New("imaptest: not supported") }
func (a *account) RenameMailbox(string, string) error { return errors.New("imaptest: not supported") }
func (a *account) Logout() error                      { return nil }

// mailbox implements backend.Mailbox and backend.MoveMailbox over the
// server's store, under its lock.
type mailbox struct {
	s    *Server
	name string
}

func (m *mailbox) Name() string { return m.name }

func (m *mailbox) Info() (*imap.MailboxInfo, error) {
	return &imap.MailboxInfo{Delimiter: "/", Name: m.name}, nil
}

func (m *mailbox) box() *box { return m.s.boxes[m.name] }

func (m *mailbox) Status(items []imap.StatusItem) (*imap.MailboxStatus, error) {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	b := m.box()
	st := imap.NewMailboxStatus(m.name, items)
	st.Flags = []string{imap.SeenFlag, imap.DeletedFlag, imap.FlaggedFlag}
	st.PermanentFlags = []string{imap.SeenFlag, imap.DeletedFlag, imap.FlaggedFlag, "\\*"}
	if m.s.noKeywords {
		st.PermanentFlags = st.PermanentFlags[:3]
	}
	for _, it := range items {
		switch it {
		case imap.StatusMessages:
			st.Messages = uint32(len(b.msgs))
		case imap.StatusUidNext:
			st.UidNext = b.nextUID
		case imap.StatusUidValidity:
			st.UidValidity = 1
		case imap.StatusUnseen:
			for _, msg := range b.msgs {
				if !(Message{Flags: msg.Flags}).Has(imap.SeenFlag) {
					st.Unseen++
				}
			}
		}
	}
	return st, nil
}

func (m *mailbox) SetSubscribed(bool) error { return nil }
func (m *mailbox) Check() error             { return nil }

func (m *mailbox) ListMessages(uid bool, seqset *imap.SeqSet, items []imap.FetchItem, ch chan<- *imap.Message) error {
	defer close(ch)
	m.s.mu.Lock()
	var out []*imap.Message
	for i, msg := range m.box().msgs {
		id := uint32(i + 1)
		if uid {
			id = msg.Uid
		}
		if !seqset.Contains(id) {
			continue
		}
		cp := *msg
		cp.Flags = append([]string{}, msg.Flags...)
		f, err := cp.Fetch(uint32(i+1), items)
		if err != nil {
			continue
		}
		out = append(out, f)
	}
	m.s.mu.Unlock()
	for _, f := range out {
		ch <- f
	}
	return nil
}

func (m *mailbox) SearchMessages(uid bool, c *imap.SearchCriteria) ([]uint32, error) {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	var ids []uint32
	for i, msg := range m.box().msgs {
		if ok, err := msg.Match(uint32(i+1), c); err != nil || !ok {
			continue
		}
		if uid {
			ids = append(ids, msg.Uid)
		} else {
			ids = append(ids, uint32(i+1))
		}
	}
	return ids, nil
}

func (m *mailbox) CreateMessage(flags []string, date time.Time, body imap.Literal) error {
	raw, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	m.s.Append(m.name, raw, flags...)
	return nil
}

func (m *mailbox) each(uid bool, seqset *imap.SeqSet, fn func(*memory.Message)) {
	for i, msg := range m.box().msgs {
		id := uint32(i + 1)
		if uid {
			id = msg.Uid
		}
		if seqset.Contains(id) {
			fn(msg)
		}
	}
}

func (m *mailbox) UpdateMessagesFlags(uid bool, seqset *imap.SeqSet, op imap.FlagsOp, flags []string) error {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	if m.s.noKeywords {
		for _, f := range flags {
			if !strings.HasPrefix(f, "\\") {
				return errors.New("imaptest: this server keeps no keywords")
			}
		}
	}
	m.each(uid, seqset, func(msg *memory.Message) { msg.Flags = backendutil.UpdateFlags(msg.Flags, op, flags) })
	return nil
}

func (m *mailbox) CopyMessages(uid bool, seqset *imap.SeqSet, dest string) error {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	return m.copyLocked(uid, seqset, dest)
}

func (m *mailbox) copyLocked(uid bool, seqset *imap.SeqSet, dest string) error {
	d, ok := m.s.boxes[dest]
	if !ok {
		return backend.ErrNoSuchMailbox
	}
	m.each(uid, seqset, func(msg *memory.Message) {
		cp := *msg
		cp.Uid = d.nextUID
		d.nextUID++
		cp.Flags = append([]string{}, msg.Flags...)
		d.msgs = append(d.msgs, &cp)
	})
	return nil
}

func (m *mailbox) Expunge() error {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	b := m.box()
	kept := b.msgs[:0]
	for _, msg := range b.msgs {
		if !(Message{Flags: msg.Flags}).Has(imap.DeletedFlag) {
			kept = append(kept, msg)
		}
	}
	b.msgs = kept
	return nil
}

// MoveMessages implements RFC 6851 MOVE: copy, then remove from here.
func (m *mailbox) MoveMessages(uid bool, seqset *imap.SeqSet, dest string) error {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	if err := m.copyLocked(uid, seqset, dest); err != nil {
		return err
	}
	b := m.box()
	kept := make([]*memory.Message, 0, len(b.msgs))
	for i, msg := range b.msgs {
		id := uint32(i + 1)
		if uid {
			id = msg.Uid
		}
		if !seqset.Contains(id) {
			kept = append(kept, msg)
		}
	}
	b.msgs = kept
	return nil
}
