// Package reports reads what campaigns did: delivery and engagement
// figures, activity over time, people lists, the dashboard's figures and a
// contact's delivery history.
package reports

import (
	"time"

	"gorm.io/gorm"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/db"
)

// Config tunes a Service.
type Config struct {
	// AttributionDays is how long after a click a purchase counts as the
	// campaign's revenue (5 by default).
	AttributionDays int
	Now             func() time.Time
}

// Service answers what campaigns sent and how people engaged with it. It
// only reads: every change to a campaign goes through campaigns.Service.
type Service struct {
	db        *gorm.DB
	campaigns *campaigns.Service
	contacts  *contacts.Store
	cfg       Config
}

// New returns a Service reading g, with the campaigns and contacts it
// reports on.
func New(g *gorm.DB, camps *campaigns.Service, cs *contacts.Store, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = db.Now
	}
	if cfg.AttributionDays <= 0 {
		cfg.AttributionDays = 5
	}
	return &Service{db: g, campaigns: camps, contacts: cs, cfg: cfg}
}
