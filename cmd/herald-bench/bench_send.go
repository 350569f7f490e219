package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"herald/internal/app"
	"herald/internal/childproc"
	"herald/internal/db"
)

const benchSendUsage = `Usage: herald-bench [-herald BIN[,BIN2...]] send [flags]

Sends a campaign the way a user does. For each run it starts ` + "`herald serve`" + `
as a separate process (with --workers N: ` + "`serve --no-worker`" + ` and N ` + "`herald worker`" + `
processes) on a database of the run's own (a temporary SQLite file, or a
new schema of --database-url's PostgreSQL), loads N contacts through
POST /api/contacts (arrays of 10,000, some without a first name), creates
a segment and a campaign (the "birthday" starter, or --body 1kb: about
1 KB of HTML) through the API, calls POST /api/campaigns/:id/send and polls
the campaign until it is sent.

The rate is counted on the SMTP server's side: messages it accepted over
the time from the send call to the last one it accepted (launch included).
CPU per message (from /proc, between the send call and the campaign marked
sent) is reported for each process apart: serve, each worker, PostgreSQL
(this run's backends, and every postgres process), Redis (every
redis-server), the sink; with the peak RSS of each Herald process.

The sink: --sink DIR builds ../shared/tools/smtpsink (or runs a built
binary) and runs it as a separate process, one per run; --smtp-url sends
to any server (its count is not read: Herald's own stats are used);
neither runs a counting go-smtp sink inside herald-bench (its CPU is then
herald-bench's and not reported).

Redis: --redis-url (default HERALD_REDIS_URL) is emptied (FLUSHDB) before
each run, so give the bench a database number of its own. Without one,
serve runs its embedded Redis (whose CPU is serve's); --workers then
needs a real Redis.

Comparing binaries: -herald OLD,NEW with --rounds N alternates them, N runs
each, and prints the median of each binary's figures. Other HERALD_*
variables in the environment reach the herald processes unchanged.
`

// benchSendFlags are the flags of `herald-bench send`.
type benchSendFlags struct {
	contacts    int
	workers     int
	rounds      int
	claimSize   int
	sink        string
	smtpURL     string
	databaseURL string
	redisURL    string
	body        string
	cpuProfile  string
	settle      time.Duration
	keep        bool
	ceiling     bool
}

// benchSend is `herald-bench send`.
func benchSend(ctx context.Context, args []string, out io.Writer) error {
	var f benchSendFlags
	fs := flag.NewFlagSet("herald-bench send", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchSendUsage, "\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.IntVar(&f.contacts, "contacts", 100000, "number of recipients")
	fs.IntVar(&f.workers, "workers", 0, "0: one `herald serve` process (web and worker, as a user starts it); N: `serve --no-worker` and N `herald worker` processes")
	fs.IntVar(&f.rounds, "rounds", 1, "runs of each -herald binary, alternating them")
	fs.IntVar(&f.claimSize, "claim-size", 0, "deliveries a sender claims at once, for a heraldtest binary (0: Herald's default)")
	fs.StringVar(&f.sink, "sink", "", "smtpsink source directory (built with go build) or binary, run as a separate process")
	fs.StringVar(&f.smtpURL, "smtp-url", "", "send to this SMTP server instead of a sink the bench runs")
	fs.StringVar(&f.databaseURL, "database-url", os.Getenv("HERALD_DATABASE_URL"), "postgres://... (each run makes a schema of its own) or empty for a temporary SQLite file")
	fs.StringVar(&f.redisURL, "redis-url", os.Getenv("HERALD_REDIS_URL"), "redis://host:6379/N, emptied before each run (empty: serve's embedded Redis)")
	fs.StringVar(&f.body, "body", "birthday", "the message: birthday (the starter, about 7 KB of HTML) or 1kb (about 1 KB of HTML)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of each Herald process from the send call to the campaign sent to FILE.serve, FILE.worker1, ... (heraldtest binaries)")
	fs.DurationVar(&f.settle, "settle", 0, "wait this long between creating the campaign and sending it (0: send at once, as a user does)")
	fs.BoolVar(&f.keep, "keep", false, "keep each run's database (and print where it is)")
	fs.BoolVar(&f.ceiling, "ceiling", false, "with --sink: before each round, measure the sink's own ceiling (the same number of messages of the same size from a bare pipelining client over 8 connections)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case f.contacts <= 0 || f.workers < 0 || f.rounds <= 0:
		return errors.New("bench send: --contacts and --rounds must be positive and --workers not negative")
	case f.workers > 0 && f.redisURL == "":
		return errors.New("bench send: --workers needs a real Redis (HERALD_REDIS_URL or --redis-url): serve's embedded Redis lives in its process, where no worker reaches it")
	case f.sink != "" && f.smtpURL != "":
		return errors.New("bench send: give --sink or --smtp-url, not both")
	case f.ceiling && f.sink == "":
		return errors.New("bench send: --ceiling needs --sink")
	case f.databaseURL != "" && !strings.HasPrefix(f.databaseURL, "postgres"):
		return errors.New("bench send: --database-url must be postgres://... (or empty for a temporary SQLite file)")
	}
	if _, ok := benchBodies[f.body]; !ok {
		return fmt.Errorf("bench send: --body %q: birthday or 1kb", f.body)
	}
	tmp, err := os.MkdirTemp("", "herald-bench-send-")
	if err != nil {
		return fmt.Errorf("bench send: %w", err)
	}
	defer os.RemoveAll(tmp)
	sinkBin := ""
	if f.sink != "" {
		if sinkBin, err = buildSmtpsink(ctx, f.sink, tmp); err != nil {
			return err
		}
	}
	benchHeader(out, "send")
	var runs []sendResult
	for round := 1; round <= f.rounds; round++ {
		if f.ceiling {
			c, err := runCeiling(ctx, sinkBin, f.contacts, messageBytes[f.body])
			if err != nil {
				return err
			}
			printCeiling(out, c, messageBytes[f.body])
		}
		for i, bin := range heraldBins {
			r := &sendRun{f: f, bin: bin, label: binLabel(i), sinkBin: sinkBin, out: out, nonce: app.RandomHex(4)}
			if f.rounds*len(heraldBins) > 1 {
				fmt.Fprintf(out, "\n## run %d of %d: %s %s\n", len(runs)+1, f.rounds*len(heraldBins), r.label, bin)
			}
			res, err := r.run(ctx)
			r.cleanup()
			if err != nil {
				return err
			}
			runs = append(runs, res)
		}
	}
	if len(runs) > 1 {
		printSendSummary(out, runs)
	}
	return nil
}

func binLabel(i int) string { return string(rune('A' + i)) }

// sendRun is one run of `herald-bench send` against one herald binary.
type sendRun struct {
	f       benchSendFlags
	bin     string
	label   string
	sinkBin string
	out     io.Writer
	nonce   string

	dbURL   string
	schema  string
	admin   *gorm.DB
	sink    benchSink
	smtpURL string
	serve   *childproc.Proc
	workers []*childproc.Proc
	closers []func()

	base   string
	apiKey string
	client *http.Client
}

// sendResult is what one run measured. CPU figures are seconds from the
// send call to the campaign marked sent; a negative one was not measured.
type sendResult struct {
	label, bin        string
	accepted          int64
	load, span, wall  time.Duration
	serve, pgOwn      float64
	pgAll, redis      float64
	sink              float64
	workers           []float64
	serveRSS          float64
	workerRSS         []float64
	redisInServe      bool
	pgBackends        int
	sent, failed, unk int64
}

func (r *sendRun) cleanup() {
	for _, w := range r.workers {
		w.Stop()
	}
	if r.serve != nil {
		r.serve.Stop()
	}
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
}

func (r *sendRun) run(ctx context.Context) (sendResult, error) {
	res := sendResult{label: r.label, bin: r.bin, redisInServe: r.f.redisURL == ""}
	dbLabel, err := r.prepareDatabase(ctx)
	if err != nil {
		return res, err
	}
	redisLabel := "embedded (in the serve process; its CPU is serve's)"
	if r.f.redisURL != "" {
		if err := flushRedis(ctx, r.f.redisURL); err != nil {
			return res, err
		}
		redisLabel = db.Redact(r.f.redisURL) + " (emptied before the run)"
	}
	sinkLabel, err := r.startSink()
	if err != nil {
		return res, err
	}
	if err := r.startHerald(ctx); err != nil {
		return res, err
	}
	shape := "one `herald serve` process (web, API and worker)"
	if r.f.workers > 0 {
		shape = fmt.Sprintf("`herald serve --no-worker` and %d `herald worker` process(es)", r.f.workers)
	}
	fmt.Fprintf(r.out, "herald:    %s: %s\ndatabase:  %s\nredis:     %s\nsink:      %s\nmessage:   %s\n",
		r.bin, shape, dbLabel, redisLabel, sinkLabel, benchBodies[r.f.body].label)

	t := time.Now()
	if err := r.loadContacts(ctx); err != nil {
		return res, err
	}
	res.load = time.Since(t)
	fmt.Fprintf(r.out, "loaded:    %d contacts through POST /api/contacts in %s (%.0f contacts/s)\n",
		r.f.contacts, res.load.Round(time.Millisecond), float64(r.f.contacts)/res.load.Seconds())
	id, err := r.createCampaign(ctx)
	if err != nil {
		return res, err
	}
	if r.f.settle > 0 {
		fmt.Fprintf(r.out, "settling:  %s before the send call\n", r.f.settle)
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(r.f.settle):
		}
	}

	procs := r.heraldProcs()
	if r.f.cpuProfile != "" {
		for _, p := range procs {
			_ = p.Cmd.Process.Signal(syscall.SIGUSR1)
		}
	}
	before := r.sampleCPU(ctx)
	t0 := time.Now()
	if err := r.api(ctx, "POST", "/api/campaigns/"+strconv.FormatInt(id, 10)+"/send", nil, http.StatusAccepted, nil); err != nil {
		return res, err
	}
	if err := r.waitSent(ctx, id, t0); err != nil {
		return res, err
	}
	res.wall = time.Since(t0)
	after := r.sampleCPU(ctx)
	if r.f.cpuProfile != "" {
		r.writeProfiles(procs)
	}
	res.serveRSS = procPeakRSSMiB(r.serve.Cmd.Process.Pid)
	for _, w := range r.workers {
		res.workerRSS = append(res.workerRSS, procPeakRSSMiB(w.Cmd.Process.Pid))
	}

	var st struct {
		Total, Sent, Failed, Bounced, Unknown int64
	}
	if err := r.api(ctx, "GET", "/api/campaigns/"+strconv.FormatInt(id, 10)+"/stats", nil, http.StatusOK, &st); err != nil {
		return res, err
	}
	res.sent, res.failed, res.unk = st.Sent, st.Failed, st.Unknown
	sr := r.sink.stop()
	res.accepted, res.span = st.Sent, res.wall
	if sr.ok {
		res.accepted, res.span = sr.total, sr.lastAt.Sub(t0)
	}
	res.serve = after.serve - before.serve
	for i := range r.workers {
		res.workers = append(res.workers, after.workers[i]-before.workers[i])
	}
	res.sink, res.pgAll, res.redis, res.pgOwn = -1, -1, -1, -1
	if before.sink >= 0 {
		res.sink = after.sink - before.sink
	}
	if before.pgAll >= 0 {
		res.pgAll = after.pgAll - before.pgAll
		res.pgOwn = 0
		for pid, cpu := range after.backends {
			res.pgOwn += cpu - before.backends[pid] // a backend opened during the run started at 0
		}
		res.pgBackends = len(after.backends)
	}
	if before.redis >= 0 {
		res.redis = after.redis - before.redis
	}
	fmt.Fprintf(r.out, "recipients: %d: sent %d, failed %d, bounced %d, unknown %d; accepted by the sink %s\n",
		st.Total, st.Sent, st.Failed, st.Bounced, st.Unknown, map[bool]string{true: strconv.FormatInt(sr.total, 10), false: "(not counted)"}[sr.ok])
	printSendRun(r.out, res)
	return res, nil
}

// prepareDatabase gives the run a database of its own.
func (r *sendRun) prepareDatabase(ctx context.Context) (string, error) {
	if r.f.databaseURL == "" {
		dir, err := os.MkdirTemp("", "herald-bench-send-db-")
		if err != nil {
			return "", fmt.Errorf("bench send: %w", err)
		}
		if r.f.keep {
			fmt.Fprintf(r.out, "keeping the database in %s\n", dir)
		} else {
			r.closers = append(r.closers, func() { os.RemoveAll(dir) })
		}
		r.dbURL = "sqlite://" + filepath.Join(dir, "herald.db")
		return "SQLite (temporary file)", nil
	}
	admin, err := db.Open(ctx, r.f.databaseURL, nil)
	if err != nil {
		return "", err
	}
	r.admin = admin
	r.schema = "herald_bench_" + r.nonce
	if err := admin.Exec("CREATE SCHEMA " + r.schema).Error; err != nil {
		return "", fmt.Errorf("bench send: create schema: %w", err)
	}
	r.closers = append(r.closers, func() {
		if r.f.keep {
			fmt.Fprintf(r.out, "keeping schema %s\n", r.schema)
		} else {
			admin.Exec("DROP SCHEMA " + r.schema + " CASCADE")
		}
		if sqlDB, err := admin.DB(); err == nil {
			sqlDB.Close()
		}
	})
	u, err := url.Parse(r.f.databaseURL)
	if err != nil {
		return "", fmt.Errorf("bench send: %w", err)
	}
	q := u.Query()
	q.Set("search_path", r.schema)
	// The name finds this run's backends among the server's others.
	q.Set("application_name", r.schema)
	u.RawQuery = q.Encode()
	r.dbURL = u.String()
	return "PostgreSQL " + db.Redact(r.dbURL), nil
}

func flushRedis(ctx context.Context, raw string) error {
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return fmt.Errorf("bench send: --redis-url: %w", err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	if err := c.FlushDB(ctx).Err(); err != nil {
		return fmt.Errorf("bench send: empty redis database: %w", err)
	}
	return nil
}

func (r *sendRun) startSink() (string, error) {
	switch {
	case r.f.smtpURL != "":
		r.sink, r.smtpURL = noSink{}, r.f.smtpURL
		return db.Redact(r.f.smtpURL) + " (external; its count is not read: figures use Herald's stats)", nil
	case r.sinkBin != "":
		s, err := startSmtpsink(r.sinkBin)
		if err != nil {
			return "", err
		}
		r.sink, r.smtpURL = s, "smtp://"+s.addr+"?tls=none"
		r.closers = append(r.closers, func() { s.stop() })
		return "smtpsink process (pid " + strconv.Itoa(s.pid()) + ")", nil
	}
	s, err := startMemSink()
	if err != nil {
		return "", err
	}
	r.sink, r.smtpURL = s, "smtp://"+s.ln.Addr().String()+"?tls=none"
	r.closers = append(r.closers, func() { s.stop() })
	return "go-smtp in herald-bench (no --sink; its CPU is not reported)", nil
}

// startHerald starts serve (and the workers) and waits until they run.
func (r *sendRun) startHerald(ctx context.Context) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	r.base = "http://" + addr
	r.apiKey = "bench-" + app.RandomHex(16)
	r.client = &http.Client{Timeout: 10 * time.Minute}
	env := map[string]string{
		"HERALD_DATABASE_URL":   r.dbURL,
		"HERALD_REDIS_URL":      r.f.redisURL,
		"HERALD_SMTP_URL":       r.smtpURL,
		"HERALD_HTTP_ADDR":      addr,
		"HERALD_BASE_URL":       r.base,
		"HERALD_API_KEY":        r.apiKey,
		"HERALD_ADMIN_PASSWORD": "bench-" + app.RandomHex(8),
		"HERALD_LOG_LEVEL":      "warn",
	}
	if r.f.claimSize > 0 {
		env[envTestClaimSize] = strconv.Itoa(r.f.claimSize)
	}
	withProfile := func(name string) map[string]string {
		if r.f.cpuProfile == "" {
			return env
		}
		e := map[string]string{envTestCPUProfile: r.profilePath(name)}
		for k, v := range env {
			e[k] = v
		}
		return e
	}
	args := []string{"serve"}
	if r.f.workers > 0 {
		args = append(args, "--no-worker")
	}
	if r.serve, err = childproc.Start(ctx, r.bin, args, withProfile("serve"), "Herald is running", os.Stderr); err != nil {
		return err
	}
	for i := range r.f.workers {
		w, err := childproc.Start(ctx, r.bin, []string{"worker"}, withProfile("worker"+strconv.Itoa(i+1)), "Herald worker running", os.Stderr)
		if err != nil {
			return err
		}
		r.workers = append(r.workers, w)
	}
	return nil
}

func (r *sendRun) heraldProcs() []*childproc.Proc {
	return append([]*childproc.Proc{r.serve}, r.workers...)
}

func (r *sendRun) profilePath(name string) string {
	p := r.f.cpuProfile
	if r.f.rounds*len(heraldBins) > 1 {
		p += "." + r.label + "-" + r.nonce
	}
	return p + "." + name
}

// writeProfiles stops the CPU profiles and waits until they are written.
func (r *sendRun) writeProfiles(procs []*childproc.Proc) {
	names := []string{"serve"}
	for i := range r.workers {
		names = append(names, "worker"+strconv.Itoa(i+1))
	}
	for _, p := range procs {
		_ = p.Cmd.Process.Signal(syscall.SIGUSR2)
	}
	for _, n := range names {
		path := r.profilePath(n)
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := os.Stat(path); err == nil {
				fmt.Fprintf(r.out, "profile:   %s (go tool pprof %s %s)\n", path, r.bin, path)
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintf(r.out, "profile:   %s was not written (is %s built with -tags heraldtest?)\n", path, r.bin)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// api calls Herald's API and decodes the answer into out (when not nil).
func (r *sendRun) api(ctx context.Context, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("bench send: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		return fmt.Errorf("bench send: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+r.apiKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("bench send: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("bench send: %s %s: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("bench send: %s %s: %s: %.500s", method, path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("bench send: %s %s: %w", method, path, err)
		}
	}
	return nil
}

// benchFirstNames personalise the messages; an empty one shows the fallback.
var benchFirstNames = [...]string{"anna", "Bram", "Carla", "Dmitri", "Eva", "", "Farah", "Gustav", "Hana", "Ivo", "Jamal", "Kerstin", "Luis", "Mei", "Noor", "Olu", "Pia", "Quentin", "Rosa", "Sven", "Tomás", "Ute", "Vera", "Wim", "Xu", "Yara", "Zoë"}

func (r *sendRun) source() string { return "bench-" + r.nonce }

// loadContacts posts the contacts in arrays of at most 10,000, one after
// another, as an import script would.
func (r *sendRun) loadContacts(ctx context.Context) error {
	const batch = 10000
	countries := [...]string{"NL", "BE", "DE", "FR", "ES", "IT", "GB", "US", "SE", "PL"}
	type item struct {
		Email     string `json:"email"`
		FirstName string `json:"first_name,omitempty"`
		LastName  string `json:"last_name"`
		Country   string `json:"country"`
		Source    string `json:"source"`
	}
	items := make([]item, 0, batch)
	for start := 0; start < r.f.contacts; start += batch {
		items = items[:0]
		for i := start; i < min(start+batch, r.f.contacts); i++ {
			items = append(items, item{
				Email:     fmt.Sprintf("r%07d.%s@bench.example.com", i, r.nonce),
				FirstName: benchFirstNames[i%len(benchFirstNames)],
				LastName:  "Tester",
				Country:   countries[i%len(countries)],
				Source:    r.source(),
			})
		}
		var ans struct{ Created, Updated, Failed int }
		if err := r.api(ctx, "POST", "/api/contacts", items, http.StatusOK, &ans); err != nil {
			return err
		}
		if ans.Failed > 0 || ans.Created != len(items) {
			return fmt.Errorf("bench send: POST /api/contacts: created %d, updated %d, failed %d of %d", ans.Created, ans.Updated, ans.Failed, len(items))
		}
	}
	return nil
}

// benchBody is a campaign's message as --body names it.
type benchBody struct {
	label   string
	subject string
	html    string
}

var benchBodies = map[string]benchBody{
	"birthday": {label: `the "birthday" starter (about 7 KB of HTML, first names)`},
	"1kb": {label: "about 1 KB of HTML with first names and two tracked links",
		subject: `{{.FirstName | default "Hello"}}, our winter sale starts today`,
		html: `<!doctype html><html><body style="font-family:Arial,sans-serif;color:#222;max-width:600px;margin:auto">
<h1 style="font-size:22px">Hi {{.FirstName | default "there"}},</h1>
<p>Our winter sale starts today. Everything in the shop is up to 40% off until Sunday, and orders over €50 ship free.
Take a look at the new coats, the warm boots and the wool scarves that came in this week.</p>
<p><a href="https://shop.example.com/sale?utm_source=newsletter" style="background:#c33;color:#fff;padding:10px 16px;text-decoration:none">Shop the sale</a></p>
<p>Not sure what fits? Our size guide answers most questions, and our team replies within a day.</p>
<p><a href="https://shop.example.com/help/sizes">Size guide</a></p>
<p style="font-size:12px;color:#777">You receive this because you signed up at shop.example.com.
<a href="{{.UnsubscribeURL}}">Unsubscribe</a> at any time.</p>
</body></html>`},
}

// createCampaign makes the segment and the campaign through the API.
func (r *sendRun) createCampaign(ctx context.Context) (int64, error) {
	name := "Bench " + r.nonce
	var seg struct{ ID int64 }
	segIn := map[string]any{"name": name, "definition": map[string]any{"field": "source", "op": "eq", "value": r.source()}}
	if err := r.api(ctx, "POST", "/api/segments", segIn, http.StatusCreated, &seg); err != nil {
		return 0, err
	}
	in := map[string]any{"name": name, "from_email": "hello@shop.example.com", "from_name": "Example Shop", "segment_ids": []int64{seg.ID}}
	if b := benchBodies[r.f.body]; b.html != "" {
		in["subject"], in["html_body"] = b.subject, b.html
	} else {
		in["template"] = r.f.body
	}
	var c struct{ ID int64 }
	if err := r.api(ctx, "POST", "/api/campaigns", in, http.StatusCreated, &c); err != nil {
		return 0, err
	}
	return c.ID, nil
}

// waitSent polls the campaign until it is sent, printing progress.
func (r *sendRun) waitSent(ctx context.Context, id int64, t0 time.Time) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastPrint := t0
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		for _, p := range r.heraldProcs() {
			if p.Exited() {
				return fmt.Errorf("bench send: herald process %d stopped", p.Cmd.Process.Pid)
			}
		}
		var c struct {
			Status      string `json:"status"`
			PauseReason string `json:"pause_reason"`
		}
		if err := r.api(ctx, "GET", "/api/campaigns/"+strconv.FormatInt(id, 10), nil, http.StatusOK, &c); err != nil {
			return err
		}
		switch c.Status {
		case "sent":
			return nil
		case "paused", "cancelled":
			return fmt.Errorf("bench send: the campaign is %s: %s", c.Status, c.PauseReason)
		}
		if time.Since(lastPrint) >= 5*time.Second {
			lastPrint = time.Now()
			if n, ok := r.sink.count(); ok {
				fmt.Fprintf(r.out, "  %5.1fs  %d accepted by the sink\n", time.Since(t0).Seconds(), n)
			}
		}
	}
}

// cpuSample is CPU seconds of every process the bench looks at.
type cpuSample struct {
	serve, sink, pgAll, redis float64
	workers                   []float64
	backends                  map[int]float64 // this run's PostgreSQL backends
}

func (r *sendRun) sampleCPU(ctx context.Context) cpuSample {
	s := cpuSample{serve: procCPUSeconds(r.serve.Cmd.Process.Pid), sink: -1, pgAll: -1, redis: -1}
	for _, w := range r.workers {
		s.workers = append(s.workers, procCPUSeconds(w.Cmd.Process.Pid))
	}
	if pid := r.sink.pid(); pid > 0 {
		s.sink = procCPUSeconds(pid)
	}
	if r.admin != nil {
		s.pgAll = commandCPUSeconds("postgres")
		var pids []int
		r.admin.WithContext(ctx).Raw("SELECT pid FROM pg_stat_activity WHERE application_name = ?", r.schema).Scan(&pids)
		s.backends = map[int]float64{}
		for _, pid := range pids {
			s.backends[pid] = procCPUSeconds(pid)
		}
	}
	if r.f.redisURL != "" {
		s.redis = commandCPUSeconds("redis-server")
	}
	return s
}

// herald is the CPU of the Herald processes together.
func (s sendResult) herald() float64 {
	h := s.serve
	for _, w := range s.workers {
		h += w
	}
	return h
}

// stack is Herald + PostgreSQL (this run's backends) + Redis.
func (s sendResult) stack() float64 {
	t := s.herald()
	if s.pgOwn > 0 {
		t += s.pgOwn
	}
	if s.redis > 0 {
		t += s.redis
	}
	return t
}

func (s sendResult) rate() float64 { return float64(s.accepted) / s.span.Seconds() }

// perMsg is CPU seconds as µs per accepted message, -1 when not measured.
func (s sendResult) perMsg(sec float64) float64 {
	if sec < 0 || s.accepted == 0 {
		return -1
	}
	return sec / float64(s.accepted) * 1e6
}

func us(v float64) string {
	if v < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f µs", v)
}

func printSendRun(out io.Writer, s sendResult) {
	fmt.Fprintf(out, "rate:      %.0f messages/s (%d accepted, send call to the last one accepted: %s; campaign marked sent after %s)\n",
		s.rate(), s.accepted, s.span.Round(time.Millisecond), s.wall.Round(time.Millisecond))
	fmt.Fprintln(out, "CPU per message, send call to campaign sent:")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	note := ""
	if s.redisInServe {
		note = " (embedded Redis included)"
	}
	fmt.Fprintf(tw, "  serve\t%s\tpeak RSS %.0f MiB%s\n", us(s.perMsg(s.serve)), s.serveRSS, note)
	for i, w := range s.workers {
		fmt.Fprintf(tw, "  worker %d\t%s\tpeak RSS %.0f MiB\n", i+1, us(s.perMsg(w)), s.workerRSS[i])
	}
	if len(s.workers) > 0 {
		fmt.Fprintf(tw, "  Herald\t%s\t\n", us(s.perMsg(s.herald())))
	}
	if s.pgAll >= 0 {
		fmt.Fprintf(tw, "  PostgreSQL\t%s\tthis run's %d backends (backends closed during the run not counted)\n", us(s.perMsg(s.pgOwn)), s.pgBackends)
		fmt.Fprintf(tw, "  PostgreSQL, all\t%s\tevery postgres process on the machine, other clients included\n", us(s.perMsg(s.pgAll)))
	}
	if s.redis >= 0 {
		fmt.Fprintf(tw, "  Redis\t%s\tevery redis-server on the machine, other clients included\n", us(s.perMsg(s.redis)))
	}
	fmt.Fprintf(tw, "  Herald+PG+Redis\t%s\t%s\n", us(s.perMsg(s.stack())), stackNote(s))
	if s.sink >= 0 {
		fmt.Fprintf(tw, "  sink\t%s\t\n", us(s.perMsg(s.sink)))
	}
	tw.Flush()
}

func stackNote(s sendResult) string {
	switch {
	case s.pgAll < 0 && s.redisInServe:
		return "serve alone: SQLite and Redis run inside it"
	case s.pgAll < 0:
		return "SQLite runs inside Herald"
	case s.redisInServe:
		return "PostgreSQL: this run's backends; Redis inside serve"
	}
	return "PostgreSQL: this run's backends"
}

// printSendSummary prints every run on a line and each binary's medians.
func printSendSummary(out io.Writer, runs []sendResult) {
	fmt.Fprintln(out, "\n## summary (CPU in µs per message, send call to campaign sent)")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tbinary\tmsg/s\tload s\tHerald\tPG\tPG all\tRedis\tH+PG+R\tsink\tpeak RSS MiB\t")
	row := func(name, label string, rs []sendResult) {
		med := func(f func(sendResult) float64) float64 {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			sort.Float64s(v)
			if len(v)%2 == 1 {
				return v[len(v)/2]
			}
			return (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		num := func(v float64) string {
			if v < 0 {
				return "n/a"
			}
			return fmt.Sprintf("%.0f", v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, label,
			num(med(sendResult.rate)), med(func(r sendResult) float64 { return r.load.Seconds() }),
			num(med(func(r sendResult) float64 { return r.perMsg(r.herald()) })),
			num(med(func(r sendResult) float64 { return r.perMsg(r.pgOwn) })),
			num(med(func(r sendResult) float64 { return r.perMsg(r.pgAll) })),
			num(med(func(r sendResult) float64 { return r.perMsg(r.redis) })),
			num(med(func(r sendResult) float64 { return r.perMsg(r.stack()) })),
			num(med(func(r sendResult) float64 { return r.perMsg(r.sink) })),
			num(med(func(r sendResult) float64 {
				m := r.serveRSS
				for _, w := range r.workerRSS {
					m = max(m, w)
				}
				return m
			})))
	}
	for i, r := range runs {
		row(strconv.Itoa(i+1), r.label, []sendResult{r})
	}
	for i, bin := range heraldBins {
		var rs []sendResult
		for _, r := range runs {
			if r.bin == bin && r.label == binLabel(i) {
				rs = append(rs, r)
			}
		}
		row("median", binLabel(i), rs)
	}
	tw.Flush()
	for i, bin := range heraldBins {
		fmt.Fprintf(out, "%s: %s\n", binLabel(i), bin)
	}
}
