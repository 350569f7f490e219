// Package campaigns owns campaigns and their delivery ledger: the state
// machine (draft, scheduled, sending, paused, sent, cancelled), the launch
// that turns target segments into one Delivery row per contact and the
// sending of batches of deliveries through a Mailer; package reports reads
// what they did. It declares the Queue and Mailer it needs; the worker
// package implements them.
package campaigns

import (
	"fmt"
	"time"

	"gorm.io/gorm"

	"herald/internal/db"
)

// Status of a campaign.
type Status string

// Campaign statuses.
const (
	CampaignDraft     Status = "draft"
	CampaignScheduled Status = "scheduled"
	CampaignSending   Status = "sending"
	CampaignPaused    Status = "paused"
	CampaignSent      Status = "sent"
	CampaignCancelled Status = "cancelled"
)

// Kind tells a campaign sent to segments from the message of an
// automation step, which only its automation sends.
type Kind string

// Campaign kinds.
const (
	KindCampaign Kind = "campaign"
	// KindAutomation is stored as "flow", the name automations had when
	// the column was made (it holds 8 characters).
	KindAutomation Kind = "flow"
)

// Campaign is a message to the members of some segments, or the message of
// one step of an automation (KindAutomation), which reuses the same content,
// ledger, tracking and stats.
type Campaign struct {
	ID                int64  `gorm:"primaryKey"`
	Kind              Kind   `gorm:"size:8;not null;default:campaign;index"`
	Name              string `gorm:"size:200;not null"`
	Subject           string `gorm:"size:998;not null"`
	HTMLBody          string `gorm:"not null;default:''"`
	TextBody          string `gorm:"not null;default:''"`
	FromName          string `gorm:"size:200;not null;default:''"`
	FromEmail         string `gorm:"size:320;not null"`
	ReplyTo           string `gorm:"size:320;not null;default:''"`
	SegmentIDs        db.IDs `gorm:"not null"`
	ExcludeSegmentIDs db.IDs `gorm:"not null"`
	Status            Status `gorm:"size:16;not null;default:draft;index"`
	PauseReason       string `gorm:"size:500;not null;default:''"`
	// IgnoreFrequencyCap sends to contacts over HERALD_FREQUENCY_CAP
	// (an announcement that must reach everyone); by default they wait.
	IgnoreFrequencyCap bool `gorm:"not null;default:false"`
	// ResendOf makes this a follow-up of that campaign: it goes to those
	// the original reached who did not open it (see CreateFollowUp),
	// instead of to segments.
	ResendOf    *int64 `gorm:"index"`
	ScheduledAt *time.Time
	StartedAt   *time.Time
	FinishedAt  *time.Time

	// Local, when set, sends at an hour of each contact's time zone.
	Local LocalTime `gorm:"embedded"`

	// Launch progress: contacts up to LaunchCursor have delivery rows in
	// batches 1..LaunchBatches; LaunchedAt is set once all rows exist.
	LaunchCursor  int64 `gorm:"not null;default:0"`
	LaunchBatches int   `gorm:"not null;default:0"`
	LaunchedAt    *time.Time
	Total         int64 `gorm:"not null;default:0"`

	// ABTest, when set, sends variants of the message to a test share of
	// the audience and the winner to the rest (see abtest.go); the AB
	// columns below record how far the test went.
	ABTest       *ABTest    `gorm:"column:ab_test"`
	ABState      ABState    `gorm:"column:ab_state;size:10;not null;default:''"`
	ABTestEndsAt *time.Time `gorm:"column:ab_test_ends_at"`
	ABWinner     int        `gorm:"column:ab_winner;not null;default:0"`
	ABWinnerAt   *time.Time `gorm:"column:ab_winner_at"`
	ABWinnerBy   string     `gorm:"column:ab_winner_by;size:320;not null;default:''"`

	// linkBase is added to the link numbers of the content a message is
	// rendered from: a variant with a body of its own numbers its links
	// apart from the campaign's (see variantCampaign).
	linkBase int64

	CreatedAt time.Time
	UpdatedAt time.Time
}

// Link is a distinct URL of a campaign's HTML; clicks redirect only to these.
type Link struct {
	ID         int64  `gorm:"primaryKey"`
	CampaignID int64  `gorm:"not null;uniqueIndex:idx_links_campaign_idx,priority:1"`
	Idx        int    `gorm:"not null;uniqueIndex:idx_links_campaign_idx,priority:2"`
	URL        string `gorm:"size:4000;not null"`
}

// TableName keeps the table name explicit.
func (Link) TableName() string { return "campaign_links" }

// DeliveryStatus is where one message to one contact stands.
type DeliveryStatus string

// Delivery statuses. DeliverySending is held only while a worker has the
// message in hand; a sending row left behind by a crash becomes
// DeliveryUnknown, never DeliveryQueued again, because the message may have
// been accepted already.
const (
	DeliveryQueued  DeliveryStatus = "queued"
	DeliverySending DeliveryStatus = "sending"
	DeliverySent    DeliveryStatus = "sent"
	DeliveryFailed  DeliveryStatus = "failed"
	DeliveryBounced DeliveryStatus = "bounced"
	DeliverySkipped DeliveryStatus = "skipped" // suppressed or cancelled before sending
	DeliveryUnknown DeliveryStatus = "unknown"
	// DeliveryDeferred waits until NotBefore: the contact had as many
	// messages as the frequency cap allows; Error says so. The sweep queues
	// it then.
	DeliveryDeferred DeliveryStatus = "deferred"
	// DeliveryHeld waits for an A/B test's winner: nothing of it is sent
	// before the winner is recorded, which queues it with its content.
	DeliveryHeld DeliveryStatus = "held"
)

// Delivery is the ledger row that makes a send happen at most once: one
// per campaign and contact (and, for automations, per occurrence: this
// year's birthday, this entry into a segment), claimed before the message
// goes out.
type Delivery struct {
	ID         int64          `gorm:"primaryKey"`
	CampaignID int64          `gorm:"not null;uniqueIndex:idx_deliveries_once,priority:1;index:idx_deliveries_campaign_batch,priority:1;index:idx_deliveries_contact_status,priority:3"`
	ContactID  int64          `gorm:"not null;uniqueIndex:idx_deliveries_once,priority:2;index:idx_deliveries_contact_status,priority:1"`
	Occurrence string         `gorm:"size:80;not null;default:'';uniqueIndex:idx_deliveries_once,priority:3"`
	Status     DeliveryStatus `gorm:"size:10;not null;default:queued;index:idx_deliveries_contact_status,priority:2"`
	Batch      int            `gorm:"not null;index:idx_deliveries_campaign_batch,priority:2"`
	Attempts   int            `gorm:"not null;default:0"`
	Claim      string         `gorm:"size:32;not null;default:''"`
	ClaimedAt  *time.Time
	SentAt     *time.Time `gorm:"index:idx_deliveries_contact_status,priority:4"`
	NotBefore  *time.Time
	Error      string `gorm:"size:1000;not null;default:''"`
	// Resent marks an unknown delivery a user chose to send once more
	// (ResendUnknown): it is never sent a third time.
	Resent bool `gorm:"not null;default:false"`
	// Variant is the A/B test variant (1 for A, ...) a test delivery is
	// rendered from; 0 is the campaign itself or, once an A/B test has a
	// winner, the winning variant.
	Variant   int `gorm:"not null;default:0"`
	CreatedAt time.Time
}

// Action is a decision a user took on a campaign that its report shows:
// who, when, and how many deliveries it touched.
type Action struct {
	ID         int64     `gorm:"primaryKey" json:"id"`
	CampaignID int64     `gorm:"not null;index" json:"campaign_id"`
	Kind       string    `gorm:"size:40;not null" json:"kind"`
	Actor      string    `gorm:"size:320;not null;default:''" json:"actor"`
	Count      int64     `gorm:"not null;default:0" json:"count"`
	At         time.Time `gorm:"not null" json:"at"`
}

// TableName keeps the table name explicit.
func (Action) TableName() string { return "campaign_actions" }

// ActionResendUnknown is the action of ResendUnknown.
const ActionResendUnknown = "resend_unknown"

// Migrate creates or updates the tables of this package.
func Migrate(g *gorm.DB) error {
	if err := g.AutoMigrate(&Campaign{}, &Link{}, &Delivery{}, &Coupon{}, &Action{}); err != nil {
		return err
	}
	if err := migrateLocalTime(g); err != nil {
		return err
	}
	// The ledger's uniqueness gained the occurrence; the older index would
	// refuse a second year's birthday message. (contact_id, sent_at) gave
	// way to (contact_id, status, campaign_id, sent_at), which answers
	// "the last n campaigns sent to the contact" from the index alone,
	// grouped by campaign in index order. (campaign_id, status) is a
	// prefix of idx_deliveries_campaign_due, which answers the same
	// lookups: every claim and settlement changes status, so each index
	// that holds it costs an entry per delivery and write.
	for _, old := range []string{"idx_deliveries_campaign_contact", "idx_deliveries_contact_sent", "idx_deliveries_campaign_status"} {
		if g.Migrator().HasIndex(&Delivery{}, old) {
			if err := g.Migrator().DropIndex(&Delivery{}, old); err != nil {
				return err
			}
		}
	}
	return canonicalAddresses(g)
}

// canonicalAddresses rewrites sender addresses stored before they were
// parsed ("<x@example.com>", "Shop <x@example.com>") to the bare address,
// moving a display name into an empty from_name, so the From: header of
// campaigns saved then is well formed too.
func canonicalAddresses(g *gorm.DB) error {
	var old []Campaign
	if err := g.Select("id", "from_name", "from_email", "reply_to").Where("from_email LIKE ? OR reply_to LIKE ?", "%<%", "%<%").Find(&old).Error; err != nil {
		return fmt.Errorf("campaigns: find stored addresses: %w", err)
	}
	for _, c := range old {
		upd := map[string]any{}
		if addr, name, err := parseAddress("from_email", c.FromEmail, true); err == nil {
			upd["from_email"] = addr
			if c.FromName == "" && name != "" && headerText("from_name", name) == nil {
				upd["from_name"] = name
			}
		}
		if addr, _, err := parseAddress("reply_to", c.ReplyTo, false); err == nil {
			upd["reply_to"] = addr
		}
		if len(upd) == 0 {
			continue
		}
		if err := g.Model(&Campaign{}).Where("id = ?", c.ID).Updates(upd).Error; err != nil {
			return fmt.Errorf("campaigns: canonical address of campaign %d: %w", c.ID, err)
		}
	}
	return nil
}
