package contacts

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"gorm.io/gorm"

	"herald/internal/db"
	"herald/internal/jsonstr"
)

// eventColumns are the columns insertEvents writes, in its arguments' order.
const eventColumns = "contact_id, type, occurred_at, campaign_id, link_id, amount, currency, order_id, properties, machine, dedupe_key, created_at"

// insertEvents stores evs, skipping any whose dedupe key is stored already
// (a concurrent writer got there first), sets the ID of each stored one and
// returns how many were stored. Tracked opens and clicks arrive hundreds at
// a time: GORM's multi-row INSERT binds a dozen arguments per row, which
// PostgreSQL parses and plans and the pure-Go SQLite driver binds in time
// that grows with the square of their number. Here PostgreSQL gets one
// statement of a dozen arrays, and SQLite one statement of one JSON
// argument.
func insertEvents(tx *gorm.DB, evs []Event) (int, error) {
	created := tx.NowFunc()
	for i := range evs {
		if evs[i].CreatedAt.IsZero() {
			evs[i].CreatedAt = created
		}
		if evs[i].Properties == nil {
			evs[i].Properties = db.JSONMap{}
		}
	}
	if db.IsPostgres(tx) {
		return insertEventsPostgres(tx, evs)
	}
	return insertEventsSQLite(tx, evs)
}

func insertEventsPostgres(tx *gorm.DB, evs []Event) (int, error) {
	n := len(evs)
	var (
		contact   = make([]int64, n)
		typ       = make([]string, n)
		occurred  = make([]time.Time, n)
		campaign  = make([]*int64, n)
		link      = make([]*int64, n)
		amount    = make([]int64, n)
		currency  = make([]string, n)
		order     = make([]string, n)
		props     = make([]string, n)
		machine   = make([]bool, n)
		dedupe    = make([]*string, n)
		createdAt = make([]time.Time, n)
	)
	for i, ev := range evs {
		p, err := ev.Properties.Value()
		if err != nil {
			return 0, err
		}
		contact[i], typ[i], occurred[i] = ev.ContactID, ev.Type, ev.OccurredAt
		campaign[i], link[i], amount[i] = ev.CampaignID, ev.LinkID, ev.Amount
		currency[i], order[i], props[i] = ev.Currency, ev.OrderID, p.(string)
		machine[i], dedupe[i], createdAt[i] = ev.Machine, ev.DedupeKey, ev.CreatedAt
	}
	// unnest reads the arrays in step, in order.
	q := `INSERT INTO events (` + eventColumns + `)
		SELECT c, t, o, ca, l, a, cu, oi, p::jsonb, m, k, cr
		FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::bigint[], $5::bigint[], $6::bigint[],
			$7::text[], $8::text[], $9::text[], $10::boolean[], $11::text[], $12::timestamptz[])
			AS v(c, t, o, ca, l, a, cu, oi, p, m, k, cr)
		ON CONFLICT DO NOTHING RETURNING id`
	return scanInsertedIDs(tx, evs, q,
		contact, typ, occurred, campaign, link, amount, currency, order, props, machine, dedupe, createdAt)
}

func insertEventsSQLite(tx *gorm.DB, evs []Event) (int, error) {
	// The events go as one JSON array of rows, read by json_each: one
	// argument to bind, one statement to parse. Times are written as the
	// driver writes a time.Time argument, so that they compare as text
	// with the rest.
	b := make([]byte, 0, 160*len(evs))
	b = append(b, '[')
	for i := range evs {
		ev := &evs[i]
		p, err := ev.Properties.Value()
		if err != nil {
			return 0, err
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, ev.ContactID, 10)
		b = append(b, ',')
		b = jsonstr.Append(b, ev.Type)
		b = append(b, ',')
		b = jsonstr.Append(b, ev.OccurredAt.Format(sqliteTimeFormat))
		b = append(b, ',')
		b = appendJSONInt(b, ev.CampaignID)
		b = append(b, ',')
		b = appendJSONInt(b, ev.LinkID)
		b = append(b, ',')
		b = strconv.AppendInt(b, ev.Amount, 10)
		b = append(b, ',')
		b = jsonstr.Append(b, ev.Currency)
		b = append(b, ',')
		b = jsonstr.Append(b, ev.OrderID)
		b = append(b, ',')
		b = jsonstr.Append(b, p.(string))
		if ev.Machine {
			b = append(b, ",1,"...)
		} else {
			b = append(b, ",0,"...)
		}
		if ev.DedupeKey != nil {
			b = jsonstr.Append(b, *ev.DedupeKey)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, ',')
		b = jsonstr.Append(b, ev.CreatedAt.Format(sqliteTimeFormat))
		b = append(b, ']')
	}
	b = append(b, ']')
	// "WHERE true" tells SQLite's parser that ON CONFLICT belongs to the
	// INSERT, not to a join.
	q := `INSERT INTO events (` + eventColumns + `)
		SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5,
			value->>6, value->>7, value->>8, value->>9, value->>10, value->>11
		FROM json_each(?) WHERE true ORDER BY key
		ON CONFLICT DO NOTHING RETURNING id`
	return scanInsertedIDs(tx, evs, q, string(b))
}

// sqliteTimeFormat is how the SQLite driver writes a time.Time argument.
const sqliteTimeFormat = "2006-01-02 15:04:05.999999999-07:00"

func appendJSONInt(b []byte, v *int64) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, *v, 10)
}

// scanInsertedIDs runs an INSERT ... RETURNING id of evs and sets their
// ids: the rows are inserted in the events' order, so the ids handed out
// rise with the events' positions.
func scanInsertedIDs(tx *gorm.DB, evs []Event, q string, args ...any) (int, error) {
	ids, err := queryColumn[int64](tx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("insert events: %w", err)
	}
	// With a row skipped (its dedupe key was stored concurrently) the ids
	// cannot be told apart; the caller starts the batch again.
	if len(ids) == len(evs) {
		slices.Sort(ids)
		for i := range evs {
			evs[i].ID = ids[i]
		}
	}
	return len(ids), nil
}

// queryColumn runs a query of one column in the transaction, with its
// arguments as they are (GORM would spread a slice into a list).
func queryColumn[T any](tx *gorm.DB, q string, args ...any) ([]T, error) {
	rows, err := tx.Statement.ConnPool.QueryContext(tx.Statement.Context, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
