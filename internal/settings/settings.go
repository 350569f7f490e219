// Package settings keeps the few values Herald generates once and must
// share between all its processes: the HMAC secret, the API key's hash and
// the admin password's hash.
package settings

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Keys of the values Herald keeps.
const (
	KeySecret        = "secret"
	KeyAPIKeyHash    = "api_key_sha256"
	KeyAdminPassword = "admin_password_bcrypt"
	KeyAdminEmail    = "admin_email"
)

// Setting is one stored value.
type Setting struct {
	Key   string `gorm:"primaryKey;size:64"`
	Value string `gorm:"not null"`
}

// Migrate creates the table.
func Migrate(g *gorm.DB) error {
	if err := g.AutoMigrate(&Setting{}); err != nil {
		return fmt.Errorf("settings: migrate: %w", err)
	}
	return nil
}

// Store reads and writes settings.
type Store struct{ db *gorm.DB }

// NewStore returns a Store on g.
func NewStore(g *gorm.DB) *Store { return &Store{db: g} }

// Get returns the value of key and whether it is set.
func (s *Store) Get(ctx context.Context, key string) (string, bool, error) {
	var st Setting
	err := s.db.WithContext(ctx).Where("key = ?", key).Take(&st).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("settings: get %s: %w", key, err)
	}
	return st.Value, true, nil
}

// Set stores value under key, replacing what was there.
func (s *Store) Set(ctx context.Context, key, value string) error {
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "key"}},
		DoUpdates: clause.AssignmentColumns([]string{"value"}),
	}).Create(&Setting{Key: key, Value: value}).Error
	if err != nil {
		return fmt.Errorf("settings: set %s: %w", key, err)
	}
	return nil
}

// GetOrCreate returns the stored value of key, storing gen()'s result first
// if there is none. When several processes start at once, exactly one value
// wins and all of them return it. created tells whether this call stored it.
func (s *Store) GetOrCreate(ctx context.Context, key string, gen func() (string, error)) (value string, created bool, err error) {
	if v, ok, err := s.Get(ctx, key); err != nil || ok {
		return v, false, err
	}
	v, err := gen()
	if err != nil {
		return "", false, err
	}
	res := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&Setting{Key: key, Value: v})
	if res.Error != nil {
		return "", false, fmt.Errorf("settings: create %s: %w", key, res.Error)
	}
	if res.RowsAffected == 1 {
		return v, true, nil
	}
	v, _, err = s.Get(ctx, key)
	return v, false, err
}
