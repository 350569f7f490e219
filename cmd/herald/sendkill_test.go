package main

import (
	"bytes"
	"context"
	"fmt"
	"herald/internal/app"
	"herald/internal/childproc"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/db"
	"herald/internal/smtptest"
	"herald/internal/testenv"
	"herald/reports"
	"herald/segments"
)

// These tests run the herald binary as real `herald worker` processes on
// one database and one Redis (testenv's: SQLite and the embedded Redis, or
// PostgreSQL and Redis when HERALD_TEST_DATABASE_URL and
// HERALD_TEST_REDIS_URL are set), sending to an SMTP server in the test
// process that counts what each recipient received. They prove the ledger's
// promise where it matters, across processes that crash, race and meet
// faulty servers: every subscribed recipient gets exactly one message,
// except deliveries left in doubt by a killed process (counted as unknown,
// at most one message each, at most one per task that was running: the
// claim's Attempts record tells the sweep which of a dead worker's claimed
// deliveries the server accepted and which were never completed), and no
// suppressed contact gets any.

const (
	// procConcurrency and procClaimSize are the workers' settings. The
	// bound on unknown deliveries after a kill is procConcurrency, one per
	// running task, however large the claims.
	procConcurrency = 4
	procClaimSize   = 50
	// procWait bounds every wait for workers to finish something; a wait
	// ends as soon as the outcome is there.
	procWait = 4 * time.Minute
)

func TestWorkerProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds herald and runs worker processes")
	}
	bin := buildHerald(t)

	t.Run("each recipient gets at most one message", func(t *testing.T) {
		tests := []struct {
			name       string
			recipients int
			workers    int // processes running at once
			faults     smtptest.Options
			// kills lists how many accepted messages to wait for before
			// killing a worker with SIGKILL and starting a new one.
			kills []int
		}{
			{name: "kill -9 during launch and twice mid-campaign, new worker each time", recipients: 20000, workers: 1, kills: []int{1, 6000, 13000}},
			{name: "three workers at once", recipients: 12000, workers: 3},
			{name: "451s, dropped connections and 550s", recipients: 6000, workers: 2,
				faults: smtptest.Options{Seed: 7, TempFail: 0.05, Drop: 0.03, BounceContains: "refuse"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				w := newProcWorld(t, bin, tc.faults)
				w.seed(tc.recipients)
				id := w.campaign()
				w.startWorkers(tc.workers)
				w.send(id, nil)
				for _, at := range tc.kills {
					w.waitFor(fmt.Sprintf("%d messages accepted", at), func() bool { return w.smtp.Total() >= at })
					launched := w.get(id).LaunchedAt != nil
					w.killWorker()
					t.Logf("killed a worker at %d accepted messages (launch finished: %v)", w.smtp.Total(), launched)
					w.startWorkers(1)
				}
				w.waitFor("the campaign to be sent", func() bool { return w.get(id).Status == campaigns.CampaignSent })

				got := w.checkLedger(id)
				if limit := len(tc.kills) * procConcurrency; got[campaigns.DeliveryUnknown] > limit {
					t.Errorf("%d deliveries unknown, more than %d (one per task of %d, %d kills; claims of %d)",
						got[campaigns.DeliveryUnknown], limit, procConcurrency, len(tc.kills), procClaimSize)
				}
				if len(tc.kills) == 0 && got[campaigns.DeliveryUnknown] > 0 {
					t.Errorf("%d deliveries unknown without any crash", got[campaigns.DeliveryUnknown])
				}
				retried := 0
				for _, d := range w.deliveries(id) {
					if d.Attempts > 1 {
						retried++
					}
				}
				// Deliveries are attempted again only after a temporary
				// failure, or when a killed worker's claim went back to the
				// queue because its record showed them never completed.
				faulty := tc.faults.TempFail+tc.faults.Drop > 0
				if want := faulty || len(tc.kills) > 0; want != (retried > 0) {
					t.Errorf("%d deliveries were attempted more than once; the server's faults: %+v; %d kills", retried, tc.faults, len(tc.kills))
				}
				if tc.faults.BounceContains == "" && got[campaigns.DeliveryBounced] > 0 {
					t.Errorf("%d bounces from a server that refuses no one", got[campaigns.DeliveryBounced])
				}
				t.Logf("ledger: %v; %d messages accepted; %d deliveries retried", got, w.smtp.Total(), retried)
			})
		}
	})

	t.Run("pause, resume and cancel reach every worker within a second", func(t *testing.T) {
		// A slow server, so that the campaign is still sending when the
		// test acts on it.
		w := newProcWorld(t, bin, smtptest.Options{Delay: 4 * time.Millisecond})
		w.seed(8000)
		id := w.campaign()
		w.startWorkers(2)
		w.send(id, nil)
		w.waitFor("the first 500 messages", func() bool { return w.smtp.Total() >= 500 })
		// While it sends, the stats tell how fast and how long still.
		if st := w.stats(id); st.Rate <= 0 || st.ETASeconds == nil || *st.ETASeconds <= 0 || st.Queued+st.InFlight == 0 {
			t.Errorf("stats while sending: rate %v, eta %v, %d queued, %d in flight; want a rate, an ETA and work left",
				st.Rate, st.ETASeconds, st.Queued, st.InFlight)
		}

		w.act(id, "pause", func() error { _, err := w.app.Campaigns.Pause(context.Background(), id, "checking"); return err })
		paused := w.smtp.Total()
		if st := w.stats(id); st.Queued == 0 {
			t.Fatalf("nothing left to send after the pause: %+v", st)
		}
		time.Sleep(time.Second) // a paused campaign stays paused
		if n := w.smtp.Total(); n != paused {
			t.Fatalf("%d messages sent while paused", n-paused)
		}

		if _, err := w.app.Campaigns.Resume(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		w.waitFor("sending to go on after resume", func() bool { return w.smtp.Total() >= paused+500 })
		w.act(id, "cancel", func() error { _, err := w.app.Campaigns.Cancel(context.Background(), id); return err })

		got := w.checkLedger(id)
		if got[campaigns.DeliverySkipped] == 0 || got[campaigns.DeliverySent] == 0 || got[campaigns.DeliveryUnknown] > 0 {
			t.Errorf("ledger after cancel = %v, want sent and skipped deliveries and no unknown", got)
		}
		if c := w.get(id); c.Status != campaigns.CampaignCancelled {
			t.Errorf("status = %s, want cancelled", c.Status)
		}
	})

	t.Run("a scheduled campaign starts at its time, not before", func(t *testing.T) {
		w := newProcWorld(t, bin, smtptest.Options{})
		w.seed(200)
		id := w.campaign()
		w.startWorkers(1)
		at := time.Now().Add(3 * time.Second)
		if c := w.send(id, &at); c.Status != campaigns.CampaignScheduled {
			t.Fatalf("status = %s, want scheduled", c.Status)
		}
		w.waitFor("the campaign to be sent", func() bool { return w.get(id).Status == campaigns.CampaignSent })
		c := w.get(id)
		if c.StartedAt == nil || c.StartedAt.Before(*c.ScheduledAt) {
			t.Errorf("started at %v, scheduled at %v", c.StartedAt, c.ScheduledAt)
		}
		for _, d := range w.deliveries(id) {
			if d.ClaimedAt != nil && d.ClaimedAt.Before(*c.ScheduledAt) {
				t.Fatalf("delivery %d claimed at %v, before the schedule %v", d.ID, d.ClaimedAt, c.ScheduledAt)
			}
		}
		w.checkLedger(id)
	})
}

// buildHerald compiles the herald binary once for the whole test.
func buildHerald(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "herald")
	out, err := exec.Command("go", "build", "-tags", "heraldtest", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// procWorld is one database, one Redis and one SMTP server, with worker
// processes on them and this process acting as the web tier.
type procWorld struct {
	t       *testing.T
	bin     string
	app     *app.App
	smtp    *smtptest.Server
	env     map[string]string
	logs    *syncBuffer
	workers []*childproc.Proc

	emails     map[int64]string // contact id -> email
	suppressed map[int64]bool   // not subscribed when the campaign was sent
}

func newProcWorld(t *testing.T, bin string, faults smtptest.Options) *procWorld {
	t.Helper()
	srv := smtptest.Start(t, faults)
	cfg := &app.Config{
		DatabaseURL: testenv.DatabaseURL(t), RedisURL: testenv.RedisURL(t), SMTPURL: srv.URL(),
		BaseURL: "https://herald.example", Secret: "a secret shared by every process of the test",
		AdminEmail: "admin@example.com", HTTPAddr: "127.0.0.1:0",
	}
	app, err := app.New(context.Background(), cfg, testenv.Logger(), io.Discard, false, false, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := &procWorld{t: t, bin: bin, app: app, smtp: srv, logs: &syncBuffer{}}
	w.env = map[string]string{
		"HERALD_DATABASE_URL": cfg.DatabaseURL, "HERALD_REDIS_URL": cfg.RedisURL, "HERALD_SMTP_URL": cfg.SMTPURL,
		"HERALD_BASE_URL": cfg.BaseURL, "HERALD_SECRET": cfg.Secret, "HERALD_LOG_LEVEL": "warn",
		"HERALD_WORKER_CONCURRENCY": strconv.Itoa(procConcurrency), "HERALD_SMTP_POOL": strconv.Itoa(procConcurrency),
		// Seconds where production waits minutes: a greylisted batch is
		// retried at once, and a delivery left in flight by a killed
		// worker is settled from its record after 10 s (far longer than a
		// live claim of 50 messages to a local server takes).
		envTestRetryDelay: "200ms", envTestSweepEvery: "1s", envTestStaleAfter: "10s",
		envTestClaimSize: strconv.Itoa(procClaimSize),
	}
	t.Cleanup(func() {
		for _, p := range w.workers {
			p.Stop()
		}
		app.Close()
		if t.Failed() {
			t.Logf("worker logs:\n%s", w.logs.String())
		}
	})
	return w
}

// seed adds n contacts: most subscribed, some unsubscribed, bounced or
// complained before the campaign, and every 50th with an address the
// faulty server refuses.
func (w *procWorld) seed(n int) {
	w.t.Helper()
	now := db.Now()
	rows := make([]contacts.Contact, n)
	for i := range rows {
		email := fmt.Sprintf("r%05d@example.com", i)
		if i%50 == 7 {
			email = fmt.Sprintf("r%05d.refuse@example.com", i)
		}
		st := contacts.Subscribed
		switch {
		case i%41 == 3:
			st = contacts.Unsubscribed
		case i%59 == 5:
			st = contacts.Bounced
		case i%97 == 11:
			st = contacts.Complained
		}
		rows[i] = contacts.Contact{Email: email, FirstName: benchFirstNames[i%len(benchFirstNames)], Source: "proc",
			Status: st, Attributes: db.JSONMap{}, CreatedAt: now, UpdatedAt: now}
	}
	if err := w.app.DB.CreateInBatches(&rows, 100).Error; err != nil {
		w.t.Fatal(err)
	}
	w.emails, w.suppressed = map[int64]string{}, map[int64]bool{}
	for _, c := range rows {
		w.emails[c.ID] = c.Email
		if c.Status != contacts.Subscribed {
			w.suppressed[c.ID] = true
		}
	}
}

func (w *procWorld) campaign() int64 {
	w.t.Helper()
	ctx := context.Background()
	name := "Everyone"
	seg, err := w.app.Segments.Create(ctx, segments.Input{Name: &name, Definition: []byte(`{"field": "source", "op": "eq", "value": "proc"}`)})
	if err != nil {
		w.t.Fatal(err)
	}
	subject, html, from := `Hello {{.FirstName | default "there"}}`, `<p>Hi {{.FirstName}},</p><p><a href="https://shop.example.com/">Shop</a></p>`, "news@shop.example.com"
	c, err := w.app.Campaigns.Create(ctx, campaigns.Input{Name: &name, Subject: &subject, HTMLBody: &html, FromEmail: &from, SegmentIDs: &[]int64{seg.ID}})
	if err != nil {
		w.t.Fatal(err)
	}
	return c.ID
}

func (w *procWorld) startWorkers(n int) {
	w.t.Helper()
	for range n {
		p, err := childproc.Start(context.Background(), w.bin, []string{"worker"}, w.env, "Herald worker running", w.logs)
		if err != nil {
			w.t.Fatalf("%v\n%s", err, w.logs.String())
		}
		w.workers = append(w.workers, p)
	}
}

// killWorker kills the oldest running worker with SIGKILL: no deferred
// function, no shutdown, as a crash or the OOM killer would.
func (w *procWorld) killWorker() {
	w.t.Helper()
	for _, p := range w.workers {
		if !p.Exited() {
			p.Kill()
			return
		}
	}
	w.t.Fatal("no worker left to kill")
}

func (w *procWorld) send(id int64, at *time.Time) campaigns.Campaign {
	w.t.Helper()
	c, err := w.app.Campaigns.Send(context.Background(), id, at)
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

func (w *procWorld) get(id int64) campaigns.Campaign {
	w.t.Helper()
	c, err := w.app.Campaigns.Get(context.Background(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

func (w *procWorld) stats(id int64) reports.Stats {
	w.t.Helper()
	st, err := w.app.Reports.Stats(context.Background(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return st
}

func (w *procWorld) deliveries(id int64) []campaigns.Delivery {
	w.t.Helper()
	var ds []campaigns.Delivery
	if err := w.app.DB.Select("id", "contact_id", "status", "attempts", "claimed_at").Where("campaign_id = ?", id).Find(&ds).Error; err != nil {
		w.t.Fatal(err)
	}
	return ds
}

// waitFor waits until cond holds, failing the test if it never does.
func (w *procWorld) waitFor(what string, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(procWait)
	for !cond() {
		for _, p := range w.workers {
			if !p.Stopped() && p.Exited() {
				w.t.Fatalf("a worker stopped by itself while waiting for %s:\n%s", what, w.logs.String())
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// act pauses or cancels the campaign and checks that no worker claimed a
// delivery more than a second after the change committed: each sender
// re-reads the status at most every 500 ms and before every claim.
func (w *procWorld) act(id int64, what string, do func() error) {
	w.t.Helper()
	if err := do(); err != nil {
		w.t.Fatalf("%s: %v", what, err)
	}
	done := time.Now()
	w.waitFor("the workers to let go of their last claims", func() bool { return w.stats(id).InFlight == 0 })
	time.Sleep(1500 * time.Millisecond) // past the 500 ms any worker may still act on
	for _, d := range w.deliveries(id) {
		if d.ClaimedAt != nil && d.ClaimedAt.After(done.Add(time.Second)) {
			w.t.Fatalf("after %s, delivery %d was claimed %v later", what, d.ID, d.ClaimedAt.Sub(done))
		}
	}
}

// checkLedger compares what the SMTP server received per recipient with
// the ledger, and returns the number of deliveries in each status.
func (w *procWorld) checkLedger(id int64) map[campaigns.DeliveryStatus]int {
	w.t.Helper()
	got := map[campaigns.DeliveryStatus]int{}
	byContact := map[int64]campaigns.DeliveryStatus{}
	for _, d := range w.deliveries(id) {
		got[d.Status]++
		byContact[d.ContactID] = d.Status
	}
	sum, unknownReceived := 0, 0
	for cid, email := range w.emails {
		n := w.smtp.CountFor(email)
		sum += n
		st, has := byContact[cid]
		switch {
		case w.suppressed[cid]:
			if n != 0 || has {
				w.t.Errorf("suppressed %s got %d messages (delivery: %q)", email, n, st)
			}
		case !has:
			w.t.Errorf("subscribed %s has no delivery", email)
		case st == campaigns.DeliverySent && n != 1:
			w.t.Errorf("%s is marked sent and got %d messages", email, n)
		case st == campaigns.DeliveryUnknown && n > 1:
			w.t.Errorf("%s is unknown and got %d messages", email, n)
		case st == campaigns.DeliveryBounced || st == campaigns.DeliverySkipped:
			if n != 0 {
				w.t.Errorf("%s is %s and got %d messages", email, st, n)
			}
			if st == campaigns.DeliveryBounced && !strings.Contains(email, "refuse") {
				w.t.Errorf("%s bounced, but the server accepts it", email)
			}
		case st != campaigns.DeliverySent && st != campaigns.DeliveryUnknown:
			w.t.Errorf("%s: delivery left %s with %d messages", email, st, n)
		}
		if st == campaigns.DeliveryUnknown {
			unknownReceived += n
		}
		if st == campaigns.DeliveryBounced {
			c, err := w.app.Contacts.Get(context.Background(), cid)
			if err != nil || c.Status != contacts.Bounced {
				w.t.Errorf("%s bounced but its contact is %s (%v)", email, c.Status, err)
			}
		}
	}
	if total := w.smtp.Total(); total != sum {
		w.t.Errorf("the server accepted %d messages, %d of them for the campaign's contacts", total, sum)
	}
	if got[campaigns.DeliveryUnknown] > 0 {
		w.t.Logf("%d unknown deliveries, %d of which the server had accepted", got[campaigns.DeliveryUnknown], unknownReceived)
	}
	return got
}

// syncBuffer collects the workers' logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
