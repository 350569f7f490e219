package settings

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"herald/internal/errs"
)

// Credentials checks and changes the API key and the admin password. Both
// live in the settings table, so that a change made through one web
// replica holds on all of them within CacheTTL; a value given in the
// environment (HERALD_API_KEY, HERALD_ADMIN_PASSWORD) wins and cannot be
// changed from Herald.
type Credentials struct {
	store *Store
	// fixedKey and fixedPass are the hashes of values from the
	// environment; nil when the stored ones are used.
	fixedKey  []byte
	fixedPass []byte
	ttl       time.Duration
	now       func() time.Time

	mu      sync.Mutex
	keyHash []byte
	pwHash  []byte
	readAt  time.Time
}

// CacheTTL is how long a process trusts the hashes it read: a rotated key
// or a new password applies on every process within it.
const CacheTTL = 2 * time.Second

// MinPasswordLength is the shortest admin password accepted.
const MinPasswordLength = 10

// ErrFixed is returned when a credential comes from the environment.
var ErrFixed = errors.New("settings: set in the environment")

// NewCredentials returns Credentials on store. fixedKeySHA256 and
// fixedPassBcrypt, when not nil, are the hashes of values given in the
// environment; store may be nil when both are given.
func NewCredentials(store *Store, fixedKeySHA256, fixedPassBcrypt []byte) *Credentials {
	return &Credentials{store: store, fixedKey: fixedKeySHA256, fixedPass: fixedPassBcrypt, ttl: CacheTTL, now: time.Now}
}

// Fixed tells which credentials come from the environment.
func (c *Credentials) Fixed() (apiKey, password bool) {
	return c.fixedKey != nil, c.fixedPass != nil
}

func (c *Credentials) hashes(ctx context.Context) (key, pass []byte, err error) {
	if c.fixedKey != nil && c.fixedPass != nil {
		return c.fixedKey, c.fixedPass, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readAt.IsZero() || c.now().Sub(c.readAt) > c.ttl {
		k, p := c.fixedKey, c.fixedPass
		if k == nil {
			v, _, err := c.store.Get(ctx, KeyAPIKeyHash)
			if err != nil {
				return nil, nil, err
			}
			if k, err = hex.DecodeString(v); err != nil {
				return nil, nil, fmt.Errorf("settings: stored API key hash: %w", err)
			}
		}
		if p == nil {
			v, _, err := c.store.Get(ctx, KeyAdminPassword)
			if err != nil {
				return nil, nil, err
			}
			p = []byte(v)
		}
		c.keyHash, c.pwHash, c.readAt = k, p, c.now()
	}
	return c.keyHash, c.pwHash, nil
}

// APIKeyOK reports whether key is the API key. An unreadable store
// refuses the key.
func (c *Credentials) APIKeyOK(ctx context.Context, key string) bool {
	want, _, err := c.hashes(ctx)
	if err != nil || key == "" || len(want) == 0 {
		return false
	}
	sum := sha256.Sum256([]byte(key))
	return subtle.ConstantTimeCompare(sum[:], want) == 1
}

// PasswordHash is the bcrypt hash of the admin password. Sessions are
// signed with a fingerprint of it, so a new password ends them all.
func (c *Credentials) PasswordHash(ctx context.Context) ([]byte, error) {
	_, p, err := c.hashes(ctx)
	return p, err
}

// RotateAPIKey stores a new API key and returns it; the old one stops
// working (within CacheTTL on other processes).
func (c *Credentials) RotateAPIKey(ctx context.Context) (string, error) {
	if c.fixedKey != nil {
		return "", ErrFixed
	}
	key := NewAPIKey()
	sum := sha256.Sum256([]byte(key))
	if err := c.store.Set(ctx, KeyAPIKeyHash, hex.EncodeToString(sum[:])); err != nil {
		return "", err
	}
	c.forget()
	return key, nil
}

// ChangePassword sets a new admin password after checking the current one.
// Bad input is an *errs.InvalidError naming the form field.
func (c *Credentials) ChangePassword(ctx context.Context, current, next string) error {
	if c.fixedPass != nil {
		return ErrFixed
	}
	hash, err := c.PasswordHash(ctx)
	if err != nil {
		return err
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(current)) != nil {
		return errs.Invalid("current_password", "is not the current password")
	}
	if utf8.RuneCountInString(next) < MinPasswordLength {
		return errs.Invalid("new_password", "must be at least %d characters", MinPasswordLength)
	}
	if len(next) > 72 {
		return errs.Invalid("new_password", "must be at most 72 bytes")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(next), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("settings: hash password: %w", err)
	}
	if err := c.store.Set(ctx, KeyAdminPassword, string(h)); err != nil {
		return err
	}
	c.forget()
	return nil
}

func (c *Credentials) forget() {
	c.mu.Lock()
	c.readAt = time.Time{}
	c.mu.Unlock()
}

// NewAPIKey makes a random API key.
func NewAPIKey() string {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "hk_" + hex.EncodeToString(b)
}
