package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"herald/internal/app"
	"herald/internal/childproc"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
	"gorm.io/gorm"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/db"
	"herald/internal/embedredis"
	"herald/segments"
)

const benchSendUsage = `Usage: herald-bench send [flags]

Seeds N contacts in a database of its own (a temporary SQLite file, or a new
schema of HERALD_DATABASE_URL's PostgreSQL), sends them a personalised
campaign (the "birthday" starter, about 6 KB of HTML, with first names)
through Herald workers to an SMTP sink, and reports messages per second from
launch to the last message the sink accepted, wall time, peak RSS and CPU
per 1,000 messages of each process. With no HERALD_REDIS_URL an embedded
Redis runs in this process and the workers connect to it.

The sink: --sink DIR builds and runs ../shared/tools/smtpsink (or runs a
built binary) as a separate process; --smtp-url sends to any server (the
sink's count is then not read); neither runs a counting sink in this process.
`

// benchSendFlags are the flags of `herald-bench send`.
type benchSendFlags struct {
	contacts   int
	workers    int
	sink       string
	claimSize  int
	cpuProfile string
	keep       bool
}

// benchSend is `herald-bench send`.
func benchSend(ctx context.Context, args []string, out io.Writer) error {
	var f benchSendFlags
	var fs *flag.FlagSet
	cfg, err := parseConfig("bench send", args, func(set *flag.FlagSet) {
		fs = set
		set.Usage = func() {
			fmt.Fprint(set.Output(), benchSendUsage, "\nFlags:\n")
			set.PrintDefaults()
		}
		set.IntVar(&f.contacts, "contacts", 100000, "number of recipients")
		set.IntVar(&f.workers, "workers", 1, "`herald worker` processes to run; 0 runs the worker in this process")
		set.StringVar(&f.sink, "sink", "", "smtpsink source directory (built with go build) or binary, run as a separate process")
		set.IntVar(&f.claimSize, "claim-size", 0, "deliveries a sender claims at once (0: Herald's default)")
		set.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the send to this file (with --workers 0)")
		set.BoolVar(&f.keep, "keep", false, "keep the database (and print where it is)")
	})
	if err != nil {
		return err
	}
	if f.contacts <= 0 || f.workers < 0 {
		return errors.New("bench send: --contacts must be positive and --workers not negative")
	}
	dbSet := false
	fs.Visit(func(fl *flag.Flag) { dbSet = dbSet || fl.Name == "database-url" })
	if _, ok := os.LookupEnv("HERALD_DATABASE_URL"); ok {
		dbSet = true
	}
	b := &sendBench{cfg: cfg, f: f, out: out, nonce: app.RandomHex(4)}
	defer b.cleanup()
	return b.run(ctx, dbSet)
}

// sendBench is one run of `herald-bench send`.
type sendBench struct {
	cfg   *app.Config
	f     benchSendFlags
	out   io.Writer
	nonce string

	dbLabel   string
	redisNote string
	sinkNote  string
	sink      benchSink
	app       *app.App
	workers   []*childproc.Proc
	closers   []func()
}

func (b *sendBench) cleanup() {
	for _, w := range b.workers {
		w.Stop()
	}
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
}

func (b *sendBench) run(ctx context.Context, dbSet bool) error {
	if err := b.prepareDatabase(ctx, dbSet); err != nil {
		return err
	}
	if b.cfg.RedisURL == "" {
		srv, err := embedredis.Start("127.0.0.1:0")
		if err != nil {
			return err
		}
		b.closers = append(b.closers, srv.Close)
		b.cfg.RedisURL = srv.URL()
		b.redisNote = "embedded (miniredis in this process)"
	} else {
		b.redisNote = db.Redact(b.cfg.RedisURL)
	}
	if err := b.startSink(ctx); err != nil {
		return err
	}
	benchHeader(b.out, "send")
	fmt.Fprintf(b.out, "database: %s\nredis:    %s\nsink:     %s\n", b.dbLabel, b.redisNote, b.sinkNote)
	fmt.Fprintf(b.out, "workers:  %s, concurrency %d, SMTP pool %d, claim size %s\n",
		map[bool]string{true: "in this process", false: strconv.Itoa(b.f.workers) + " `herald worker` process(es)"}[b.f.workers == 0],
		b.cfg.WorkerConcurrency, b.cfg.SMTPPool, map[bool]string{true: "default", false: strconv.Itoa(b.f.claimSize)}[b.f.claimSize == 0])

	tuning := app.Options{ClaimSize: b.f.claimSize}
	app, err := app.New(ctx, b.cfg, newLogger("warn", os.Stderr), io.Discard, false, b.f.workers == 0, tuning)
	if err != nil {
		return err
	}
	b.app = app
	b.closers = append(b.closers, app.Close)

	start := time.Now()
	if err := b.seed(ctx); err != nil {
		return err
	}
	campaignID, err := b.prepareCampaign(ctx)
	if err != nil {
		return err
	}
	// A list is not sent seconds after a bulk load: by then PostgreSQL's
	// autovacuum (or an operator) has gathered statistics on it, without
	// which the planner reads the whole segment for every launch page.
	if err := app.DB.WithContext(ctx).Exec("ANALYZE contacts").Error; err != nil {
		return fmt.Errorf("bench send: analyze: %w", err)
	}
	fmt.Fprintf(b.out, "seeded %d contacts, a segment and a campaign in %s\n", b.f.contacts, time.Since(start).Round(time.Millisecond))
	if err := b.startWorkers(ctx); err != nil {
		return err
	}

	var profile *os.File
	if b.f.cpuProfile != "" {
		if b.f.workers != 0 {
			return errors.New("bench send: --cpuprofile profiles this process: use it with --workers 0")
		}
		if profile, err = os.Create(b.f.cpuProfile); err != nil {
			return fmt.Errorf("bench send: %w", err)
		}
		defer profile.Close()
		if err := pprof.StartCPUProfile(profile); err != nil {
			return fmt.Errorf("bench send: %w", err)
		}
	}
	before := b.sampleCPU()
	t0 := time.Now()
	if _, err := app.Campaigns.Send(ctx, campaignID, nil); err != nil {
		return err
	}
	if err := b.waitSent(ctx, campaignID, t0); err != nil {
		return err
	}
	wall := time.Since(t0)
	after := b.sampleCPU()
	if profile != nil {
		pprof.StopCPUProfile()
	}
	return b.report(ctx, campaignID, t0, wall, before, after)
}

// prepareDatabase points cfg.DatabaseURL at a database of the bench's own.
func (b *sendBench) prepareDatabase(ctx context.Context, dbSet bool) error {
	switch {
	case !dbSet:
		dir, err := os.MkdirTemp("", "herald-bench-send-")
		if err != nil {
			return fmt.Errorf("bench send: %w", err)
		}
		if b.f.keep {
			fmt.Fprintf(b.out, "keeping the database in %s\n", dir)
		} else {
			b.closers = append(b.closers, func() { os.RemoveAll(dir) })
		}
		b.cfg.DatabaseURL = "sqlite://" + filepath.Join(dir, "herald.db")
		b.dbLabel = "SQLite (temporary file)"
	case strings.HasPrefix(b.cfg.DatabaseURL, "postgres"):
		admin, err := db.Open(ctx, b.cfg.DatabaseURL, nil)
		if err != nil {
			return err
		}
		schema := "herald_bench_" + b.nonce
		if err := admin.Exec("CREATE SCHEMA " + schema).Error; err != nil {
			return fmt.Errorf("bench send: create schema: %w", err)
		}
		b.closers = append(b.closers, func() {
			if b.f.keep {
				fmt.Fprintf(b.out, "keeping schema %s\n", schema)
			} else {
				admin.Exec("DROP SCHEMA " + schema + " CASCADE")
			}
			if sqlDB, err := admin.DB(); err == nil {
				sqlDB.Close()
			}
		})
		u, err := url.Parse(b.cfg.DatabaseURL)
		if err != nil {
			return fmt.Errorf("bench send: %w", err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		// The name finds this run's backends among the server's others.
		q.Set("application_name", schema)
		u.RawQuery = q.Encode()
		b.cfg.DatabaseURL = u.String()
		b.dbLabel = "PostgreSQL " + db.Redact(b.cfg.DatabaseURL)
	default:
		b.dbLabel = db.Redact(b.cfg.DatabaseURL) + " (contacts are added with source " + b.source() + ")"
	}
	return nil
}

func (b *sendBench) source() string { return "bench-" + b.nonce }

// firstNames personalise the messages; an empty one shows the fallback.
var benchFirstNames = [...]string{"anna", "Bram", "Carla", "Dmitri", "Eva", "", "Farah", "Gustav", "Hana", "Ivo", "Jamal", "Kerstin", "Luis", "Mei", "Noor", "Olu", "Pia", "Quentin", "Rosa", "Sven", "Tomás", "Ute", "Vera", "Wim", "Xu", "Yara", "Zoë"}

// seed inserts the contacts straight into the table in batches: the
// import path (validation, segment evaluation per contact) is not what is
// measured here.
func (b *sendBench) seed(ctx context.Context) error {
	g := b.app.DB.WithContext(ctx)
	batch := 100 // the pure-Go SQLite driver is fastest around 100 rows
	if db.IsPostgres(g) {
		batch = 1000
	}
	now := db.Now()
	rows := make([]contacts.Contact, 0, 10000)
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		err := g.Transaction(func(tx *gorm.DB) error { return tx.CreateInBatches(&rows, batch).Error })
		rows = rows[:0]
		if err != nil {
			return fmt.Errorf("bench send: seed contacts: %w", err)
		}
		return nil
	}
	countries := [...]string{"NL", "BE", "DE", "FR", "ES", "IT", "GB", "US", "SE", "PL"}
	for i := 0; i < b.f.contacts; i++ {
		rows = append(rows, contacts.Contact{
			Email:      fmt.Sprintf("r%07d.%s@bench.example.com", i, b.nonce),
			FirstName:  benchFirstNames[i%len(benchFirstNames)],
			LastName:   "Tester",
			Country:    countries[i%len(countries)],
			Source:     b.source(),
			Status:     contacts.Subscribed,
			Attributes: db.JSONMap{},
			SignupAt:   &now,
			CreatedAt:  now,
			UpdatedAt:  now,
		})
		if len(rows) == cap(rows) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func (b *sendBench) prepareCampaign(ctx context.Context) (int64, error) {
	name := "Bench " + b.nonce
	def := `{"field": "source", "op": "eq", "value": "` + b.source() + `"}`
	seg, err := b.app.Segments.Create(ctx, segments.Input{Name: &name, Definition: []byte(def)})
	if err != nil {
		return 0, err
	}
	tmpl, from, fromName := "birthday", "hello@shop.example.com", "Example Shop"
	c, err := b.app.Campaigns.Create(ctx, campaigns.Input{Name: &name, Template: &tmpl, FromEmail: &from, FromName: &fromName, SegmentIDs: &[]int64{seg.ID}})
	if err != nil {
		return 0, err
	}
	return c.ID, nil
}

// startWorkers starts the `herald worker` processes and waits until each
// is ready, so start-up is not part of the measurement.
func (b *sendBench) startWorkers(ctx context.Context) error {
	if b.f.workers == 0 {
		tuneGC() // as `herald worker` does
		if err := b.app.Worker.Start(); err != nil {
			return err
		}
		b.closers = append(b.closers, b.app.Worker.Stop)
		return nil
	}
	self, err := heraldBin, error(nil)
	if err != nil {
		return fmt.Errorf("bench send: %w", err)
	}
	env := map[string]string{
		"HERALD_DATABASE_URL": b.cfg.DatabaseURL, "HERALD_REDIS_URL": b.cfg.RedisURL, "HERALD_SMTP_URL": b.cfg.SMTPURL,
		"HERALD_BASE_URL": b.cfg.BaseURL, "HERALD_WORKER_CONCURRENCY": strconv.Itoa(b.cfg.WorkerConcurrency),
		"HERALD_SMTP_POOL": strconv.Itoa(b.cfg.SMTPPool), "HERALD_LOG_LEVEL": "warn",
	}
	if b.f.claimSize > 0 {
		env[envTestClaimSize] = strconv.Itoa(b.f.claimSize)
	}
	for range b.f.workers {
		w, err := childproc.Start(ctx, self, []string{"worker"}, env, "Herald worker running", os.Stderr)
		if err != nil {
			return err
		}
		b.workers = append(b.workers, w)
	}
	return nil
}

// waitSent waits for the campaign to be marked sent, printing progress.
func (b *sendBench) waitSent(ctx context.Context, id int64, t0 time.Time) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastPrint := t0
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		c, err := b.app.Campaigns.Get(ctx, id)
		if err != nil {
			return err
		}
		switch c.Status {
		case campaigns.CampaignSent:
			return nil
		case campaigns.CampaignPaused, campaigns.CampaignCancelled:
			return fmt.Errorf("bench send: the campaign is %s: %s", c.Status, c.PauseReason)
		}
		for _, w := range b.workers {
			if w.Exited() {
				return fmt.Errorf("bench send: worker process %d stopped", w.Cmd.Process.Pid)
			}
		}
		if time.Since(lastPrint) >= 5*time.Second {
			lastPrint = time.Now()
			if n, ok := b.sink.count(); ok {
				fmt.Fprintf(b.out, "  %5.1fs  %d accepted by the sink\n", time.Since(t0).Seconds(), n)
			}
		}
	}
}

// cpuSample is CPU seconds of every process the bench looks at.
type cpuSample struct {
	self, sink, postgres, redis float64
	workers                     []float64
	backends                    map[int]float64 // this run's PostgreSQL backends
}

func (b *sendBench) sampleCPU() cpuSample {
	s := cpuSample{self: readProcStats().CPUSeconds, sink: -1, postgres: -1, redis: -1}
	for _, w := range b.workers {
		s.workers = append(s.workers, procCPUSeconds(w.Cmd.Process.Pid))
	}
	if pid := b.sink.pid(); pid > 0 {
		s.sink = procCPUSeconds(pid)
	}
	if strings.HasPrefix(b.cfg.DatabaseURL, "postgres") {
		s.postgres = commandCPUSeconds("postgres")
		var pids []int
		b.app.DB.Raw("SELECT pid FROM pg_stat_activity WHERE application_name = ?", "herald_bench_"+b.nonce).Scan(&pids)
		s.backends = map[int]float64{}
		for _, pid := range pids {
			s.backends[pid] = procCPUSeconds(pid)
		}
	}
	if !strings.HasPrefix(b.redisNote, "embedded") {
		s.redis = commandCPUSeconds("redis-server")
	}
	return s
}

func (b *sendBench) report(ctx context.Context, id int64, t0 time.Time, wall time.Duration, before, after cpuSample) error {
	st, err := b.app.Reports.Stats(ctx, id)
	if err != nil {
		return err
	}
	res := b.sink.stop()
	for _, w := range b.workers {
		w.Stop()
	}
	accepted := st.Sent
	lastAt := t0.Add(wall)
	if res.ok {
		accepted, lastAt = res.total, res.lastAt
	}
	span := lastAt.Sub(t0)
	per1000 := func(sec float64) string {
		if accepted == 0 || sec < 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.3f s (%.0f µs/message)", sec/float64(accepted)*1000, sec/float64(accepted)*1e6)
	}
	fmt.Fprintf(b.out, "\nrecipients:        %d (sent %d, failed %d, bounced %d, unknown %d)\n", st.Total, st.Sent, st.Failed, st.Bounced, st.Unknown)
	if r, err := b.app.Campaigns.Preview(ctx, id, 0); err == nil {
		fmt.Fprintf(b.out, "message:           %s, HTML %d bytes, text %d bytes (before MIME encoding)\n", r.Subject, len(r.HTML), len(r.Text))
	}
	if res.ok {
		fmt.Fprintf(b.out, "accepted by sink:  %d\n", res.total)
	}
	fmt.Fprintf(b.out, "rate:              %.0f messages/s (launch to last message accepted: %s)\n", float64(accepted)/span.Seconds(), span.Round(time.Millisecond))
	fmt.Fprintf(b.out, "wall time:         %s (launch to campaign marked sent)\n", wall.Round(time.Millisecond))
	herald := after.self - before.self
	if b.f.workers == 0 {
		fmt.Fprintf(b.out, "this process:      peak RSS %.0f MiB (seeding included), CPU per 1,000 messages %s (worker%s)\n",
			readProcStats().PeakRSSMiB, per1000(herald), map[bool]string{true: " and embedded Redis", false: ""}[strings.HasPrefix(b.redisNote, "embedded")])
	} else {
		fmt.Fprintf(b.out, "this process:      peak RSS %.0f MiB (seeding included), CPU per 1,000 messages %s (launch request, polling%s)\n",
			readProcStats().PeakRSSMiB, per1000(herald), map[bool]string{true: ", embedded Redis", false: ""}[strings.HasPrefix(b.redisNote, "embedded")])
		for i, w := range b.workers {
			cpu := after.workers[i] - before.workers[i]
			herald += cpu
			fmt.Fprintf(b.out, "worker %d (pid %d): peak RSS %.0f MiB, CPU per 1,000 messages %s\n", i+1, w.Cmd.Process.Pid, w.PeakRSSMiB(), per1000(cpu))
		}
	}
	fmt.Fprintf(b.out, "Herald in all:     CPU per 1,000 messages %s\n", per1000(herald))
	if before.sink >= 0 {
		fmt.Fprintf(b.out, "sink:              CPU per 1,000 messages %s\n", per1000(after.sink-before.sink))
	}
	if before.postgres >= 0 {
		var own float64
		for pid, cpu := range after.backends {
			own += cpu - before.backends[pid] // a backend opened during the run started at 0
		}
		fmt.Fprintf(b.out, "PostgreSQL:        CPU per 1,000 messages %s (this run's %d backends; backends closed during the run are not counted)\n", per1000(own), len(after.backends))
		fmt.Fprintf(b.out, "                   CPU per 1,000 messages %s (every postgres process on this machine, other clients included)\n", per1000(after.postgres-before.postgres))
	}
	if before.redis >= 0 {
		fmt.Fprintf(b.out, "Redis:             CPU per 1,000 messages %s (every redis-server on this machine)\n", per1000(after.redis-before.redis))
	}
	return nil
}

// benchSink is where the messages go and how many it accepted.
type benchSink interface {
	count() (int64, bool)
	pid() int
	stop() sinkResult
}

type sinkResult struct {
	ok     bool
	total  int64
	lastAt time.Time
}

func (b *sendBench) startSink(ctx context.Context) error {
	switch {
	case b.cfg.SMTPURL != "":
		if b.f.sink != "" {
			return errors.New("bench send: give --sink or --smtp-url, not both")
		}
		b.sink = noSink{}
		b.sinkNote = db.Redact(b.cfg.SMTPURL) + " (external; its count is not read: figures use Herald's ledger)"
		return nil
	case b.f.sink != "":
		s, err := startSmtpsink(ctx, b.f.sink)
		if err != nil {
			return err
		}
		b.sink = s
		b.closers = append(b.closers, func() { s.stop() })
		b.cfg.SMTPURL = "smtp://" + s.addr + "?tls=none"
		b.sinkNote = "smtpsink process (pid " + strconv.Itoa(s.pid()) + ") on " + s.addr
		return nil
	}
	s, err := startMemSink()
	if err != nil {
		return err
	}
	b.sink = s
	b.closers = append(b.closers, func() { s.stop() })
	b.cfg.SMTPURL = "smtp://" + s.ln.Addr().String() + "?tls=none"
	b.sinkNote = "in this process (go-smtp; its CPU counts as this process's)"
	return nil
}

type noSink struct{}

func (noSink) count() (int64, bool) { return 0, false }
func (noSink) pid() int             { return 0 }
func (noSink) stop() sinkResult     { return sinkResult{} }

// memSink counts messages in this process.
type memSink struct {
	srv         *smtp.Server
	ln          net.Listener
	total, last atomic.Int64
	stopped     atomic.Bool
}

func startMemSink() (*memSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench send: sink: %w", err)
	}
	s := &memSink{ln: ln}
	s.srv = smtp.NewServer(memSinkBackend{s})
	s.srv.Domain = "sink.localhost"
	s.srv.MaxLineLength = 0
	go s.srv.Serve(ln)
	return s, nil
}

func (s *memSink) count() (int64, bool) { return s.total.Load(), true }
func (s *memSink) pid() int             { return 0 }
func (s *memSink) stop() sinkResult {
	if !s.stopped.Swap(true) {
		s.srv.Close()
	}
	return sinkResult{ok: true, total: s.total.Load(), lastAt: time.Unix(0, s.last.Load())}
}

type memSinkBackend struct{ s *memSink }

func (b memSinkBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return memSinkSession(b), nil }

type memSinkSession struct{ s *memSink }

func (memSinkSession) Reset()                               {}
func (memSinkSession) Logout() error                        { return nil }
func (memSinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (memSinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (ss memSinkSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	ss.s.total.Add(1)
	ss.s.last.Store(time.Now().UnixNano())
	return nil
}

// smtpsink runs ../shared/tools/smtpsink as a separate process and reads
// its count from what it prints.
type smtpsink struct {
	addr    string
	cmd     *exec.Cmd
	total   atomic.Int64
	final   chan string
	stopped atomic.Bool
	result  sinkResult
}

func startSmtpsink(ctx context.Context, path string) (*smtpsink, error) {
	bin := path
	if fi, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("bench send: --sink: %w", err)
	} else if fi.IsDir() {
		dir, err := os.MkdirTemp("", "herald-smtpsink-")
		if err != nil {
			return nil, fmt.Errorf("bench send: %w", err)
		}
		defer func() { _ = os.Remove(dir) }() // the running binary stays readable once unlinked
		bin = filepath.Join(dir, "smtpsink")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
		build.Dir = path
		if b, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("bench send: build smtpsink in %s: %v\n%s", path, err, b)
		}
		defer os.Remove(bin)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench send: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &smtpsink{addr: addr, final: make(chan string, 1)}
	s.cmd = exec.Command(bin, "-addr", addr)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench send: %w", err)
	}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("bench send: %w", err)
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench send: start smtpsink: %w", err)
	}
	// It prints "smtpsink listening on ..." on stderr once it listens.
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			if !once && strings.Contains(sc.Text(), "listening") {
				once = true
				close(listening)
			}
		}
		if !once {
			close(listening)
		}
	}()
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "total=") {
				s.final <- line
				continue
			}
			if v, ok := field(line, "total"); ok {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					s.total.Store(n)
				}
			}
		}
	}()
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		return nil, errors.New("bench send: smtpsink did not start listening")
	}
	return s, nil
}

func (s *smtpsink) count() (int64, bool) { return s.total.Load(), true }
func (s *smtpsink) pid() int             { return s.cmd.Process.Pid }

// stop sends SIGTERM and reads the final line: total=N first_at=...
// last_at=... avg_rate=... faults=N.
func (s *smtpsink) stop() sinkResult {
	if s.stopped.Swap(true) {
		return s.result
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case line := <-s.final:
		total, _ := field(line, "total")
		last, _ := field(line, "last_at")
		n, err := strconv.ParseInt(total, 10, 64)
		at, terr := time.Parse("2006-01-02T15:04:05.000Z07:00", last)
		if err == nil && (terr == nil || n == 0) {
			s.result = sinkResult{ok: true, total: n, lastAt: at}
		}
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
	}
	_ = s.cmd.Wait()
	return s.result
}

// field finds key=value among the space-separated words of line.
func field(line, key string) (string, bool) {
	for _, w := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(w, key+"="); ok {
			return v, true
		}
	}
	return "", false
}

// procCPUSeconds is the user + system CPU time of a process, and of its
// children that it waited for (PostgreSQL's backends, once they exit).
func procCPUSeconds(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing parenthesis (utime is field 14 of the whole line).
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 15 {
		return 0
	}
	var ticks float64
	for _, i := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
		v, _ := strconv.ParseFloat(f[i], 64)
		ticks += v
	}
	return ticks / 100 // USER_HZ is 100 on Linux
}

// commandCPUSeconds sums procCPUSeconds over every process called name.
func commandCPUSeconds(name string) float64 {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return -1
	}
	var sum float64
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != name {
			continue
		}
		sum += procCPUSeconds(pid)
	}
	return sum
}
