// Package automations runs Herald's automated sends: a trigger (a date
// such as a birthday, entering a segment, an event, a lapse in buying)
// enrols contacts in a run that walks a short sequence of steps (send,
// wait, exit_if). A send step's message is a campaign of kind flow, so the
// sending and the ledger are the campaigns package's and the stats the
// reports package's; this package decides who gets which step when.
package automations

import (
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/db"
	"herald/reports"
	"herald/segments"
)

// Service manages automations and runs their engine.
type Service struct {
	cfg       Config
	zones     zoneCache
	exits     exitCache
	db        *gorm.DB
	contacts  *contacts.Store
	segments  *segments.Service
	campaigns *campaigns.Service
	reports   *reports.Service
	now       func() time.Time
	log       *slog.Logger
}

// NewService wires a Service over the campaigns service that keeps the
// automations' messages and sends them, and the reports that count them.
func NewService(g *gorm.DB, cs *contacts.Store, ss *segments.Service, camps *campaigns.Service, reps *reports.Service, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = db.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Service{db: g, contacts: cs, segments: ss, campaigns: camps, reports: reps, cfg: cfg, now: cfg.Now, log: cfg.Log}
}

// Migrate creates or updates the automations' tables.
func Migrate(g *gorm.DB) error {
	if err := g.AutoMigrate(&Automation{}, &Run{}); err != nil {
		return fmt.Errorf("automations: migrate: %w", err)
	}
	return nil
}
