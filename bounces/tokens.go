package bounces

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// WebhookToken is a signature token a provider's request carried, with
// the body it came with. Mailgun signs only a timestamp and a token, not
// the body: remembering which body each token came with lets the same
// request be replayed (and counted once) while a captured signature put
// on another body is refused.
type WebhookToken struct {
	Key       string    `gorm:"primaryKey;size:64"` // SHA-256 of provider and token
	BodyHash  string    `gorm:"size:64;not null"`
	CreatedAt time.Time `gorm:"not null;index"`
}

// TableName keeps the table name explicit.
func (WebhookToken) TableName() string { return "bounce_webhook_tokens" }

// Migrate creates the package's tables.
func Migrate(g *gorm.DB) error {
	if err := g.AutoMigrate(&WebhookToken{}); err != nil {
		return fmt.Errorf("bounces: migrate: %w", err)
	}
	return nil
}

// Tokens remembers signature tokens in the database, so every web replica
// sees the tokens the others took.
type Tokens struct {
	db *gorm.DB
}

// NewTokens returns the token store on g.
func NewTokens(g *gorm.DB) *Tokens { return &Tokens{db: g} }

// tokenKeep is how long a token is remembered: past the replay window a
// request is refused by its timestamp anyway.
const tokenKeep = 2 * replayWindow

// Claim records that token came with body and reports whether that holds:
// true for a token seen first now or seen before with the same body, false
// for a token seen before with another body.
func (t *Tokens) Claim(ctx context.Context, provider, token string, body []byte, now time.Time) (bool, error) {
	k := sha256.Sum256([]byte(provider + "\x00" + token))
	b := sha256.Sum256(body)
	row := WebhookToken{Key: hex.EncodeToString(k[:]), BodyHash: hex.EncodeToString(b[:]), CreatedAt: now.UTC()}
	g := t.db.WithContext(ctx)
	if err := g.Where("created_at < ?", now.Add(-tokenKeep).UTC()).Delete(&WebhookToken{}).Error; err != nil {
		return false, fmt.Errorf("bounces: forget old tokens: %w", err)
	}
	res := g.Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	if res.Error != nil {
		return false, fmt.Errorf("bounces: remember token: %w", res.Error)
	}
	if res.RowsAffected == 1 {
		return true, nil
	}
	var seen WebhookToken
	if err := g.Take(&seen, "key = ?", row.Key).Error; err != nil {
		return false, fmt.Errorf("bounces: read token: %w", err)
	}
	return seen.BodyHash == row.BodyHash, nil
}
