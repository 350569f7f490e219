// Package contacts keeps the people Herald writes to: their attributes,
// custom fields, the events of their activity (purchases, visits, opens,
// clicks) and the roll-ups of that activity that segments read.
package contacts

import (
	"time"

	"gorm.io/gorm"

	"herald/internal/db"
)

// Status of a contact's subscription. Only subscribed contacts are sent to.
type Status string

// Subscription statuses.
const (
	Subscribed   Status = "subscribed"
	Unsubscribed Status = "unsubscribed"
	Bounced      Status = "bounced"
	Complained   Status = "complained"
)

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	switch s {
	case Subscribed, Unsubscribed, Bounced, Complained:
		return true
	}
	return false
}

// Contact is one person. Roll-ups (OrdersCount onwards) are kept current by
// recorded events and are read-only through the API. Money is in minor units.
type Contact struct {
	ID            int64      `gorm:"primaryKey"`
	Email         string     `gorm:"size:320;not null;uniqueIndex"`
	FirstName     string     `gorm:"size:200;not null;default:''"`
	LastName      string     `gorm:"size:200;not null;default:''"`
	City          string     `gorm:"size:200;not null;default:'';index"`
	Country       string     `gorm:"size:2;not null;default:'';index"`
	Language      string     `gorm:"size:35;not null;default:''"`
	Timezone      string     `gorm:"size:64;not null;default:''"`
	Birthday      string     `gorm:"size:10;not null;default:''"` // YYYY-MM-DD or --MM-DD
	BirthdayMD    int        `gorm:"not null;default:0;index"`    // month*100+day, 0 when unknown
	Anniversary   string     `gorm:"size:10;not null;default:''"`
	AnniversaryMD int        `gorm:"not null;default:0;index"`
	FamilyStatus  string     `gorm:"size:64;not null;default:''"`
	Source        string     `gorm:"size:200;not null;default:'';index;index:idx_contacts_source_lower,expression:lower(source)"`
	SignupAt      *time.Time `gorm:"index"`
	Status        Status     `gorm:"size:16;not null;default:subscribed;index"`
	Attributes    db.JSONMap `gorm:"not null"`

	OrdersCount             int64 `gorm:"not null;default:0;index:idx_contacts_orders_recency,priority:1"`
	TotalSpent              int64 `gorm:"not null;default:0;index"`
	FirstPurchaseAt         *time.Time
	LastPurchaseAt          *time.Time `gorm:"index;index:idx_contacts_orders_recency,priority:2"`
	AvgDaysBetweenPurchases *float64
	LastVisitAt             *time.Time `gorm:"index;index:idx_contacts_orders_recency,priority:3"`
	LastOpenAt              *time.Time `gorm:"index"`
	LastClickAt             *time.Time `gorm:"index"`
	StatusChangedAt         *time.Time

	CreatedAt time.Time
	UpdatedAt time.Time
}

// Migrate creates or updates the tables of this package.
func Migrate(g *gorm.DB) error {
	fresh := !g.Migrator().HasTable(&Suppression{})
	if err := g.AutoMigrate(&Contact{}, &Event{}, &CustomField{}, &Suppression{}); err != nil {
		return err
	}
	if fresh {
		return backfillSuppressions(g)
	}
	return nil
}
