// Package login keeps the marketer's sessions on the server, so that
// logging out or changing the password ends them on every process, and
// throttles login attempts per client address and per account across
// processes.
package login

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Session is one logged-in browser. Only the hash of its token is stored,
// so a copy of the database logs nobody in.
type Session struct {
	ID         string    `gorm:"primaryKey;size:64"` // SHA-256 of the cookie's token, hex
	Email      string    `gorm:"size:320;not null"`
	CreatedAt  time.Time `gorm:"not null"`
	ExpiresAt  time.Time `gorm:"not null;index"`
	LastSeenAt time.Time `gorm:"not null"`
}

// TableName keeps the table name explicit.
func (Session) TableName() string { return "login_sessions" }

// Migrate creates the table.
func Migrate(g *gorm.DB) error {
	if err := g.AutoMigrate(&Session{}); err != nil {
		return fmt.Errorf("login: migrate: %w", err)
	}
	return nil
}

// DefaultTTL is how long a session lasts after its last use.
const DefaultTTL = 7 * 24 * time.Hour

// Sessions reads and writes sessions.
type Sessions struct {
	db  *gorm.DB
	ttl time.Duration
	now func() time.Time
}

// NewSessions returns Sessions on g that last ttl from their last use.
func NewSessions(g *gorm.DB, ttl time.Duration) *Sessions {
	return &Sessions{db: g, ttl: ttl, now: time.Now}
}

// touchEvery is how often a session's expiry moves with use: not on
// every request, which would write on every page view.
const touchEvery = 10 * time.Minute

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Start makes a session for email and returns its token for the cookie.
// Expired sessions are removed on the way.
func (s *Sessions) Start(ctx context.Context, email string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("login: random: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	now := s.now().UTC()
	q := s.db.WithContext(ctx)
	if err := q.Where("expires_at < ?", now).Delete(&Session{}).Error; err != nil {
		return "", fmt.Errorf("login: purge sessions: %w", err)
	}
	sess := Session{ID: hashToken(token), Email: email, CreatedAt: now, ExpiresAt: now.Add(s.ttl), LastSeenAt: now}
	if err := q.Create(&sess).Error; err != nil {
		return "", fmt.Errorf("login: start session: %w", err)
	}
	return token, nil
}

// Check returns the live session of token; ok is false for an unknown,
// ended or expired one.
func (s *Sessions) Check(ctx context.Context, token string) (sess Session, ok bool, err error) {
	if token == "" || len(token) > 128 {
		return Session{}, false, nil
	}
	now := s.now().UTC()
	err = s.db.WithContext(ctx).Where("id = ? AND expires_at > ?", hashToken(token), now).Take(&sess).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, fmt.Errorf("login: check session: %w", err)
	}
	if now.Sub(sess.LastSeenAt) > touchEvery {
		sess.LastSeenAt, sess.ExpiresAt = now, now.Add(s.ttl)
		if err := s.db.WithContext(ctx).Model(&Session{}).Where("id = ?", sess.ID).
			Updates(map[string]any{"last_seen_at": now, "expires_at": sess.ExpiresAt}).Error; err != nil {
			return Session{}, false, fmt.Errorf("login: touch session: %w", err)
		}
	}
	return sess, true, nil
}

// End ends the session of token (logging out).
func (s *Sessions) End(ctx context.Context, token string) error {
	if err := s.db.WithContext(ctx).Where("id = ?", hashToken(token)).Delete(&Session{}).Error; err != nil {
		return fmt.Errorf("login: end session: %w", err)
	}
	return nil
}

// EndAll ends every session (a new password).
func (s *Sessions) EndAll(ctx context.Context) error {
	if err := s.db.WithContext(ctx).Where("1 = 1").Delete(&Session{}).Error; err != nil {
		return fmt.Errorf("login: end sessions: %w", err)
	}
	return nil
}
