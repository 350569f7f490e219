package segments

import (
	"context"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm"

	"herald/internal/db"
)

// topColumns are the contacts columns top_percent ranks, and whether only
// values above zero count (a contact with no orders is not "in the top
// 20 % of spenders" however few contacts bought anything).
var topColumns = map[string]struct{ positive, time bool }{
	"orders_count":      {positive: true},
	"total_spent":       {positive: true},
	"signup_at":         {time: true},
	"first_purchase_at": {time: true},
	"last_purchase_at":  {time: true},
	"last_visit_at":     {time: true},
	"last_open_at":      {time: true},
	"last_click_at":     {time: true},
}

// thresholds returns a Compiler.Threshold that queries q (the compiler
// asks once per distinct column and percent of a compile). With cached,
// a threshold read in the last topCacheTTL serves instead; every
// threshold read is kept for those that may use it.
func (s *Service) thresholds(ctx context.Context, q *gorm.DB, cached bool) func(string, int) (any, bool, error) {
	return func(column string, percent int) (any, bool, error) {
		return s.tops.get(topKey{column, percent}, !cached, func() (any, bool, error) {
			return topThreshold(ctx, q, column, percent)
		})
	}
}

// topCacheTTL is how long an incremental refresh may use a threshold.
const topCacheTTL = 30 * time.Second

// topCache keeps recent top_percent thresholds for incremental refreshes.
// Each event re-evaluates its contact against every segment that reads
// what the event changed; without the cache, a steady stream of purchases
// would count a million contacts' spend (a few hundred milliseconds) for
// every task. A threshold that is up to topCacheTTL old places the changed
// contact as well as one read now: membership at the edge of the top
// percent is settled by full refreshes, which always read afresh. Nothing
// else relies on it, so each process may keep its own.
type topCache struct {
	mu      sync.Mutex
	entries map[topKey]topEntry
}

type topEntry struct {
	value any
	found bool
	at    time.Time
}

// get returns the cached threshold of k unless fresh is set or it is too
// old, and otherwise reads and keeps it.
func (c *topCache) get(k topKey, fresh bool, read func() (any, bool, error)) (any, bool, error) {
	c.mu.Lock()
	e, ok := c.entries[k]
	c.mu.Unlock()
	if ok && !fresh && time.Since(e.at) < topCacheTTL {
		return e.value, e.found, nil
	}
	v, found, err := read()
	if err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	c.entries[k] = topEntry{value: v, found: found, at: time.Now()}
	c.mu.Unlock()
	return v, found, nil
}

// topThreshold finds the value the top percent of contacts with a value
// reach: the k-th largest, k = ceil(count * percent / 100). One portable
// statement walks the column's index from the top; the count comes from a
// subquery in OFFSET, which both engines evaluate once (and PostgreSQL
// refuses a negative OFFSET, hence the CASE for an empty column).
func topThreshold(ctx context.Context, q *gorm.DB, column string, percent int) (any, bool, error) {
	spec, ok := topColumns[column]
	if !ok {
		// Columns come from builtinFields, never from the definition's
		// text; this guards the splice below against a future mistake.
		return nil, false, fmt.Errorf("segments: top_percent does not rank %q", column)
	}
	cond := column + " IS NOT NULL"
	if spec.positive {
		cond += " AND " + column + " > 0"
	}
	sql := "SELECT " + column + " FROM contacts WHERE " + cond + " ORDER BY " + column + " DESC LIMIT 1 OFFSET (SELECT CASE WHEN COUNT(*) = 0 THEN 0 ELSE (COUNT(*) * ? + 99) / 100 - 1 END FROM contacts WHERE " + cond + ")"
	rows, err := q.WithContext(ctx).Raw(sql, percent).Rows()
	if err != nil {
		return nil, false, fmt.Errorf("segments: threshold of %s: %w", column, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, false, fmt.Errorf("segments: threshold of %s: %w", column, err)
		}
		return nil, false, nil
	}
	var raw any
	if err := rows.Scan(&raw); err != nil {
		return nil, false, fmt.Errorf("segments: threshold of %s: %w", column, err)
	}
	if spec.time {
		t, err := db.ScanTime(raw)
		if err != nil {
			return nil, false, fmt.Errorf("segments: threshold of %s: %w", column, err)
		}
		return t, true, nil
	}
	switch x := raw.(type) {
	case int64:
		return x, true, nil
	case int32:
		return int64(x), true, nil
	case float64:
		return x, true, nil
	}
	return nil, false, fmt.Errorf("segments: threshold of %s: unexpected %T", column, raw)
}
