package db

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// Staleness at which RefreshStats analyzes a table: at least staleRows
// rows changed since the last ANALYZE, and at least a tenth of the table
// (autovacuum's own default fraction).
const staleRows = 1000

// RefreshStats analyzes table on PostgreSQL when its planner statistics
// no longer describe it: contacts posted a moment ago, before autovacuum
// (which looks once a minute) has analyzed them. Without statistics the
// planner takes a freshly loaded table for a few rows, and a launch that
// pages through 100,000 new contacts by id has each page read every
// matching contact and sort them: milliseconds per page instead of
// microseconds. SQLite's plans for Herald's queries do not depend on
// statistics, so it is left as it is. table is one of Herald's own table
// names, never user text.
func RefreshStats(ctx context.Context, g *gorm.DB, table string) error {
	if !IsPostgres(g) {
		return nil
	}
	var st struct {
		Live     int64
		Modified int64
	}
	err := g.WithContext(ctx).Raw(`SELECT COALESCE(n_live_tup, 0) AS live, COALESCE(n_mod_since_analyze, 0) AS modified
		FROM pg_stat_user_tables WHERE relid = to_regclass(?)`, table).Scan(&st).Error
	if err != nil {
		return fmt.Errorf("db: statistics of %s: %w", table, err)
	}
	if st.Modified < staleRows || st.Modified*10 < st.Live {
		return nil
	}
	if err := g.WithContext(ctx).Exec("ANALYZE " + quoteIdent(table)).Error; err != nil {
		return fmt.Errorf("db: analyze %s: %w", table, err)
	}
	return nil
}

// quoteIdent quotes a PostgreSQL identifier.
func quoteIdent(name string) string {
	q := []byte{'"'}
	for i := 0; i < len(name); i++ {
		if name[i] == '"' {
			q = append(q, '"')
		}
		q = append(q, name[i])
	}
	return string(append(q, '"'))
}
