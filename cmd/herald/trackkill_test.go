package main

import (
	"bytes"
	"context"
	"fmt"
	"herald/internal/app"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/testenv"
	"herald/tracking"
)

// trackLog collects a child's output for the test log.
type trackLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *trackLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *trackLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// buildHeraldForTrack builds this command into the test's temp dir.
func buildHeraldForTrack(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "herald")
	out, err := exec.Command(goBin, "build", "-tags", "heraldtest", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestEveryAnsweredHitIsStoredOnceAcrossAWorkerKill fires tracking hits
// at an in-process web tier while a `herald worker` child writes them to
// the database, kills that worker with SIGKILL in the middle, starts
// another, and checks that the events table ends up with exactly one
// event per request answered: none lost with the dead worker's unacknowledged
// entries, none written twice when the new worker claims them.
func TestEveryAnsweredHitIsStoredOnceAcrossAWorkerKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and waits for a dead worker's entries to go stale")
	}
	bin := buildHeraldForTrack(t)
	ctx := context.Background()
	dbURL, redisURL := testenv.DatabaseURL(t), testenv.RedisURL(t)
	secret := "kill test secret, long enough"
	cfg := &app.Config{
		DatabaseURL: dbURL, RedisURL: redisURL, HTTPAddr: "127.0.0.1:0", BaseURL: "http://127.0.0.1",
		Secret: secret, APIKey: "kill-test-key", AdminEmail: "admin@example.com", AdminPassword: "kill test password",
		AttributionDays: 5, EmbeddedRedisAddr: "127.0.0.1:0", EmbeddedSMTPAddr: "127.0.0.1:0",
	}
	// The web tier only: the events are the children's to write.
	app, err := app.New(ctx, cfg, testenv.Logger(), io.Discard, true, false, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	web := httptest.NewServer(app.Web.Handler())
	t.Cleanup(web.Close)

	// A sent campaign with three links to 40 contacts.
	name, subject, from, html := "Kill test", "Hello", "shop@example.com", "<p>hi</p>"
	camp, err := app.Campaigns.Create(ctx, campaigns.Input{Name: &name, Subject: &subject, FromEmail: &from, HTMLBody: &html})
	if err != nil {
		t.Fatal(err)
	}
	links := []campaigns.Link{{CampaignID: camp.ID, Idx: 0, URL: "https://shop.example.com/a"}, {CampaignID: camp.ID, Idx: 1, URL: "https://shop.example.com/b"}, {CampaignID: camp.ID, Idx: 2, URL: "https://shop.example.com/c"}}
	if err := app.DB.Create(&links).Error; err != nil {
		t.Fatal(err)
	}
	var ins []contacts.Input
	for i := range 40 {
		e := fmt.Sprintf("reader%d@example.com", i)
		ins = append(ins, contacts.Input{Email: &e})
	}
	res, err := app.Contacts.UpsertMany(ctx, ins)
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now().Add(-time.Hour)
	var urls []string
	for i, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		d := campaigns.Delivery{CampaignID: camp.ID, ContactID: r.Contact.ID, Status: campaigns.DeliverySent, Batch: 1, SentAt: &sent}
		if err := app.DB.Create(&d).Error; err != nil {
			t.Fatal(err)
		}
		urls = append(urls, web.URL+"/t/o/"+app.Signer.Sign(tracking.Token{Kind: tracking.Open, CampaignID: camp.ID, ContactID: r.Contact.ID})+".gif")
		for l := range links {
			if (i+l)%2 == 0 {
				urls = append(urls, web.URL+"/t/c/"+app.Signer.Sign(tracking.Token{Kind: tracking.Click, CampaignID: camp.ID, ContactID: r.Contact.ID, LinkID: int64(l)}))
			}
		}
	}

	countEvents := func() int64 {
		var n int64
		err := app.DB.Model(&contacts.Event{}).Where("campaign_id = ? AND type IN ?", camp.ID, []string{contacts.EventOpen, contacts.EventClick}).Count(&n).Error
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	startWorker := func(name string) (*exec.Cmd, *trackLog) {
		cmd := exec.Command(bin, "worker")
		cmd.Env = append(os.Environ(),
			"HERALD_DATABASE_URL="+dbURL, "HERALD_REDIS_URL="+redisURL, "HERALD_SECRET="+secret,
			"HERALD_SMTP_URL=", "HERALD_LOG_LEVEL=warn", "HERALD_WORKER_CONCURRENCY=2")
		out := &trackLog{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				cmd.Process.Kill()
				cmd.Wait()
			}
			if t.Failed() {
				t.Logf("%s output:\n%s", name, out.String())
			}
		})
		return cmd, out
	}

	const total = 3000
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var answered, other, fired atomic.Int64
	fire := func() {
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := g; ; k += 8 {
					if fired.Add(1) > total {
						return
					}
					req, _ := http.NewRequest(http.MethodGet, urls[k%len(urls)], nil)
					req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
					resp, err := client.Do(req)
					if err != nil {
						other.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusOK {
						answered.Add(1)
					} else {
						other.Add(1)
					}
					// Spread the hits over about six seconds, so that the
					// worker is killed with work in hand and more to come.
					time.Sleep(15 * time.Millisecond)
				}
			}()
		}
		wg.Wait()
	}

	first, _ := startWorker("first worker")
	done := make(chan struct{})
	go func() { fire(); close(done) }()

	// pending is how many stream entries a consumer has read and not
	// acknowledged. The consumer holds clicks until their contact has been
	// quiet for a few seconds, and these contacts click again and again,
	// so while the load runs the worker always holds some.
	pending := func() int64 {
		p, err := app.Redis.XPending(ctx, tracking.DefaultStream, tracking.ConsumerGroup).Result()
		if err != nil {
			return 0
		}
		return p.Count
	}
	eventually(t, "the first worker writing events while holding others", func() bool {
		return countEvents() >= total/5 && pending() > 0
	})
	if fired.Load() >= total {
		t.Fatal("the load was over before the kill; the test proves nothing")
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	killedAt := countEvents()
	// Entries the dead worker read and never acknowledged: only the
	// second worker's claim of stale entries can write them.
	orphaned := pending()
	if orphaned == 0 {
		t.Fatal("the killed worker held no unacknowledged entries; the reclaim path would not be exercised")
	}
	startWorker("second worker")
	<-done
	if other.Load() != 0 {
		t.Fatalf("%d requests were not answered with 200 or 302", other.Load())
	}
	want := answered.Load()
	if want != total {
		t.Fatalf("%d requests answered, want %d", want, total)
	}
	if killedAt >= want {
		t.Fatalf("the first worker had written all %d events before it was killed; the test proves nothing", killedAt)
	}
	t.Logf("killed the first worker after %d of %d events, with %d stream entries in hand", killedAt, want, orphaned)

	// The dead worker's unacknowledged entries go to the second once they
	// have been idle long enough.
	deadline := time.Now().Add(90 * time.Second)
	for countEvents() < want && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := countEvents(); got != want {
		t.Fatalf("%d events stored for %d requests answered", got, want)
	}
	var keys int64
	if err := app.DB.Model(&contacts.Event{}).Where("campaign_id = ?", camp.ID).Distinct("dedupe_key").Count(&keys).Error; err != nil {
		t.Fatal(err)
	}
	if keys != want {
		t.Errorf("%d distinct dedupe keys for %d events", keys, want)
	}
	eventually(t, "the stream drained", func() bool {
		n, err := app.Ingest.Pending(ctx)
		return err == nil && n == 0 && pending() == 0
	})
}
