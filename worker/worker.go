package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"herald/automations"
	"herald/bounces"
	"herald/campaigns"
	"herald/internal/errs"
	"herald/reports"
	"herald/segments"
	"herald/tracking"
)

// Deps are what the worker calls.
type Deps struct {
	Redis       redis.UniversalClient
	Campaigns   *campaigns.Service
	Reports     *reports.Service
	Automations *automations.Service
	Sender      *campaigns.Sender
	Segments    *segments.Service
	Ingest      *tracking.Ingest
	// Bounces reads the bounce mailbox; nil without one.
	Bounces *bounces.Mailbox
	Log     *slog.Logger
}

// Config tunes the worker.
type Config struct {
	Concurrency int
	// RetryDelay gives the wait before retry n of a failed task; a
	// doubling backoff from 10 s when nil.
	RetryDelay func(n int) time.Duration
	// SweepEvery is how often the campaign sweep runs (30 s by default).
	SweepEvery time.Duration
	// StaleAfter is how long a delivery may stay in flight before the
	// sweep decides its worker died (5 min by default).
	StaleAfter time.Duration
	// RefreshEvery is how often every segment is recomputed in full
	// (24 h), counted from each segment's last full refresh.
	RefreshEvery time.Duration
	// AutomationsEvery is how often automations enrol and advance (1 min).
	AutomationsEvery time.Duration
	// BouncesEvery is how often the bounce mailbox is read (1 min).
	BouncesEvery time.Duration
}

// Worker runs the asynq server, the periodic scheduler and the tracking
// event consumer.
type Worker struct {
	d     Deps
	cfg   Config
	srv   *asynq.Server
	sched *asynq.Scheduler
	queue *Queue
	insp  *asynq.Inspector
	stop  context.CancelFunc
	wg    sync.WaitGroup
	// broken holds the segments already reported as skipped.
	broken brokenSegments
}

// New builds a Worker.
func New(d Deps, cfg Config) *Worker {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.RetryDelay == nil {
		cfg.RetryDelay = func(n int) time.Duration {
			d := 10 * time.Second << min(n, 8)
			return min(d, 30*time.Minute)
		}
	}
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = 30 * time.Second
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = 5 * time.Minute
	}
	if cfg.RefreshEvery <= 0 {
		cfg.RefreshEvery = 24 * time.Hour
	}
	if cfg.AutomationsEvery <= 0 {
		cfg.AutomationsEvery = time.Minute
	}
	if cfg.BouncesEvery <= 0 {
		cfg.BouncesEvery = time.Minute
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	w := &Worker{d: d, cfg: cfg}
	w.srv = asynq.NewServerFromRedisClient(d.Redis, asynq.Config{
		Concurrency: cfg.Concurrency,
		Queues:      queueWeights(),
		// asynq polls empty queues; the default second between polls would
		// be the floor of every launch's and batch's latency.
		TaskCheckInterval: 100 * time.Millisecond,
		// Retries and scheduled launches wait in a sorted set until this
		// check moves them; the default 5 s would delay every retry of a
		// greylisted batch and every scheduled_at by up to that much.
		DelayedTaskCheckInterval: time.Second,
		RetryDelayFunc: func(n int, _ error, _ *asynq.Task) time.Duration {
			return cfg.RetryDelay(n)
		},
		// A campaign that is retrying is not an error worth a log line per
		// batch; real failures are logged once here, at the edge.
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			if errors.Is(err, campaigns.ErrRetryLater) {
				// The reason quotes the server's reply, which often names
				// the recipient: personal data stays out of info logs.
				attrs := []any{"type", t.Type()}
				if d.Log.Enabled(ctx, slog.LevelDebug) {
					attrs = append(attrs, "reason", err.Error())
				}
				d.Log.Info("worker: batch will be retried", attrs...)
				return
			}
			d.Log.Error("worker: task failed", "type", t.Type(), "err", err)
		}),
		Logger:          slogAdapter{d.Log},
		LogLevel:        asynq.WarnLevel,
		ShutdownTimeout: 20 * time.Second,
	})
	w.insp = asynq.NewInspectorFromRedisClient(d.Redis)
	w.queue = NewQueue(asynq.NewClientFromRedisClient(d.Redis), w.insp)
	schedOpts := &asynq.SchedulerOpts{
		Logger:            slogAdapter{d.Log},
		LogLevel:          asynq.WarnLevel,
		HeartbeatInterval: 5 * time.Second,
	}
	// asynq's Scheduler closes its client at shutdown and logs an error
	// when the client is shared: give it a connection of its own.
	if c, ok := d.Redis.(*redis.Client); ok {
		w.sched = asynq.NewScheduler(ownRedis{c.Options()}, schedOpts)
	} else {
		w.sched = asynq.NewSchedulerFromRedisClient(d.Redis, schedOpts)
	}
	return w
}

// ownRedis makes asynq open (and later close) a client of its own with the
// options of Herald's.
type ownRedis struct{ opt *redis.Options }

func (o ownRedis) MakeRedisClient() any { return redis.NewClient(o.opt) }

// Mux returns the task handlers (tests run them directly).
func (w *Worker) Mux() *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.HandleFunc(TypeCampaignLaunch, w.handleLaunch)
	mux.HandleFunc(TypeEmailSend, w.handleSend)
	mux.HandleFunc(TypeCampaignSweep, w.handleSweep)
	mux.HandleFunc(TypeSegmentsRefresh, w.handleRefresh)
	mux.HandleFunc(TypeSegmentsEval, w.handleEvaluate)
	mux.HandleFunc(TypeAutomationsTick, w.handleAutomationsTick)
	mux.HandleFunc(TypeBouncesPoll, w.handleBouncesPoll)
	return mux
}

// Start runs the server, the scheduler and the event consumer.
func (w *Worker) Start() error {
	// Every worker process registers the periodic tasks; Unique keeps one
	// copy per period whatever the number of processes.
	if _, err := w.sched.Register(fmt.Sprintf("@every %s", w.cfg.SweepEvery), NewSweepTask(), asynq.Unique(w.cfg.SweepEvery)); err != nil {
		return fmt.Errorf("worker: schedule sweep: %w", err)
	}
	// Full refreshes are a short check for the segments due one, not a
	// task every RefreshEvery: the scheduler runs a task one period after
	// the process starts, so workers restarted more often than that would
	// never refresh.
	check := min(refreshCheckEvery, w.cfg.RefreshEvery)
	if _, err := w.sched.Register(fmt.Sprintf("@every %s", check), NewRefreshTask(), asynq.Unique(check)); err != nil {
		return fmt.Errorf("worker: schedule refresh: %w", err)
	}
	if _, err := w.sched.Register(fmt.Sprintf("@every %s", w.cfg.AutomationsEvery), NewAutomationsTickTask(), asynq.Unique(w.cfg.AutomationsEvery)); err != nil {
		return fmt.Errorf("worker: schedule automations: %w", err)
	}
	if w.d.Bounces != nil {
		t, err := NewBouncesPollTask()
		if err != nil {
			return err
		}
		if _, err := w.sched.Register(fmt.Sprintf("@every %s", w.cfg.BouncesEvery), t, asynq.Unique(w.cfg.BouncesEvery)); err != nil {
			return fmt.Errorf("worker: schedule bounce mailbox: %w", err)
		}
	}
	if err := w.srv.Start(w.Mux()); err != nil {
		return fmt.Errorf("worker: start: %w", err)
	}
	if err := w.sched.Start(); err != nil {
		w.srv.Shutdown()
		return fmt.Errorf("worker: start scheduler: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.stop = cancel
	if w.d.Ingest != nil {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			if err := w.d.Ingest.Run(ctx); err != nil {
				w.d.Log.Error("worker: event consumer stopped", "err", err)
			}
		}()
	}
	// Catch up at start: campaigns that were sending when the previous
	// process stopped, launches lost with an embedded Redis.
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		if err := w.d.Campaigns.Sweep(ctx, w.cfg.StaleAfter); err != nil && ctx.Err() == nil {
			w.d.Log.Error("worker: start-up sweep", "err", err)
		}
	}()
	return nil
}

// Stop finishes running tasks (up to the shutdown timeout) and stops.
func (w *Worker) Stop() {
	w.sched.Shutdown()
	w.srv.Shutdown()
	if w.stop != nil {
		w.stop()
	}
	w.wg.Wait()
	if w.d.Ingest != nil {
		// Write what the web tier made durable while we were stopping.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := w.d.Ingest.Flush(ctx); err != nil {
			w.d.Log.Warn("worker: flush events at stop", "err", err)
		}
	}
}

func (w *Worker) handleLaunch(ctx context.Context, t *asynq.Task) error {
	var p LaunchPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	if err := w.d.Campaigns.Launch(ctx, p.CampaignID); err != nil {
		return err
	}
	return w.pickDueWinner(ctx, p.CampaignID)
}

// pickDueWinner records the winner of the campaign's A/B test once its
// time is up: the variant ahead by its figures. The launch is enqueued
// for the test's end and again by every sweep while the campaign sends,
// so a lost task only delays the pick to the next sweep.
func (w *Worker) pickDueWinner(ctx context.Context, id int64) error {
	if w.d.Reports == nil {
		return nil
	}
	due, err := w.d.Campaigns.WinnerDue(ctx, id)
	if err != nil || !due {
		return err
	}
	leader, err := w.d.Reports.LeadingVariant(ctx, id)
	if err != nil {
		return err
	}
	if _, err := w.d.Campaigns.DecideWinner(ctx, id, leader, ""); err != nil && !errors.Is(err, errs.ErrConflict) {
		return err
	}
	return nil
}

func (w *Worker) handleSend(ctx context.Context, t *asynq.Task) error {
	var p SendPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	return w.d.Sender.SendBatch(ctx, p.CampaignID, p.DeliveryIDs, retried >= maxRetry)
}

func (w *Worker) handleSweep(ctx context.Context, _ *asynq.Task) error {
	if err := w.recoverOrphans(ctx); err != nil {
		// The sweep below still runs: asynq recovers orphans itself, later.
		w.d.Log.Warn("worker: recover orphaned send tasks", "err", err)
	}
	return w.d.Campaigns.Sweep(ctx, w.cfg.StaleAfter)
}

// recoverOrphans re-enqueues the send batches whose task was left active by
// a worker process that died (kill -9, out of memory, a lost host): asynq
// notices such a task once its lease has run out (about 30 s), but its own
// recoverer looks only every minute and waits 30 s more, so a campaign
// would stall for up to two minutes. The copy gets an id of its own, and
// running a batch twice is harmless: the sender claims each delivery
// before sending it, so the copy sends only what the dead task had not
// claimed. The original runs again when asynq recovers it and finds
// nothing left.
func (w *Worker) recoverOrphans(ctx context.Context) error {
	for page := 1; ; page++ {
		tasks, err := w.insp.ListActiveTasks(QueueEmail, asynq.PageSize(100), asynq.Page(page))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			return nil // nothing was ever sent
		}
		if err != nil {
			return fmt.Errorf("worker: list active tasks: %w", err)
		}
		for _, t := range tasks {
			if !t.IsOrphaned || t.Type != TypeEmailSend {
				continue
			}
			var p SendPayload
			if err := json.Unmarshal(t.Payload, &p); err != nil {
				continue // the original fails the same way; nothing to recover
			}
			if err := w.queue.enqueueSend(ctx, p, recoveredID(t.ID)); err != nil {
				return err
			}
			w.d.Log.Warn("worker: re-enqueued a send batch left by a stopped worker", "campaign", p.CampaignID, "batch", p.Batch, "task", t.ID)
		}
		if len(tasks) < 100 {
			return nil
		}
	}
}

// refreshCheckEvery is how often workers look for segments due a full
// refresh.
const refreshCheckEvery = 5 * time.Minute

// handleRefresh makes the full segment refreshes that are due (see
// segments.Service.RefreshStale). A segment whose definition no longer
// compiles is skipped and reported; the others still refresh.
func (w *Worker) handleRefresh(ctx context.Context, _ *asynq.Task) error {
	n, err := w.d.Segments.RefreshStale(ctx, w.cfg.RefreshEvery)
	if n > 0 {
		w.d.Log.Info("worker: segments refreshed", "segments", n)
	}
	return w.segmentFailures(err)
}

// segmentFailures logs the segments that a refresh skipped because their
// definitions no longer compile, each once per process and reason (every
// contact change would log it again), and returns the other failures,
// which a retry may cure; retrying cannot mend a definition.
func (w *Worker) segmentFailures(err error) error {
	broken, rest := segments.BrokenSegments(err)
	for _, b := range broken {
		if w.broken.first(b.SegmentID, b.Reason.Error()) {
			w.d.Log.Warn("worker: segment skipped until its definition is edited: it no longer compiles",
				"segment", b.SegmentID, "name", b.Name, "reason", b.Reason.Error())
		}
	}
	return rest
}

// brokenSegments remembers the reason last reported for each segment.
type brokenSegments struct {
	mu   sync.Mutex
	seen map[int64]string
}

// first tells whether segment id has not been reported for reason yet.
func (b *brokenSegments) first(id int64, reason string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen == nil {
		b.seen = map[int64]string{}
	}
	if b.seen[id] == reason {
		return false
	}
	b.seen[id] = reason
	return true
}

func (w *Worker) handleEvaluate(ctx context.Context, t *asynq.Task) error {
	var p EvaluatePayload
	if err := decode(t, &p); err != nil {
		return err
	}
	if err := w.d.Automations.ContactsChanged(ctx, p.ContactIDs, p.Fields); err != nil {
		return err
	}
	return w.segmentFailures(w.d.Segments.ContactsChanged(ctx, p.ContactIDs, p.Fields))
}

func (w *Worker) handleAutomationsTick(ctx context.Context, _ *asynq.Task) error {
	res, err := w.d.Automations.Tick(ctx, time.Now().UTC())
	// A flow or run that failed was logged by the pass and recorded on the
	// flow; the others went on, so the task itself succeeded.
	if res.Enrolled+res.Sent+res.Exited+res.Failed > 0 {
		w.d.Log.Info("worker: automations", "enrolled", res.Enrolled, "sent", res.Sent, "deferred", res.Deferred, "exited", res.Exited, "done", res.Done, "failed", res.Failed)
	}
	return err
}

// recoveredID names the copy of an orphaned send task: send:C:B becomes
// send:C:B:r1, and a copy orphaned in its turn send:C:B:r2. Sweeps that
// find the same orphan again enqueue nothing while its copy exists.
func recoveredID(id string) string {
	base, n := id, 0
	if i := strings.LastIndex(id, ":r"); i > 0 {
		if k, err := strconv.Atoi(id[i+2:]); err == nil {
			base, n = id[:i], k
		}
	}
	return base + ":r" + strconv.Itoa(n+1)
}

// slogAdapter routes asynq's logs to slog.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a slogAdapter) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a slogAdapter) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a slogAdapter) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a slogAdapter) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
