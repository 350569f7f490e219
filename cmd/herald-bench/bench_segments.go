package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"herald/internal/app"
	"herald/internal/demodata"
	"io"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"gorm.io/gorm"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/db"
	"herald/internal/settings"
	"herald/segments"
)

const benchSegmentsUsage = `Usage: herald-bench segments [flags]

Generates contacts, their purchases, visits, campaigns sent to them and
their opens and clicks (deterministic for a seed and a day), computes the
activity roll-ups in bulk, then times for every built-in segment template:
the preview count (median of 3), a preview with a sample of 10, creating
the segment (its first refresh, which materialises every member) and a
second full refresh; and the delay from a purchase recorded through the
contact store to the membership change, through the real queue and a
running worker. It prints the query plans of a few templates.

PostgreSQL: give --database-url postgres://...?search_path=bench_NAME; the
schema is created if missing. Without search_path the database must be
empty (or hold this bench's data, with --reuse).
`

// segBenchFlags are the flags of `herald-bench segments`.
type segBenchFlags struct {
	databaseURL string
	redisURL    string
	contacts    int
	events      int
	seed        uint64
	reuse       bool
}

// benchSegments is `herald-bench segments`.
func benchSegments(ctx context.Context, args []string, out io.Writer) error {
	var f segBenchFlags
	fs := flag.NewFlagSet("herald-bench segments", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchSegmentsUsage, "\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&f.databaseURL, "database-url", "", "sqlite://FILE or postgres://... (default: an SQLite file in a new temporary directory, removed afterwards)")
	fs.StringVar(&f.redisURL, "redis-url", "", "redis://host:6379/N for the queue (default: embedded)")
	fs.IntVar(&f.contacts, "contacts", 1000000, "contacts to generate")
	fs.IntVar(&f.events, "events", 10000000, "events to generate (about)")
	fs.Uint64Var(&f.seed, "seed", 1, "random seed of the generated data")
	fs.BoolVar(&f.reuse, "reuse", false, "skip generation when the database already holds the data of these flags")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.contacts < 100 || f.events < 0 {
		return errors.New("bench segments: --contacts must be at least 100 and --events not negative")
	}
	b := &segBench{f: f, out: out}
	defer b.cleanup()
	return b.run(ctx)
}

// segBench is one run of `herald-bench segments`.
type segBench struct {
	f       segBenchFlags
	out     io.Writer
	app     *app.App
	pg      bool
	now     time.Time // the generated data's "today"
	closers []func()
}

func (b *segBench) cleanup() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
}

// segBenchRow is one line of the results table.
type segBenchRow struct {
	key                         string
	members                     int64
	count, preview, create, ref time.Duration
}

func (b *segBench) run(ctx context.Context) error {
	dbURL := b.f.databaseURL
	if dbURL == "" {
		dir, err := os.MkdirTemp("", "herald-bench-segments-")
		if err != nil {
			return fmt.Errorf("bench segments: %w", err)
		}
		b.closers = append(b.closers, func() { os.RemoveAll(dir) })
		dbURL = "sqlite://" + filepath.Join(dir, "herald.db")
	}
	b.pg = strings.HasPrefix(dbURL, "postgres://") || strings.HasPrefix(dbURL, "postgresql://")
	if b.pg {
		if err := segBenchSchema(ctx, dbURL); err != nil {
			return err
		}
	}
	cfg := &app.Config{
		DatabaseURL: dbURL, RedisURL: b.f.redisURL, BaseURL: "http://127.0.0.1:8080", AdminEmail: "admin@example.com",
		WorkerConcurrency: 8, SMTPPool: 1, EmbeddedRedisAddr: "127.0.0.1:0", EmbeddedSMTPAddr: "127.0.0.1:0",
		AttributionDays: 5, RefreshEvery: "24h",
	}
	app, err := app.New(ctx, cfg, newLogger("error", os.Stderr), io.Discard, false, true, app.Options{})
	if err != nil {
		return err
	}
	b.app = app
	b.closers = append(b.closers, app.Close)

	benchHeader(b.out, "segments")
	redisNote := "embedded (in this process)"
	if b.f.redisURL != "" {
		redisNote = db.Redact(b.f.redisURL)
	}
	fmt.Fprintf(b.out, "database: %s\nredis:    %s\n", db.Redact(dbURL), redisNote)

	if err := b.prepareData(ctx); err != nil {
		return err
	}
	rows, err := b.timeTemplates(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "template\tmembers\tcount ms\tpreview ms\tcreate ms\trefresh ms\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t\n", r.key, r.members, ms(r.count), ms(r.preview), ms(r.create), ms(r.ref))
	}
	tw.Flush()
	fmt.Fprintln(b.out, "count: Preview without a sample, median of 3; preview: with a sample of 10, median of 3;")
	fmt.Fprintln(b.out, "create: Create, whose first refresh records every member; refresh: a second full Refresh.")

	if err := b.timeEventToMembership(ctx); err != nil {
		return err
	}
	if err := b.explain(ctx); err != nil {
		return err
	}
	st := readProcStats()
	fmt.Fprintf(b.out, "peak RSS %.0f MiB, CPU %.1f s (this process; the database server is not counted)\n", st.PeakRSSMiB, st.CPUSeconds)
	return nil
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64)
}

// segBenchSchema creates the schema named by search_path, so that a run
// can have a PostgreSQL schema of its own.
func segBenchSchema(ctx context.Context, dbURL string) error {
	u, err := url.Parse(dbURL)
	if err != nil {
		return fmt.Errorf("bench segments: --database-url: %w", err)
	}
	schema := u.Query().Get("search_path")
	if schema == "" {
		return nil
	}
	if !regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`).MatchString(schema) {
		return fmt.Errorf("bench segments: search_path %q: use lower-case letters, digits and _", schema)
	}
	g, err := db.Open(ctx, dbURL, newLogger("error", os.Stderr))
	if err != nil {
		return err
	}
	defer func() {
		if sqlDB, err := g.DB(); err == nil {
			sqlDB.Close()
		}
	}()
	if err := g.WithContext(ctx).Exec("CREATE SCHEMA IF NOT EXISTS " + schema).Error; err != nil {
		return fmt.Errorf("bench segments: create schema %s: %w", schema, err)
	}
	return nil
}

// segBenchMarkerKey is the setting that records which data a database
// holds, so that --reuse can skip generating it again.
const segBenchMarkerKey = "bench_segments_data"

type segBenchMarker struct {
	Contacts int       `json:"contacts"`
	Events   int       `json:"events"`
	Seed     uint64    `json:"seed"`
	Now      time.Time `json:"now"`
}

// prepareData generates the data, or finds it there with --reuse.
func (b *segBench) prepareData(ctx context.Context) error {
	st := settings.NewStore(b.app.DB)
	var n int64
	if err := b.app.DB.WithContext(ctx).Model(&contacts.Contact{}).Count(&n).Error; err != nil {
		return fmt.Errorf("bench segments: %w", err)
	}
	if n > 0 {
		raw, ok, err := st.Get(ctx, segBenchMarkerKey)
		if err != nil {
			return fmt.Errorf("bench segments: %w", err)
		}
		var m segBenchMarker
		if ok {
			ok = json.Unmarshal([]byte(raw), &m) == nil
		}
		if !b.f.reuse || !ok || m.Contacts != b.f.contacts || m.Events != b.f.events || m.Seed != b.f.seed {
			return fmt.Errorf("bench segments: the database has %d contacts that are not this bench's data for these flags (use an empty database, a new search_path, or --reuse with the flags that made it)", n)
		}
		b.now = m.Now
		fmt.Fprintf(b.out, "data:     reused (%d contacts, seed %d, generated for %s)\n", n, m.Seed, m.Now.Format("2006-01-02"))
		// Segments of an earlier run would be refreshed by the events below.
		for _, q := range []string{"DELETE FROM segment_members", "DELETE FROM segment_changes", "DELETE FROM segments"} {
			if err := b.app.DB.WithContext(ctx).Exec(q).Error; err != nil {
				return fmt.Errorf("bench segments: clear segments: %w", err)
			}
		}
		return nil
	}
	// Today at midnight UTC: the same seed gives the same data all day.
	b.now = time.Now().UTC().Truncate(24 * time.Hour)
	if err := b.generate(ctx); err != nil {
		return err
	}
	m, _ := json.Marshal(segBenchMarker{Contacts: b.f.contacts, Events: b.f.events, Seed: b.f.seed, Now: b.now})
	if err := st.Set(ctx, segBenchMarkerKey, string(m)); err != nil {
		return fmt.Errorf("bench segments: %w", err)
	}
	return nil
}

// segBenchCampaigns is how many campaigns the generated shop sent, every
// 15 days back from 3 days ago, each to about segBenchReach of the
// contacts subscribed by then.
const (
	segBenchCampaigns = 8
	segBenchReach     = 0.35
)

// segBenchChunk is what the generator hands the loader: the rows of a run
// of contacts, inserted in one transaction.
type segBenchChunk struct {
	contacts, events, deliveries [][]any
}

// The columns the loader writes, in the order segGen builds rows.
func segContactCols() []string {
	return []string{"id", "email", "first_name", "last_name", "city", "country", "language", "timezone", "birthday", "birthday_md", "anniversary", "anniversary_md", "family_status", "source", "signup_at", "status", "attributes", "created_at", "updated_at"}
}

func segEventCols() []string {
	return []string{"contact_id", "type", "occurred_at", "campaign_id", "amount", "currency", "order_id", "properties", "machine", "created_at"}
}

func segDeliveryCols() []string {
	return []string{"campaign_id", "contact_id", "status", "batch", "attempts", "claim", "sent_at", "error", "created_at"}
}

// generate writes the contacts, events and deliveries, then the roll-ups.
// A goroutine generates chunks while this one inserts the previous one.
func (b *segBench) generate(ctx context.Context) error {
	start := time.Now()
	campaignIDs, sentAt, err := b.createCampaigns(ctx)
	if err != nil {
		return err
	}
	// Indexes are dropped for the load and built again afterwards by the
	// migrations, as one would for a bulk import: building an index from
	// sorted data is much faster than maintaining it row by row.
	indexes, err := b.secondaryIndexes(ctx)
	if err != nil {
		return err
	}
	for _, name := range indexes {
		if err := b.app.DB.WithContext(ctx).Exec("DROP INDEX " + name).Error; err != nil {
			return fmt.Errorf("bench segments: drop index %s: %w", name, err)
		}
	}
	const perChunk = 5000
	chunks := make(chan segBenchChunk, 2)
	genCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(chunks)
		g := newSegGen(b.f, b.now, campaignIDs, sentAt)
		for first := 1; first <= b.f.contacts; first += perChunk {
			c := g.chunk(first, min(first+perChunk-1, b.f.contacts))
			select {
			case chunks <- c:
			case <-genCtx.Done():
				return
			}
		}
	}()
	sqlDB, err := b.app.DB.DB()
	if err != nil {
		return fmt.Errorf("bench segments: %w", err)
	}
	var nContacts, nEvents, nDeliveries int
	lastReport := time.Now()
	for c := range chunks {
		if err := b.load(ctx, sqlDB, c); err != nil {
			return err
		}
		nContacts += len(c.contacts)
		nEvents += len(c.events)
		nDeliveries += len(c.deliveries)
		if time.Since(lastReport) > 30*time.Second {
			lastReport = time.Now()
			fmt.Fprintf(os.Stderr, "bench segments: %d/%d contacts, %d events loaded in %s\n", nContacts, b.f.contacts, nEvents, time.Since(start).Round(time.Second))
		}
	}
	if b.pg {
		// Ids were given explicitly; the sequence must move past them.
		if err := b.app.DB.WithContext(ctx).Exec("SELECT setval(pg_get_serial_sequence('contacts', 'id'), (SELECT MAX(id) FROM contacts))").Error; err != nil {
			return fmt.Errorf("bench segments: contacts sequence: %w", err)
		}
	}
	loaded := time.Since(start)
	rows := nContacts + nEvents + nDeliveries
	fmt.Fprintf(b.out, "generated %d contacts, %d events, %d deliveries (%d campaigns) in %s: %.0f rows/s\n",
		nContacts, nEvents, nDeliveries, len(campaignIDs), loaded.Round(time.Millisecond), float64(rows)/loaded.Seconds())

	t := time.Now()
	if err := app.Migrate(b.app.DB.WithContext(ctx)); err != nil {
		return err
	}
	again, err := b.secondaryIndexes(ctx)
	if err != nil {
		return err
	}
	for _, name := range indexes {
		if !slices.Contains(again, name) {
			return fmt.Errorf("bench segments: the migrations did not build index %s again", name)
		}
	}
	fmt.Fprintf(b.out, "built %d indexes again in %s\n", len(indexes), time.Since(t).Round(time.Millisecond))

	t = time.Now()
	if err := b.rollups(ctx); err != nil {
		return err
	}
	rollups := time.Since(t)
	t = time.Now()
	// Statistics as a production database would have them (autovacuum
	// on PostgreSQL); VACUUM also sets the visibility map that
	// index-only scans need.
	stmts := []string{"ANALYZE"}
	if b.pg {
		stmts = []string{"VACUUM ANALYZE contacts", "VACUUM ANALYZE events", "VACUUM ANALYZE deliveries"}
	}
	for _, q := range stmts {
		if err := b.app.DB.WithContext(ctx).Exec(q).Error; err != nil {
			return fmt.Errorf("bench segments: %s: %w", q, err)
		}
	}
	fmt.Fprintf(b.out, "roll-ups in bulk SQL %s; %s %s\n", rollups.Round(time.Millisecond), strings.Join(stmts, ", "), time.Since(t).Round(time.Millisecond))
	return nil
}

// secondaryIndexes lists the indexes of the tables the generator fills,
// but those that belong to primary keys.
func (b *segBench) secondaryIndexes(ctx context.Context) ([]string, error) {
	q := "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ('contacts', 'events', 'deliveries') ORDER BY name"
	if b.pg {
		q = `SELECT i.indexname FROM pg_indexes i WHERE i.schemaname = current_schema() AND i.tablename IN ('contacts', 'events', 'deliveries')
			AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.contype = 'p') ORDER BY i.indexname`
	}
	var names []string
	if err := b.app.DB.WithContext(ctx).Raw(q).Scan(&names).Error; err != nil {
		return nil, fmt.Errorf("bench segments: list indexes: %w", err)
	}
	return names, nil
}

// createCampaigns stores the sent campaigns, oldest first.
func (b *segBench) createCampaigns(ctx context.Context) ([]int64, []time.Time, error) {
	var ids []int64
	var at []time.Time
	for i := segBenchCampaigns - 1; i >= 0; i-- {
		sent := b.now.Add(-time.Duration(3+15*i)*24*time.Hour + 10*time.Hour)
		c := campaigns.Campaign{
			Name: fmt.Sprintf("Newsletter %s", sent.Format("2006-01-02")), Subject: "News", FromEmail: "news@shop.example",
			Status: campaigns.CampaignSent, StartedAt: &sent, FinishedAt: &sent, LaunchedAt: &sent,
		}
		if err := b.app.DB.WithContext(ctx).Create(&c).Error; err != nil {
			return nil, nil, fmt.Errorf("bench segments: create campaign: %w", err)
		}
		ids = append(ids, c.ID)
		at = append(at, sent)
	}
	return ids, at, nil
}

// load inserts one chunk in one transaction, in multi-row statements.
func (b *segBench) load(ctx context.Context, sqlDB *sql.DB, c segBenchChunk) error {
	tx, err := sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("bench segments: begin: %w", err)
	}
	defer tx.Rollback()
	for _, t := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"contacts", segContactCols(), c.contacts},
		{"events", segEventCols(), c.events},
		{"deliveries", segDeliveryCols(), c.deliveries},
	} {
		if err := b.insert(ctx, tx, t.table, t.cols, t.rows); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("bench segments: commit: %w", err)
	}
	return nil
}

// insert writes rows in statements of many rows each: about 1,000
// arguments on SQLite, where the pure-Go driver binds them in quadratic
// time (batches above 1,000 rows collapse), and up to 30,000 on PostgreSQL, where fewer round trips win.
func (b *segBench) insert(ctx context.Context, tx *sql.Tx, table string, cols []string, rows [][]any) error {
	budget := 1000
	if b.pg {
		budget = 30000
	}
	per := max(1, budget/len(cols))
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, per*len(cols))
	for start := 0; start < len(rows); start += per {
		batch := rows[start:min(start+per, len(rows))]
		args = args[:0]
		for _, r := range batch {
			args = append(args, r...)
		}
		var err error
		if len(batch) == per {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, b.insertSQL(table, cols, per)); err != nil {
					return fmt.Errorf("bench segments: prepare insert into %s: %w", table, err)
				}
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, b.insertSQL(table, cols, len(batch)), args...)
		}
		if err != nil {
			return fmt.Errorf("bench segments: insert into %s: %w", table, err)
		}
	}
	return nil
}

func (b *segBench) insertSQL(table string, cols []string, n int) string {
	var sb strings.Builder
	sb.WriteString("INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES ")
	p := 0
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteByte('(')
		for j := range cols {
			if j > 0 {
				sb.WriteString(", ")
			}
			p++
			if b.pg {
				sb.WriteString("$" + strconv.Itoa(p))
			} else {
				sb.WriteByte('?')
			}
		}
		sb.WriteByte(')')
	}
	return sb.String()
}

// rollups computes the activity roll-ups of every contact from the events
// in one grouped pass per range of contacts, as contacts.Store keeps them
// (purchases re-aggregated; human opens and clicks only).
func (b *segBench) rollups(ctx context.Context) error {
	human := "machine = 0"
	avg := "(julianday(a.l) - julianday(a.f)) / (a.n - 1)"
	if b.pg {
		human = "machine = FALSE"
		avg = "EXTRACT(EPOCH FROM (a.l - a.f)) / 86400.0 / (a.n - 1)"
	}
	q := `UPDATE contacts SET orders_count = a.n, total_spent = a.s, first_purchase_at = a.f, last_purchase_at = a.l,
	avg_days_between_purchases = CASE WHEN a.n > 1 THEN ` + avg + ` END,
	last_visit_at = a.v, last_open_at = a.o, last_click_at = a.c
FROM (SELECT contact_id,
	SUM(CASE WHEN type = 'purchase' THEN 1 ELSE 0 END) AS n,
	SUM(CASE WHEN type = 'purchase' THEN amount ELSE 0 END) AS s,
	MIN(CASE WHEN type = 'purchase' THEN occurred_at END) AS f,
	MAX(CASE WHEN type = 'purchase' THEN occurred_at END) AS l,
	MAX(CASE WHEN type = 'visit' THEN occurred_at END) AS v,
	MAX(CASE WHEN type = 'email.open' AND ` + human + ` THEN occurred_at END) AS o,
	MAX(CASE WHEN type = 'email.click' AND ` + human + ` THEN occurred_at END) AS c
	FROM events WHERE contact_id BETWEEN ? AND ? GROUP BY contact_id) AS a
WHERE contacts.id = a.contact_id`
	const step = 50000
	for lo := 1; lo <= b.f.contacts; lo += step {
		if err := b.app.DB.WithContext(ctx).Exec(q, lo, lo+step-1).Error; err != nil {
			return fmt.Errorf("bench segments: roll-ups: %w", err)
		}
	}
	return nil
}

// segGen generates the shop's data from one seeded source, contact after
// contact, so that a seed always gives the same rows.
type segGen struct {
	r          *rand.Rand
	now        time.Time
	campaigns  []int64
	sentAt     []time.Time
	visitsMean float64

	countries, sourceWeights, statusWeights []int
	sources, statuses                       []string
}

func newSegGen(f segBenchFlags, now time.Time, campaignIDs []int64, sentAt []time.Time) *segGen {
	// Purchases average about 3 per contact and email events about 0.8
	// (measured); visits make up the rest of --events.
	perContact := float64(f.events) / float64(f.contacts)
	g := &segGen{
		r: rand.New(rand.NewPCG(f.seed, 0x5e65)), now: now, campaigns: campaignIDs, sentAt: sentAt,
		visitsMean: math.Max(0, perContact-3.0-0.8),
	}
	g.countries, g.sources, g.sourceWeights, g.statuses, g.statusWeights = segMix()
	return g
}

// weighted picks an index by integer weights.
func (g *segGen) weighted(weights []int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := g.r.IntN(total)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

// The shop's mix: weights of demo.go's people (by country: NL IL EG IR
// JP US DE GR IN BR PL KR), of signup sources and of statuses.
func segMix() (countries []int, sources []string, sourceWeights []int, statuses []string, statusWeights []int) {
	return []int{10, 4, 3, 4, 7, 30, 12, 4, 8, 8, 5, 5},
		[]string{"website", "instagram", "facebook_ad", "store", "referral", "newsletter_form", "import"}, []int{40, 15, 12, 10, 8, 8, 7},
		[]string{"subscribed", "unsubscribed", "bounced", "complained"}, []int{92, 5, 2, 1}
}

func (g *segGen) daysAgo(d float64) time.Time {
	return g.now.Add(-time.Duration(d * float64(24*time.Hour))).Truncate(time.Second)
}

// between returns a time uniformly between a and b (a before b).
func (g *segGen) between(a, b time.Time) time.Time {
	if !b.After(a) {
		return a
	}
	return a.Add(time.Duration(g.r.Int64N(int64(b.Sub(a))))).Truncate(time.Second)
}

func (g *segGen) chunk(first, last int) segBenchChunk {
	var c segBenchChunk
	for id := first; id <= last; id++ {
		g.contact(int64(id), &c)
	}
	return c
}

// contact generates one contact and all of its activity.
func (g *segGen) contact(id int64, c *segBenchChunk) {
	r := g.r
	p := demodata.People[g.weighted(g.countries)]
	pick := func(l []string) string { return l[r.IntN(len(l))] }
	var signup time.Time
	if r.IntN(10) == 0 {
		signup = g.daysAgo(r.Float64() * 30) // the new subscribers
	} else {
		signup = g.daysAgo(30 + r.Float64()*1795)
	}
	birthday, bmd := "", 0
	if r.IntN(100) < 85 {
		d := time.Date(1950+r.IntN(57), 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(365))
		birthday, bmd = d.Format("2006-01-02"), int(d.Month())*100+d.Day()
	}
	anniversary, amd := "", 0
	if r.IntN(100) < 25 {
		d := time.Date(1980+r.IntN(45), 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(365))
		anniversary, amd = d.Format("2006-01-02"), int(d.Month())*100+d.Day()
	}
	status := g.statuses[g.weighted(g.statusWeights)]
	c.contacts = append(c.contacts, []any{
		id, fmt.Sprintf("c%08d@bench.example", id), pick(p.First), pick(p.Last), pick(p.Cities), p.Country, p.Lang, p.TZ,
		birthday, bmd, anniversary, amd, pick(demodata.Family), g.sources[g.weighted(g.sourceWeights)], signup, status, "{}", signup, signup,
	})

	// Activity: when the contact was last active, and how much they buy.
	var lastActive time.Time
	switch x := r.IntN(100); {
	case x < 35:
		lastActive = g.daysAgo(r.Float64() * 60)
	case x < 55:
		lastActive = g.daysAgo(60 + r.Float64()*120)
	default:
		lastActive = g.daysAgo(180 + r.Float64()*820)
	}
	if lastActive.Before(signup) {
		lastActive = g.between(signup, g.now)
	}
	orders := 0
	switch x := r.IntN(100); {
	case x < 35:
	case x < 65:
		orders = 1
	case x < 90:
		orders = 2 + r.IntN(4)
	default:
		orders = 6 + r.IntN(25)
	}
	for i := 0; i < orders; i++ {
		at := lastActive
		if i > 0 {
			at = g.between(signup, lastActive)
		}
		amount := int64(1000 + math.Min(r.ExpFloat64()*4000, 95000))
		props := `{"category":"` + pick(demodata.Categories) + `"}`
		c.events = append(c.events, []any{id, contacts.EventPurchase, at, nil, amount, "EUR", fmt.Sprintf("o%d-%d", id, i), props, false, at})
	}
	// Uniform from 0 to twice the mean, rounded so that the mean holds.
	visits := int(2*g.visitsMean*r.Float64() + r.Float64())
	for i := 0; i < visits; i++ {
		at := g.between(signup, lastActive)
		c.events = append(c.events, []any{id, contacts.EventVisit, at, nil, int64(0), "", "", "{}", false, at})
	}

	// Campaigns: subscribed contacts get some of those sent after they
	// signed up; how often they open depends on how engaged they are.
	if status != "subscribed" {
		return
	}
	openRate := []float64{0, 0.15, 0.6}[g.weighted([]int{40, 35, 25})]
	for i, cid := range g.campaigns {
		sent := g.sentAt[i]
		if sent.Before(signup) || r.Float64() >= segBenchReach {
			continue
		}
		c.deliveries = append(c.deliveries, []any{cid, id, string(campaigns.DeliverySent), 1, 1, "", sent, "", sent})
		if r.Float64() < 0.08 { // a privacy proxy fetches the pixel
			at := sent.Add(time.Duration(r.IntN(600)) * time.Second)
			c.events = append(c.events, []any{id, contacts.EventOpen, at, cid, int64(0), "", "", "{}", true, at})
		}
		if r.Float64() < openRate {
			at := sent.Add(time.Duration(r.IntN(72*3600)) * time.Second)
			c.events = append(c.events, []any{id, contacts.EventOpen, at, cid, int64(0), "", "", "{}", false, at})
			if r.IntN(10) < 3 {
				at = at.Add(time.Duration(r.IntN(600)) * time.Second)
				c.events = append(c.events, []any{id, contacts.EventClick, at, cid, int64(0), "", "", "{}", false, at})
			}
		}
	}
}

// segBenchParams are the parameters the bench gives templates that
// require some; the others run on their defaults.
func (b *segBench) templateParams(ctx context.Context, key string) (json.RawMessage, error) {
	switch key {
	case "country":
		return json.RawMessage(`{"country":"NL"}`), nil
	case "signup_source":
		return json.RawMessage(`{"source":"instagram"}`), nil
	case "viewed_not_bought":
		// The campaign before the latest: its openers had 15 days to buy.
		var ids []int64
		if err := b.app.DB.WithContext(ctx).Model(&campaigns.Campaign{}).Order("id DESC").Limit(2).Pluck("id", &ids).Error; err != nil {
			return nil, fmt.Errorf("bench segments: %w", err)
		}
		if len(ids) < 2 {
			return nil, errors.New("bench segments: fewer than two campaigns")
		}
		return json.RawMessage(fmt.Sprintf(`{"campaign_id":%d}`, ids[1])), nil
	}
	return nil, nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// segBenchRules are engagement rules timed on their own, besides the
// templates engaged and unengaged that combine them.
var segBenchRules = []struct{ key, def string }{
	{"opened any_of_last 5", `{"field":"opened","op":"any_of_last","value":5}`},
	{"opened none_of_last 5", `{"field":"opened","op":"none_of_last","value":5}`},
	{"opened all_of_last 3", `{"field":"opened","op":"all_of_last","value":3}`},
	{"clicked any_of_last 5", `{"field":"clicked","op":"any_of_last","value":5}`},
	{"opened+machines none_of_last 2", `{"field":"opened","op":"none_of_last","value":2,"machines":true}`},
}

// timeTemplates previews, creates and refreshes every template, then the
// engagement rules of segBenchRules.
func (b *segBench) timeTemplates(ctx context.Context) ([]segBenchRow, error) {
	svc := b.app.Segments
	var rows []segBenchRow
	for _, tpl := range svc.Templates() {
		params, err := b.templateParams(ctx, tpl.Key)
		if err != nil {
			return nil, err
		}
		_, def, err := svc.FromTemplate(tpl.Key, params)
		if err != nil {
			return nil, err
		}
		key := tpl.Key
		row, err := b.timeSegment(ctx, tpl.Key, def, segments.Input{Template: &key, Params: params})
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	for _, r := range segBenchRules {
		name := "bench: " + r.key
		row, err := b.timeSegment(ctx, r.key, []byte(r.def), segments.Input{Name: &name, Definition: json.RawMessage(r.def)})
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// timeSegment previews def, creates the segment of in (whose definition
// is def) and refreshes it.
func (b *segBench) timeSegment(ctx context.Context, key string, def []byte, in segments.Input) (segBenchRow, error) {
	svc := b.app.Segments
	row := segBenchRow{key: key}
	var counts, previews []time.Duration
	for i := 0; i < 3; i++ {
		t := time.Now()
		n, _, err := svc.Preview(ctx, def, 0)
		if err != nil {
			return row, fmt.Errorf("bench segments: preview %s: %w", key, err)
		}
		counts = append(counts, time.Since(t))
		row.members = n
		t = time.Now()
		if _, _, err := svc.Preview(ctx, def, 10); err != nil {
			return row, fmt.Errorf("bench segments: preview %s: %w", key, err)
		}
		previews = append(previews, time.Since(t))
	}
	row.count, row.preview = median(counts), median(previews)
	t := time.Now()
	seg, err := svc.Create(ctx, in)
	if err != nil {
		return row, fmt.Errorf("bench segments: create %s: %w", key, err)
	}
	row.create = time.Since(t)
	// A definition relative to the clock may gain or lose a contact
	// between the preview and the create; any other must agree.
	if seg.MemberCount != row.members && !seg.TimeRelative {
		return row, fmt.Errorf("bench segments: %s: the preview counts %d, the segment holds %d", key, row.members, seg.MemberCount)
	}
	row.members = seg.MemberCount
	t = time.Now()
	if _, err := svc.Refresh(ctx, seg.ID); err != nil {
		return row, fmt.Errorf("bench segments: refresh %s: %w", key, err)
	}
	row.ref = time.Since(t)
	return row, nil
}

// segmentByName finds a segment the bench created.
func (b *segBench) segmentByName(ctx context.Context, name string) (int64, error) {
	var id int64
	err := b.app.DB.WithContext(ctx).Model(&segments.Segment{}).Where("name = ?", name).Order("id DESC").Limit(1).Pluck("id", &id).Error
	if err != nil || id == 0 {
		return 0, fmt.Errorf("bench segments: no segment %q: %v", name, err)
	}
	return id, nil
}

func (b *segBench) isMember(ctx context.Context, segID, contactID int64) (bool, error) {
	var n int64
	err := b.app.DB.WithContext(ctx).Model(&segments.Member{}).Where("segment_id = ? AND contact_id = ?", segID, contactID).Count(&n).Error
	return n > 0, err
}

// timeEventToMembership records purchases by one-time buyers through the
// contact store, whose OnChange enqueues a segments:evaluate task on the
// real queue, and times how long until a running worker has moved the
// contact into repeat_buyers (and high_value) and out of one_time_buyers.
func (b *segBench) timeEventToMembership(ctx context.Context) error {
	if err := b.app.Worker.Start(); err != nil {
		return err
	}
	defer b.app.Worker.Stop()
	ids := map[string]int64{}
	for _, tpl := range b.app.Segments.Templates() {
		if tpl.Key == "one_time_buyers" || tpl.Key == "repeat_buyers" || tpl.Key == "high_value" {
			id, err := b.segmentByName(ctx, tpl.Name)
			if err != nil {
				return err
			}
			ids[tpl.Key] = id
		}
	}
	// One-time buyers who are not high value yet: the purchase below
	// moves them in three segments at once.
	var probes []int64
	err := b.app.DB.WithContext(ctx).Model(&segments.Member{}).
		Where("segment_id = ? AND contact_id NOT IN (SELECT contact_id FROM segment_members WHERE segment_id = ?)", ids["one_time_buyers"], ids["high_value"]).
		Order("contact_id").Limit(5).Pluck("contact_id", &probes).Error
	if err != nil {
		return fmt.Errorf("bench segments: %w", err)
	}
	if len(probes) == 0 {
		return errors.New("bench segments: no one-time buyer to record a purchase for")
	}
	var first, all []time.Duration
	for i, id := range probes {
		t0 := time.Now()
		res, err := b.app.Contacts.RecordEvents(ctx, []contacts.EventInput{{
			ContactID: id, Type: contacts.EventPurchase, Amount: 250000, Currency: "EUR",
			OrderID: fmt.Sprintf("probe-%d-%d", id, t0.UnixNano()),
		}})
		if err != nil {
			return err
		}
		if res[0].Err != nil {
			return res[0].Err
		}
		var firstAt time.Duration
		deadline := t0.Add(60 * time.Second)
		for {
			repeat, err := b.isMember(ctx, ids["repeat_buyers"], id)
			if err != nil {
				return err
			}
			if repeat && firstAt == 0 {
				firstAt = time.Since(t0)
			}
			high, err := b.isMember(ctx, ids["high_value"], id)
			if err != nil {
				return err
			}
			once, err := b.isMember(ctx, ids["one_time_buyers"], id)
			if err != nil {
				return err
			}
			if repeat && high && !once {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("bench segments: probe %d: contact %d not moved after 60 s", i, id)
			}
			time.Sleep(5 * time.Millisecond)
		}
		first = append(first, firstAt)
		all = append(all, time.Since(t0))
	}
	fmt.Fprintf(b.out, "event -> membership (purchase through contacts.Store, asynq, a worker): into repeat_buyers median %s ms, max %s ms; all three segments moved median %s ms, max %s ms (%d probes)\n",
		ms(median(first)), ms(slices.Max(first)), ms(median(all)), ms(slices.Max(all)), len(all))
	return nil
}

// explain prints the plans of the count queries of a few templates, to
// show which indexes they use.
func (b *segBench) explain(ctx context.Context) error {
	for _, key := range []string{"high_value", "churn_risk", "signup_source", "unengaged"} {
		params, err := b.templateParams(ctx, key)
		if err != nil {
			return err
		}
		_, def, err := b.app.Segments.FromTemplate(key, params)
		if err != nil {
			return err
		}
		expr, err := b.app.Segments.Compile(ctx, def)
		if err != nil {
			return err
		}
		q := "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM contacts WHERE " + expr.SQL
		if b.pg {
			q = "EXPLAIN SELECT COUNT(*) FROM contacts WHERE " + expr.SQL
		}
		lines, err := explainLines(b.app.DB.WithContext(ctx), b.pg, q, expr.Args)
		if err != nil {
			return err
		}
		fmt.Fprintf(b.out, "plan of %s:\n", key)
		for _, l := range lines {
			fmt.Fprintf(b.out, "  %s\n", l)
		}
	}
	return nil
}

func explainLines(g *gorm.DB, pg bool, q string, args []any) ([]string, error) {
	rows, err := g.Raw(q, args...).Rows()
	if err != nil {
		return nil, fmt.Errorf("bench segments: explain: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		if pg {
			var line string
			if err := rows.Scan(&line); err != nil {
				return nil, err
			}
			out = append(out, line)
			continue
		}
		var id, parent, notUsed int
		var detail string
		if err := rows.Scan(&id, &parent, &notUsed, &detail); err != nil {
			return nil, err
		}
		out = append(out, detail)
	}
	return out, rows.Err()
}
