package main

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"herald/campaigns"
	"herald/internal/smtptest"
	"herald/internal/testenv"
)

// These tests take away what a worker depends on while it sends: its own
// life (SIGTERM, as a deploy or a scale-down does), Redis's data (a
// restart of a Redis that keeps nothing on disk loses every queued task)
// and, on PostgreSQL, its database connections (a database restart or
// failover cuts them all). In every case the campaign must still finish
// by itself, every subscribed recipient receiving exactly one message,
// apart from deliveries counted unknown where a send was cut after the
// server may have accepted it.

// depWorldRecipients is large enough that each fault lands mid-send.
const depWorldRecipients = 4000

func TestWorkersSurviveTheirDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("builds herald and runs worker processes")
	}
	bin := buildHerald(t)

	t.Run("SIGTERM mid-send stops the worker within its shutdown timeout and loses nothing", func(t *testing.T) {
		// A slow server, so that the worker holds claims when it is asked
		// to stop.
		w := newProcWorld(t, bin, smtptest.Options{Delay: 2 * time.Millisecond})
		w.seed(depWorldRecipients)
		id := w.campaign()
		w.startWorkers(1)
		w.send(id, nil)
		w.waitFor("the first 500 messages", func() bool { return w.smtp.Total() >= 500 })

		p := w.workers[0]
		asked := time.Now()
		var took time.Duration
		if err := p.Interrupt(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.Done():
			took = time.Since(asked)
		case <-time.After(30 * time.Second):
			t.Fatalf("the worker was still running %v after SIGTERM (shutdown timeout 20 s)", time.Since(asked))
		}
		if code := p.Cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("the worker exited with code %d after SIGTERM, want 0", code)
		}
		stoppedAt := w.smtp.Total()
		if stoppedAt >= w.subscribed() {
			t.Fatalf("the whole campaign (%d messages) went out before the worker stopped; the test proves nothing", stoppedAt)
		}
		// A stopped worker finished or gave back what it held: nothing is
		// left in flight for a sweep to settle.
		if st := w.stats(id); st.InFlight != 0 {
			t.Errorf("%d deliveries in flight after a clean stop", st.InFlight)
		}

		w.startWorkers(1)
		w.waitFor("the campaign to be sent", func() bool { return w.get(id).Status == campaigns.CampaignSent })
		if got := w.checkLedger(id); got[campaigns.DeliveryUnknown] != 0 {
			t.Errorf("%d deliveries unknown after a clean stop; SIGTERM must lose nothing", got[campaigns.DeliveryUnknown])
		}
		t.Logf("stopped %v after SIGTERM, at %d of %d messages", took.Round(time.Millisecond), stoppedAt, w.subscribed())
	})

	t.Run("Redis losing every queued task mid-send: the sweep re-queues the campaign and it completes", func(t *testing.T) {
		w := newProcWorld(t, bin, smtptest.Options{Delay: 2 * time.Millisecond})
		w.seed(depWorldRecipients)
		id := w.campaign()
		w.startWorkers(2)
		w.send(id, nil)
		w.waitFor("the first 500 messages", func() bool { return w.smtp.Total() >= 500 })

		opt, err := redis.ParseURL(w.env["HERALD_REDIS_URL"])
		if err != nil {
			t.Fatal(err)
		}
		rc := redis.NewClient(opt)
		defer rc.Close()
		if err := rc.FlushDB(context.Background()).Err(); err != nil {
			t.Fatalf("flush the workers' Redis: %v", err)
		}
		flushedAt := w.smtp.Total()
		if flushedAt >= w.subscribed() {
			t.Fatalf("the whole campaign went out before Redis lost its tasks; the test proves nothing")
		}

		w.waitFor("the campaign to be sent", func() bool { return w.get(id).Status == campaigns.CampaignSent })
		got := w.checkLedger(id)
		// Tasks that were running when their Redis state vanished still
		// hold their claims in the database; at most one claim per running
		// task may end unknown.
		if limit := 2 * procConcurrency * procClaimSize; got[campaigns.DeliveryUnknown] > limit {
			t.Errorf("%d deliveries unknown after Redis lost its tasks, more than %d", got[campaigns.DeliveryUnknown], limit)
		}
		t.Logf("Redis flushed at %d messages; ledger %v", flushedAt, got)
	})

	if testenv.Postgres() {
		t.Run("PostgreSQL cutting every worker connection mid-send: workers reconnect and the campaign completes", func(t *testing.T) {
			w := newProcWorld(t, bin, smtptest.Options{Delay: 2 * time.Millisecond})
			// The workers name their connections, so that only theirs are
			// cut: other tests share this PostgreSQL.
			appName := "herald_depfail_" + fmt.Sprint(time.Now().UnixNano())
			u, err := url.Parse(w.env["HERALD_DATABASE_URL"])
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			q.Set("application_name", appName)
			u.RawQuery = q.Encode()
			w.env["HERALD_DATABASE_URL"] = u.String()

			w.seed(depWorldRecipients)
			id := w.campaign()
			w.startWorkers(2)
			w.send(id, nil)
			cuts := 0
			for _, at := range []int{400, 1500} {
				w.waitFor(fmt.Sprintf("%d messages", at), func() bool { return w.smtp.Total() >= at })
				var n int64
				if err := w.app.DB.Raw(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = ?`, appName).Scan(&n).Error; err != nil {
					t.Fatalf("terminate the workers' connections: %v", err)
				}
				if n == 0 {
					t.Fatalf("no connection named %s to cut", appName)
				}
				cuts++
				t.Logf("cut %d worker connections at %d messages", n, w.smtp.Total())
			}
			w.waitFor("the campaign to be sent", func() bool { return w.get(id).Status == campaigns.CampaignSent })
			got := w.checkLedger(id)
			if limit := cuts * 2 * procConcurrency * procClaimSize; got[campaigns.DeliveryUnknown] > limit {
				t.Errorf("%d deliveries unknown after %d cuts, more than %d", got[campaigns.DeliveryUnknown], cuts, limit)
			}
			t.Logf("ledger after %d cuts: %v", cuts, got)
		})
	}
}

// subscribed is the number of seeded contacts a campaign to everyone sends to.
func (w *procWorld) subscribed() int {
	return len(w.emails) - len(w.suppressed)
}
