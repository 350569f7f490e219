package campaigns_test

import (
	"testing"

	"herald/campaigns"
	"herald/internal/campaigntest"
	"herald/internal/db"
)

// TestMigrateDropsTheEngagementTriggers checks that a database migrated by
// the build that kept engagement roll-ups in triggers loses them, so that
// its sends no longer pay for them.
func TestMigrateDropsTheEngagementTriggers(t *testing.T) {
	w := campaigntest.NewWorld(t)
	stmts := []string{`CREATE TRIGGER engagement_v1_deliveries_ins AFTER INSERT ON deliveries BEGIN SELECT 1; END`}
	count := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'engagement%'`
	if db.IsPostgres(w.DB) {
		stmts = []string{
			`CREATE OR REPLACE FUNCTION engagement_noop() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN RETURN NULL; END $f$`,
			`CREATE TRIGGER engagement_v1_deliveries_ins AFTER INSERT ON deliveries FOR EACH STATEMENT EXECUTE FUNCTION engagement_noop()`,
		}
		count = `SELECT COUNT(*) FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE 'engagement%' AND tgrelid = to_regclass('deliveries')`
	}
	for _, q := range stmts {
		if err := w.DB.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	triggers := func() int64 {
		var n int64
		if err := w.DB.Raw(count).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := triggers(); n != 1 {
		t.Fatalf("%d triggers before the migration, want the one made", n)
	}
	if err := campaigns.Migrate(w.DB); err != nil {
		t.Fatal(err)
	}
	if n := triggers(); n != 0 {
		t.Errorf("%d engagement triggers after the migration, want none", n)
	}
}
