package db_test

import (
	"context"
	"fmt"
	"testing"

	"gorm.io/gorm"

	"herald/internal/db"
	"herald/internal/testenv"
)

func TestRefreshStatsAnalyzesOnlyATableThatChangedSinceItsStatistics(t *testing.T) {
	cases := []struct {
		name         string
		rows         int
		wantAnalyzed bool
	}{
		{"a table just loaded with thousands of rows is analyzed", 5000, true},
		{"a table with a few hundred new rows is left to autovacuum", 300, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			g := testenv.DB(t, nil)
			if err := g.Exec("CREATE TABLE items (id integer PRIMARY KEY, name text)").Error; err != nil {
				t.Fatal(err)
			}
			if !db.IsPostgres(g) {
				if err := db.RefreshStats(ctx, g, "items"); err != nil {
					t.Fatalf("RefreshStats on SQLite: %v", err)
				}
				var n int64
				g.Raw("SELECT COUNT(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").Scan(&n)
				if n != 0 {
					t.Fatal("RefreshStats analyzed an SQLite database; its plans are tuned without statistics")
				}
				return
			}
			insertAndFlushStats(t, g, tc.rows)
			if err := db.RefreshStats(ctx, g, "items"); err != nil {
				t.Fatalf("RefreshStats: %v", err)
			}
			if got := analyzed(t, g); got != tc.wantAnalyzed {
				t.Fatalf("analyzed = %v after %d new rows, want %v", got, tc.rows, tc.wantAnalyzed)
			}
			if !tc.wantAnalyzed {
				return
			}
			// Fresh statistics are not gathered again.
			var before string
			g.Raw("SELECT last_analyze::text FROM pg_stat_user_tables WHERE relid = to_regclass('items')").Scan(&before)
			if err := db.RefreshStats(ctx, g, "items"); err != nil {
				t.Fatalf("second RefreshStats: %v", err)
			}
			var after string
			g.Raw("SELECT last_analyze::text FROM pg_stat_user_tables WHERE relid = to_regclass('items')").Scan(&after)
			if after != before {
				t.Fatalf("a table analyzed a moment ago was analyzed again (%s, then %s)", before, after)
			}
		})
	}
}

// insertAndFlushStats inserts n rows and makes the statistics collector
// see them at once (a backend otherwise reports its counts up to a second
// later).
func insertAndFlushStats(t *testing.T, g *gorm.DB, n int) {
	t.Helper()
	err := g.Connection(func(conn *gorm.DB) error {
		if err := conn.Exec(fmt.Sprintf("INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, %d) AS i", n)).Error; err != nil {
			return err
		}
		return conn.Exec("SELECT pg_stat_force_next_flush()").Error
	})
	if err != nil {
		t.Fatal(err)
	}
	// The flush happens when the session goes idle after the statement
	// above; one more statement on the same session makes sure it did.
	var mod int64
	g.Raw("SELECT COALESCE(n_mod_since_analyze, 0) FROM pg_stat_user_tables WHERE relid = to_regclass('items')").Scan(&mod)
	if mod < int64(n) {
		t.Fatalf("statistics show %d changed rows after inserting %d", mod, n)
	}
}

func analyzed(t *testing.T, g *gorm.DB) bool {
	t.Helper()
	var n int64
	if err := g.Raw("SELECT COUNT(*) FROM pg_stat_user_tables WHERE relid = to_regclass('items') AND last_analyze IS NOT NULL").Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n == 1
}
