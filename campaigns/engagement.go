package campaigns

import (
	"fmt"

	"gorm.io/gorm"

	"herald/internal/db"
)

// dropEngagementTriggers removes the engagement roll-up triggers a build
// of this day created (names engagement_v*): they kept per-contact
// engagement columns up to date on every settled delivery, open and click,
// at a cost per message the send path cannot afford, and nothing reads
// those columns any more. The columns and the engagement_campaigns table
// they leave behind are inert.
func dropEngagementTriggers(g *gorm.DB) error {
	pg := db.IsPostgres(g)
	q := `SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'engagement\_v%' ESCAPE '\'`
	if pg {
		q = `SELECT tgname || ' ON ' || tgrelid::regclass::text FROM pg_trigger
			WHERE NOT tgisinternal AND tgname LIKE 'engagement\_v%' AND tgrelid IN (to_regclass('deliveries'), to_regclass('events'))`
	}
	var names []string
	if err := g.Raw(q).Scan(&names).Error; err != nil {
		return fmt.Errorf("campaigns: engagement triggers: %w", err)
	}
	for _, n := range names {
		if err := g.Exec("DROP TRIGGER IF EXISTS " + n).Error; err != nil {
			return fmt.Errorf("campaigns: drop trigger %s: %w", n, err)
		}
	}
	return nil
}
