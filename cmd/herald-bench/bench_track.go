package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"herald/internal/app"
	"herald/internal/childproc"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/db"
	"herald/internal/metrics"
	"herald/tracking"
)

// benchTrack measures Herald's tracking endpoints the way the issue asks:
// a Go load generator with a fixed number of keep-alive connections hits a
// bare net/http handler that only answers 302 and Herald's /t/c/ and /t/o/
// in alternating phases of the same run (so both see the same machine
// load), then waits for the worker to drain the event stream and compares
// the events stored with the requests answered.
func benchTrack(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("herald-bench track", flag.ContinueOnError)
	fs.SetOutput(out)
	dbURL := fs.String("database-url", os.Getenv("HERALD_DATABASE_URL"), "database to seed and write events to, such as postgres://user@host/bench (an existing database) or postgres://user@host/db?search_path=bench (an existing schema); a scratch one, the bench adds contacts and a campaign (default: an SQLite file in a temporary directory) [$HERALD_DATABASE_URL]")
	redisURL := fs.String("redis-url", os.Getenv("HERALD_REDIS_URL"), "Redis for the event stream and queues, such as redis://127.0.0.1:6379/3 (default: embedded) [$HERALD_REDIS_URL]")
	conns := fs.Int("connections", 32, "keep-alive connections of the load generator")
	phase := fs.Duration("duration", 4*time.Second, "length of each phase")
	rounds := fs.Int("rounds", 4, "rounds of bare, click and open phases, alternating so that all see the same machine load")
	nContacts := fs.Int("contacts", 20000, "contacts to seed (each gets a delivery, an open token and a click token per link)")
	nLinks := fs.Int("links", 4, "links in the seeded campaign")
	withOpen := fs.Bool("open", true, "measure /t/o/ as well as /t/c/")
	drainWait := fs.Duration("drain-timeout", 5*time.Minute, "how long to wait for the worker to write every event")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the load and the drain to this file")
	logLevel := fs.String("log-level", "error", "log level of the Herald under test (warn shows slow queries)")
	workerDuring := fs.Bool("worker-during-load", true, "run the worker while the load runs (false: start it after the load, to see what the web tier costs alone)")
	client := fs.String("client", "net/http", "load generator: net/http (Go's HTTP client, as the issue's reference figure was measured) or raw (a minimal HTTP/1.1 client: less CPU for itself, so the servers get more)")
	killWorker := fs.Bool("kill-worker", false, "write the events from a child `herald worker` process instead of this one, SIGKILL it halfway through the load and start another, then check that every answered request is stored once (the dead worker's entries are claimed after 15 s idle)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *killWorker && !*workerDuring {
		return errors.New("bench track: -kill-worker kills the worker during the load; it needs -worker-during-load")
	}
	if *client != "net/http" && *client != "raw" {
		return fmt.Errorf("bench track: -client is net/http or raw, not %q", *client)
	}
	if *conns <= 0 || *rounds <= 0 || *nContacts <= 0 || *nLinks <= 0 || *phase <= 0 {
		return errors.New("bench track: connections, rounds, contacts, links and duration must be positive")
	}

	embeddedDB := *dbURL == ""
	if embeddedDB {
		dir, err := os.MkdirTemp("", "herald-bench-track-")
		if err != nil {
			return fmt.Errorf("bench track: %w", err)
		}
		defer os.RemoveAll(dir)
		*dbURL = "sqlite://" + filepath.Join(dir, "herald.db")
	}

	benchHeader(out, "track")
	h, err := startBenchHerald(ctx, *dbURL, *redisURL, newLogger(*logLevel, os.Stderr), *workerDuring && !*killWorker)
	if err != nil {
		if strings.Contains(err.Error(), "3F000") {
			return fmt.Errorf("bench track: the schema named by search_path does not exist; create it first (CREATE SCHEMA ...): %w", err)
		}
		return err
	}
	defer h.close()
	if *killWorker {
		if err := h.startChildWorker(ctx); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "database: %s, redis: %s\n", describeDB(embeddedDB, *dbURL), describeRedis(*redisURL))

	seed, err := h.seed(ctx, *nContacts, *nLinks)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "seeded campaign %d: %d contacts, %d links; %s client, %d connections, %d rounds of %s per phase\n",
		seed.campaignID, *nContacts, *nLinks, *client, *conns, *rounds, *phase)

	bare, err := startBareServer(seed.target)
	if err != nil {
		return err
	}
	defer bare.Close()

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("bench track: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("bench track: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	phases := []struct {
		name   string
		addr   string
		reqs   [][]byte
		status int
		herald bool
	}{
		{"bare 302", bare.Addr().String(), seed.bareRequests, http.StatusFound, false},
		{"herald /t/c/", h.addr, seed.clickRequests, http.StatusFound, true},
	}
	if *withOpen {
		phases = append(phases, struct {
			name   string
			addr   string
			reqs   [][]byte
			status int
			herald bool
		}{"herald /t/o/", h.addr, seed.openRequests, http.StatusOK, true})
	}
	totals := make([]loadResult, len(phases))
	var kill *killReport
	if *killWorker {
		kill = h.killMidway(ctx, time.Duration(*rounds*len(phases))*(*phase)/2)
	}
	before := readProcStats()
	start := time.Now()
	for r := 0; r < *rounds; r++ {
		for p, ph := range phases {
			res, err := runLoad(ctx, *client, ph.addr, ph.reqs, *conns, *phase, ph.status)
			if err != nil {
				return fmt.Errorf("bench track: %s: %w", ph.name, err)
			}
			fmt.Fprintf(out, "  round %d %-13s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  (%d answered, %d other)\n",
				r+1, ph.name, res.rate(), res.percentile(0.50), res.percentile(0.99), res.ok, res.bad)
			totals[p].merge(res)
		}
	}
	measured := time.Since(start)
	during := readProcStats()
	if kill != nil {
		<-kill.done
		if kill.err != nil {
			return kill.err
		}
		fmt.Fprintf(out, "killed worker process %d with SIGKILL %.1fs into the load, holding %d unacknowledged stream entries; started process %d\n",
			kill.killedPID, kill.at.Seconds(), kill.orphaned, kill.newPID)
		if kill.orphaned == 0 {
			fmt.Fprintln(out, "note: the killed worker held no unacknowledged entries, so claiming a dead worker's entries was not exercised")
		}
	}

	var answered int64
	fmt.Fprintln(out, "\nendpoint         req/s   p50 ms   p99 ms   % of bare   answered   other")
	for p, ph := range phases {
		t := totals[p]
		pct := "-"
		if p > 0 && totals[0].rate() > 0 {
			pct = fmt.Sprintf("%.0f%%", 100*t.rate()/totals[0].rate())
		}
		fmt.Fprintf(out, "%-14s %7.0f %8.2f %8.2f %11s %10d %7d\n", ph.name, t.rate(), t.percentile(0.50), t.percentile(0.99), pct, t.ok, t.bad)
		if ph.herald {
			answered += t.ok
		}
	}

	if !*workerDuring {
		fmt.Fprintln(out, "\n(the worker was stopped during the load; starting it now)")
		if err := h.startWorker(); err != nil {
			return err
		}
	}
	drainStart := time.Now()
	stored, pending, err := h.waitForEvents(ctx, seed.campaignID, answered, *drainWait)
	if err != nil {
		return err
	}
	verdict := "OK: equal"
	if stored != answered {
		verdict = "MISMATCH"
	}
	fmt.Fprintf(out, "\nevents in the database: %d, tracking requests answered: %d (%s); stream left %d, drained %.1fs after the load\n",
		stored, answered, verdict, pending, time.Since(drainStart).Seconds())
	lost := 0.0
	for _, k := range []tracking.Kind{tracking.Click, tracking.Open} {
		lost += h.app.Metrics.Counter("herald_tracking_hits_lost_total", metrics.Labels{"kind": string(k)})
	}
	if lost > 0 {
		fmt.Fprintf(out, "hits that could not be stored: %.0f\n", lost)
	}
	worker := " and worker"
	if *killWorker {
		worker = "; the worker in its own process"
	}
	fmt.Fprintf(out, "this process used %.2f CPUs during the load (generator, bare server, Herald web%s%s); peak RSS %.0f MiB\n",
		(during.CPUSeconds-before.CPUSeconds)/measured.Seconds(), worker, embeddedNote(embeddedDB, *redisURL == ""), during.PeakRSSMiB)
	fmt.Fprintln(out, "note: the load generator, both servers and the worker share this machine's CPUs; compare the rates side by side, not across machines.")
	if stored != answered {
		return fmt.Errorf("bench track: %d events stored for %d requests answered", stored, answered)
	}
	return nil
}

func describeDB(embedded bool, url string) string {
	if embedded {
		return "embedded SQLite"
	}
	return db.Redact(url)
}

func describeRedis(url string) string {
	if url == "" {
		return "embedded"
	}
	return db.Redact(url)
}

func embeddedNote(db, redis bool) string {
	switch {
	case db && redis:
		return ", embedded SQLite and Redis"
	case db:
		return ", embedded SQLite"
	case redis:
		return ", embedded Redis"
	}
	return ""
}

// benchHerald is a whole Herald (web and worker) on a loopback port; with
// -kill-worker the worker runs as child processes instead.
type benchHerald struct {
	app           *app.App
	cfg           *app.Config
	srv           *http.Server
	addr          string
	workerRunning bool

	mu       sync.Mutex
	children []*childproc.Proc
}

func startBenchHerald(ctx context.Context, dbURL, redisURL string, log *slog.Logger, startWorker bool) (*benchHerald, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench track: %w", err)
	}
	cfg := &app.Config{
		DatabaseURL: dbURL, RedisURL: redisURL, HTTPAddr: ln.Addr().String(), BaseURL: "http://" + ln.Addr().String(),
		Secret: app.RandomHex(16), APIKey: app.RandomHex(16), AdminEmail: "bench@example.com", AdminPassword: app.RandomHex(8),
		WorkerConcurrency: 4, SMTPPool: 1, AttributionDays: 5, RefreshEvery: "24h",
		EmbeddedRedisAddr: "127.0.0.1:0", EmbeddedSMTPAddr: "127.0.0.1:0",
	}
	app, err := app.New(ctx, cfg, log, io.Discard, true, true, app.Options{})
	if err != nil {
		ln.Close()
		return nil, err
	}
	// The same server settings as `herald serve`.
	srv := &http.Server{Handler: app.Web.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute}
	go srv.Serve(ln)
	h := &benchHerald{app: app, cfg: cfg, srv: srv, addr: ln.Addr().String()}
	if startWorker {
		if err := h.startWorker(); err != nil {
			h.close()
			return nil, err
		}
	}
	return h, nil
}

func (h *benchHerald) startWorker() error {
	if h.workerRunning {
		return nil
	}
	if err := h.app.Worker.Start(); err != nil {
		return err
	}
	h.workerRunning = true
	return nil
}

func (h *benchHerald) close() {
	h.srv.Close()
	if h.workerRunning {
		h.app.Worker.Stop()
	}
	h.mu.Lock()
	children := h.children
	h.mu.Unlock()
	for _, c := range children {
		c.Stop()
	}
	h.app.Close()
}

// startChildWorker starts a `herald worker` process on the bench's
// database and Redis (the embedded one is reachable on loopback) and
// waits until it runs.
func (h *benchHerald) startChildWorker(ctx context.Context) error {
	self, err := heraldBin, error(nil)
	if err != nil {
		return fmt.Errorf("bench track: %w", err)
	}
	redisURL := h.cfg.RedisURL
	if redisURL == "" {
		redisURL = h.app.EmbeddedRedis.URL()
	}
	env := map[string]string{
		"HERALD_DATABASE_URL": h.cfg.DatabaseURL, "HERALD_REDIS_URL": redisURL, "HERALD_SECRET": h.cfg.Secret,
		"HERALD_SMTP_URL": "", "HERALD_LOG_LEVEL": "warn", "HERALD_WORKER_CONCURRENCY": "2",
	}
	c, err := childproc.Start(ctx, self, []string{"worker"}, env, "Herald worker running", os.Stderr)
	if err != nil {
		return fmt.Errorf("bench track: start a worker: %w", err)
	}
	h.mu.Lock()
	h.children = append(h.children, c)
	h.mu.Unlock()
	return nil
}

// killReport is what killMidway did.
type killReport struct {
	done              chan struct{}
	err               error
	at                time.Duration
	killedPID, newPID int
	orphaned          int64 // entries the killed worker had read and not acknowledged
}

// killMidway SIGKILLs the running child worker after wait and starts
// another, in the background while the load runs.
func (h *benchHerald) killMidway(ctx context.Context, wait time.Duration) *killReport {
	k := &killReport{done: make(chan struct{})}
	start := time.Now()
	go func() {
		defer close(k.done)
		select {
		case <-ctx.Done():
			k.err = ctx.Err()
			return
		case <-time.After(wait):
		}
		h.mu.Lock()
		victim := h.children[len(h.children)-1]
		h.mu.Unlock()
		k.at = time.Since(start)
		k.killedPID = victim.Cmd.Process.Pid
		victim.Kill()
		if p, err := h.app.Redis.XPending(ctx, tracking.DefaultStream, tracking.ConsumerGroup).Result(); err == nil {
			k.orphaned = p.Count
		}
		if k.err = h.startChildWorker(ctx); k.err != nil {
			return
		}
		h.mu.Lock()
		k.newPID = h.children[len(h.children)-1].Cmd.Process.Pid
		h.mu.Unlock()
	}()
	return k
}

// benchUA is a browser's user agent, so hits count as people's.
const benchUA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"

// benchSeed is what the load generator sends.
type benchSeed struct {
	campaignID    int64
	target        string
	clickRequests [][]byte
	openRequests  [][]byte
	bareRequests  [][]byte
}

// seed stores contacts, a sent campaign with links and a delivery per
// contact (sent an hour ago, so the classifier sees people), and builds the
// requests with signed tokens.
func (h *benchHerald) seed(ctx context.Context, nContacts, nLinks int) (*benchSeed, error) {
	a := h.app
	name, subject, from, html := "bench track "+app.RandomHex(4), "Bench", "bench@example.com", "<p>bench</p>"
	camp, err := a.Campaigns.Create(ctx, campaigns.Input{Name: &name, Subject: &subject, FromEmail: &from, HTMLBody: &html})
	if err != nil {
		return nil, fmt.Errorf("bench track: seed campaign: %w", err)
	}
	target := "https://shop.example.com/landing?utm_source=herald"
	links := make([]campaigns.Link, nLinks)
	for i := range links {
		links[i] = campaigns.Link{CampaignID: camp.ID, Idx: i, URL: fmt.Sprintf("%s&link=%d", target, i)}
	}
	if err := a.DB.WithContext(ctx).Create(&links).Error; err != nil {
		return nil, fmt.Errorf("bench track: seed links: %w", err)
	}
	run := app.RandomHex(4)
	ids := make([]int64, 0, nContacts)
	for start := 0; start < nContacts; start += 1000 {
		var ins []contacts.Input
		for i := start; i < min(start+1000, nContacts); i++ {
			e := fmt.Sprintf("bench-%s-%d@example.com", run, i)
			ins = append(ins, contacts.Input{Email: &e})
		}
		res, err := a.Contacts.UpsertMany(ctx, ins)
		if err != nil {
			return nil, fmt.Errorf("bench track: seed contacts: %w", err)
		}
		for _, r := range res {
			if r.Err != nil {
				return nil, fmt.Errorf("bench track: seed contact: %w", r.Err)
			}
			ids = append(ids, r.Contact.ID)
		}
	}
	sent := time.Now().Add(-time.Hour).UTC()
	dels := make([]campaigns.Delivery, len(ids))
	for i, id := range ids {
		dels[i] = campaigns.Delivery{CampaignID: camp.ID, ContactID: id, Status: campaigns.DeliverySent, Batch: 1 + i/500, SentAt: &sent}
	}
	if err := a.DB.WithContext(ctx).CreateInBatches(&dels, 100).Error; err != nil {
		return nil, fmt.Errorf("bench track: seed deliveries: %w", err)
	}

	s := &benchSeed{campaignID: camp.ID, target: target}
	request := func(path string) []byte {
		return []byte("GET " + path + " HTTP/1.1\r\nHost: " + h.addr + "\r\nUser-Agent: " + benchUA + "\r\nAccept: */*\r\n\r\n")
	}
	// Links outermost: one contact's clicks on different links are far
	// apart in the sequence, as a person's would be.
	for l := 0; l < nLinks; l++ {
		for _, id := range ids {
			tok := a.Signer.Sign(tracking.Token{Kind: tracking.Click, CampaignID: camp.ID, ContactID: id, LinkID: int64(l)})
			s.clickRequests = append(s.clickRequests, request("/t/c/"+tok))
			s.bareRequests = append(s.bareRequests, request("/t/c/"+tok))
		}
	}
	for _, id := range ids {
		tok := a.Signer.Sign(tracking.Token{Kind: tracking.Open, CampaignID: camp.ID, ContactID: id})
		s.openRequests = append(s.openRequests, request("/t/o/"+tok+".gif"))
	}
	return s, nil
}

// waitForEvents waits until the campaign's tracking events reach want, or
// the stream is empty and the count stops moving, or the time is up.
func (h *benchHerald) waitForEvents(ctx context.Context, campaignID, want int64, wait time.Duration) (stored, pending int64, err error) {
	deadline := time.Now().Add(wait)
	var last int64 = -1
	stableSince := time.Now()
	for {
		err := h.app.DB.WithContext(ctx).Model(&contacts.Event{}).
			Where("campaign_id = ? AND type IN ?", campaignID, []string{contacts.EventOpen, contacts.EventClick}).
			Count(&stored).Error
		if err != nil {
			return 0, 0, fmt.Errorf("bench track: count events: %w", err)
		}
		pending, _ = h.app.Ingest.Pending(ctx)
		if stored != last {
			last, stableSince = stored, time.Now()
		}
		if stored >= want || pending == 0 && time.Since(stableSince) > 10*time.Second || time.Now().After(deadline) {
			return stored, pending, nil
		}
		select {
		case <-ctx.Done():
			return stored, pending, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// startBareServer answers every request with a 302 and nothing else, with
// the same server settings as Herald's.
func startBareServer(location string) (*net.TCPListener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench track: %w", err)
	}
	loc := []string{location}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header()["Location"] = loc
			w.WriteHeader(http.StatusFound)
		}),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute,
	}
	go srv.Serve(ln)
	return ln.(*net.TCPListener), nil
}

// histBucket is the latency histogram's resolution; histBuckets of them
// cover up to a second, the last bucket holding anything slower.
const (
	histBucket  = 10 * time.Microsecond
	histBuckets = 100_000
)

// loadResult is what one phase measured.
type loadResult struct {
	ok, bad int64
	elapsed time.Duration
	hist    []uint32
}

func (r *loadResult) merge(o loadResult) {
	if r.hist == nil {
		r.hist = make([]uint32, histBuckets)
	}
	r.ok += o.ok
	r.bad += o.bad
	r.elapsed += o.elapsed
	for i, n := range o.hist {
		r.hist[i] += n
	}
}

func (r *loadResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok) / r.elapsed.Seconds()
}

// percentile returns the latency at p (0..1) in milliseconds.
func (r *loadResult) percentile(p float64) float64 {
	var total uint64
	for _, n := range r.hist {
		total += uint64(n)
	}
	if total == 0 {
		return 0
	}
	rank := uint64(p * float64(total))
	var seen uint64
	for i, n := range r.hist {
		seen += uint64(n)
		if seen > rank {
			return float64(time.Duration(i+1)*histBucket) / float64(time.Millisecond)
		}
	}
	return float64(time.Duration(len(r.hist))*histBucket) / float64(time.Millisecond)
}

// runLoad sends requests over conns keep-alive connections, each waiting
// for its answer before sending the next, for dur. A raw HTTP/1.1 client
// keeps the generator's own CPU cost low: it shares the machine.
func runLoad(ctx context.Context, client, addr string, reqs [][]byte, conns int, dur time.Duration, want int) (loadResult, error) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		total    = loadResult{hist: make([]uint32, histBuckets)}
		firstErr error
		stop     atomic.Bool
	)
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	start := time.Now()
	deadline := start.Add(dur)
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			res := loadResult{hist: make([]uint32, histBuckets)}
			var err error
			if client == "raw" {
				err = loadConn(ctx, addr, reqs, c, conns, deadline, want, &res, &stop)
			} else {
				err = loadHTTP(ctx, hc, addr, reqs, c, conns, deadline, want, &res, &stop)
			}
			mu.Lock()
			defer mu.Unlock()
			total.ok += res.ok
			total.bad += res.bad
			for i, n := range res.hist {
				total.hist[i] += n
			}
			if err != nil && firstErr == nil {
				firstErr = err
				stop.Store(true)
			}
		}(c)
	}
	wg.Wait()
	total.elapsed = time.Since(start)
	return total, firstErr
}

func loadConn(ctx context.Context, addr string, reqs [][]byte, first, step int, deadline time.Time, want int, res *loadResult, stop *atomic.Bool) error {
	var (
		conn net.Conn
		br   *bufio.Reader
	)
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for k := first; ctx.Err() == nil && !stop.Load(); k += step {
		t0 := time.Now()
		if !t0.Before(deadline) {
			return nil
		}
		if conn == nil {
			var err error
			if conn, err = net.Dial("tcp", addr); err != nil {
				return err
			}
			br = bufio.NewReaderSize(conn, 4096)
		}
		if _, err := conn.Write(reqs[k%len(reqs)]); err != nil {
			return err
		}
		status, keep, err := readResponse(br)
		if err != nil {
			return err
		}
		lat := time.Since(t0)
		b := int(lat / histBucket)
		if b >= len(res.hist) {
			b = len(res.hist) - 1
		}
		res.hist[b]++
		if status == want {
			res.ok++
		} else {
			res.bad++
		}
		if !keep {
			conn.Close()
			conn = nil
		}
	}
	return nil
}

// loadHTTP is loadConn with Go's HTTP client: the request's path is taken
// from the prepared raw request.
func loadHTTP(ctx context.Context, hc *http.Client, addr string, reqs [][]byte, first, step int, deadline time.Time, want int, res *loadResult, stop *atomic.Bool) error {
	urls := make(map[int]string)
	for k := first; ctx.Err() == nil && !stop.Load(); k += step {
		t0 := time.Now()
		if !t0.Before(deadline) {
			return nil
		}
		i := k % len(reqs)
		u, ok := urls[i]
		if !ok {
			path, _, _ := bytes.Cut(bytes.TrimPrefix(reqs[i], []byte("GET ")), []byte(" "))
			u = "http://" + addr + string(path)
			urls[i] = u
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", benchUA)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		lat := time.Since(t0)
		b := int(lat / histBucket)
		if b >= len(res.hist) {
			b = len(res.hist) - 1
		}
		res.hist[b]++
		if resp.StatusCode == want {
			res.ok++
		} else {
			res.bad++
		}
	}
	return nil
}

// readResponse reads one HTTP/1.1 response with a Content-Length body (or
// none) and returns its status and whether the connection stays open.
func readResponse(br *bufio.Reader) (status int, keepAlive bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	keepAlive = true
	length := 0
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		if len(line) <= 2 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			keepAlive = false
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return 0, false, errors.New("chunked responses are not supported by the load generator")
		}
	}
	if _, err := br.Discard(length); err != nil {
		return 0, false, err
	}
	return status, keepAlive, nil
}
