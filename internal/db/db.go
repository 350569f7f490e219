// Package db opens Herald's database from a URL (an SQLite file by default,
// PostgreSQL in production) with the settings each engine needs, and holds the
// small column types the domain packages share.
package db

import (
	"context"
	"database/sql/driver"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	gosqlite "github.com/glebarez/go-sqlite"
	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialect names as reported by gorm's Dialector.Name().
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Now is the clock every stored timestamp comes from. SQLite stores times as
// text and compares them as text, so every time Herald writes must be in UTC.
func Now() time.Time { return time.Now().UTC() }

// Open connects to the database named by rawURL: "sqlite://path/to/file.db"
// (relative or absolute), "sqlite::memory:" is not supported because several
// connections must see one database; or "postgres://..." / "postgresql://...".
func Open(ctx context.Context, rawURL string, log *slog.Logger) (*gorm.DB, error) {
	cfg := &gorm.Config{
		NowFunc:        Now,
		Logger:         slowLog{log: log, threshold: time.Second},
		TranslateError: true,
	}
	var (
		g   *gorm.DB
		err error
	)
	switch {
	case strings.HasPrefix(rawURL, "sqlite://"):
		if err := registerSQLiteFunctions(); err != nil {
			return nil, err
		}
		path := strings.TrimPrefix(rawURL, "sqlite://")
		if path == "" {
			return nil, fmt.Errorf("db: sqlite URL %q has no file path", rawURL)
		}
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("db: create directory for %s: %w", path, err)
			}
		}
		g, err = gorm.Open(sqlite.Open(sqliteDSN(path)), cfg)
		if err != nil {
			return nil, fmt.Errorf("db: open sqlite %s: %w", path, err)
		}
		sqlDB, err := g.DB()
		if err != nil {
			return nil, fmt.Errorf("db: %w", err)
		}
		// WAL lets readers run beside the single writer; a handful of
		// connections is enough and keeps lock contention short.
		sqlDB.SetMaxOpenConns(8)
		sqlDB.SetMaxIdleConns(8)
		sqlDB.SetConnMaxIdleTime(0)
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		g, err = gorm.Open(postgres.New(postgres.Config{DSN: withoutJIT(rawURL)}), cfg)
		if err != nil {
			return nil, fmt.Errorf("db: open postgres %s: %w", Redact(rawURL), err)
		}
		sqlDB, err := g.DB()
		if err != nil {
			return nil, fmt.Errorf("db: %w", err)
		}
		sqlDB.SetMaxOpenConns(32)
		sqlDB.SetMaxIdleConns(16)
		sqlDB.SetConnMaxLifetime(30 * time.Minute)
	default:
		return nil, fmt.Errorf("db: unsupported database URL %q: use sqlite://FILE or postgres://...", Redact(rawURL))
	}
	sqlDB, _ := g.DB()
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		return nil, fmt.Errorf("db: connect to %s: %w", Redact(rawURL), err)
	}
	return g, nil
}

// withoutJIT sets two PostgreSQL session settings unless the URL sets them:
//   - jit=off: segment queries with correlated subqueries get cost
//     estimates that trigger JIT, and compiling costs 200-400 ms per query,
//     more than the queries themselves;
//   - plan_cache_mode=force_custom_plan: the driver prepares each statement
//     once per connection, and a generic plan made while a table was small
//     (the deliveries of a first campaign, a freshly imported list) stays in
//     use as it grows: a sequential scan of a million deliveries to claim
//     ten. Planning these short statements costs far less.
func withoutJIT(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	if !q.Has("jit") {
		q.Set("jit", "off")
	}
	if !q.Has("plan_cache_mode") {
		q.Set("plan_cache_mode", "force_custom_plan")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// sqliteDSN sets WAL (concurrent readers), a generous busy timeout and
// BEGIN IMMEDIATE so that concurrent writers queue instead of failing with
// SQLITE_BUSY. _time_format must not be added: it silently disables _txlock.
func sqliteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(20000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// The SQLite driver keeps its functions in a registry of its own, per
// process, so they are registered once, on first use.
var sqliteFuncs = sync.OnceValue(func() error {
	return gosqlite.RegisterDeterministicScalarFunction("herald_lower", 1, func(_ *gosqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		switch v := args[0].(type) {
		case string:
			return strings.ToLower(v), nil
		case []byte:
			return strings.ToLower(string(v)), nil
		}
		return args[0], nil
	})
})

// registerSQLiteFunctions adds herald_lower: a LOWER() that folds every
// script's letters the way PostgreSQL does, not only ASCII.
func registerSQLiteFunctions() error {
	if err := sqliteFuncs(); err != nil {
		return fmt.Errorf("db: register sqlite functions: %w", err)
	}
	return nil
}

// IsPostgres tells which SQL dialect a query builder must speak.
func IsPostgres(g *gorm.DB) bool { return g.Dialector.Name() == Postgres }

// Redact hides the password of a URL so it can be printed.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// slowLog reports slow queries, without their arguments (they hold contact
// data). Failed queries are not logged here: their errors go up to the
// caller, which logs them once, at the edge, or expects them (a duplicate
// key that a retry handles).
type slowLog struct {
	log       *slog.Logger
	threshold time.Duration
}

func (l slowLog) LogMode(logger.LogLevel) logger.Interface { return l }
func (l slowLog) Info(context.Context, string, ...any)     {}
func (l slowLog) Warn(context.Context, string, ...any)     {}
func (l slowLog) Error(context.Context, string, ...any)    {}

// ParamsFilter keeps arguments out of the SQL text gorm builds for Trace.
func (l slowLog) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}

func (l slowLog) Trace(_ context.Context, begin time.Time, fc func() (string, int64), err error) {
	if l.log == nil || err != nil {
		return
	}
	if el := time.Since(begin); el > l.threshold {
		sql, rows := fc()
		l.log.Warn("db: slow query", "ms", el.Milliseconds(), "rows", rows, "sql", sql)
	}
}

// InIDs returns a condition that a column is one of ids, to follow the
// column's name, and its one argument: an array on PostgreSQL, a JSON
// array read by json_each on SQLite. A list of hundreds of ids is then one
// argument to bind and a short statement to parse and plan, where GORM
// would bind one argument per id.
func InIDs(g *gorm.DB, ids []int64) (string, any) {
	if IsPostgres(g) {
		return "= ANY(?::bigint[])", string(appendIDs(nil, ids, '{', '}'))
	}
	return "IN (SELECT value FROM json_each(?))", JSONIDs(ids)
}

// Int64Array is a PostgreSQL bigint[] parameter: its text form keeps the
// ids one parameter, where GORM spreads a slice into one per id.
type Int64Array []int64

func (a Int64Array) Value() (driver.Value, error) { return string(appendIDs(nil, a, '{', '}')), nil }

// JSONIDs is ids as a JSON array, for json_each on SQLite.
func JSONIDs(ids []int64) string { return string(appendIDs(nil, ids, '[', ']')) }

func appendIDs(b []byte, ids []int64, open, shut byte) []byte {
	b = append(b, open)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return append(b, shut)
}
