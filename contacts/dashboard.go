package contacts

import (
	"context"
	"fmt"
	"time"

	"herald/internal/db"
)

// CountCreatedSince returns the number of contacts added since since.
func (s *Store) CountCreatedSince(ctx context.Context, since time.Time) (int64, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&Contact{}).Where("created_at >= ?", since.UTC()).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("contacts: count new: %w", err)
	}
	return n, nil
}

// RevenuePerDay sums the purchases made on each of days UTC days starting
// with the day of from (index 0), in major units of the store currency.
// A purchase recorded in another currency (before the setting changed)
// cannot be added and is left out, as in campaign revenue.
func (s *Store) RevenuePerDay(ctx context.Context, from time.Time, days int) ([]float64, error) {
	from = from.UTC().Truncate(24 * time.Hour)
	// Times are text in UTC on SQLite, so the day is the first ten
	// characters; timestamptz on PostgreSQL.
	day := "substr(occurred_at, 1, 10)"
	if db.IsPostgres(s.db) {
		day = "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
	}
	type row struct {
		Day string
		Sum int64
	}
	var rows []row
	cur := s.Currency()
	err := s.db.WithContext(ctx).Model(&Event{}).Select(day+" AS day, CAST(SUM(amount) AS BIGINT) AS sum").
		Where("type = ? AND occurred_at >= ? AND occurred_at < ? AND currency IN ?", EventPurchase, from, from.AddDate(0, 0, days), []string{cur, ""}).
		Group("day").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("contacts: revenue per day: %w", err)
	}
	out := make([]float64, days)
	for _, r := range rows {
		t, err := time.Parse(time.DateOnly, r.Day)
		if err != nil {
			return nil, fmt.Errorf("contacts: revenue day %q: %w", r.Day, err)
		}
		if i := int(t.Sub(from).Hours() / 24); i >= 0 && i < days {
			out[i] += ToMajor(r.Sum, cur)
		}
	}
	return out, nil
}
