package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"herald/internal/testenv"
)

// limiters returns n RateLimiters at perSec, each with its own client on
// one Redis database, as n worker processes would have.
func limiters(t *testing.T, n int, perSec float64) []*RateLimiter {
	t.Helper()
	url := testenv.RedisURL(t)
	var out []*RateLimiter
	for range n {
		opt, err := redis.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		rdb := redis.NewClient(opt)
		t.Cleanup(func() { rdb.Close() })
		out = append(out, NewRateLimiter(rdb, perSec))
	}
	return out
}

// base is a Unix time in microseconds with all sixteen digits significant.
var base = time.UnixMicro(1_780_000_000_123_457)

func TestRateLimitersOnOneRedisShareOneRate(t *testing.T) {
	ls := limiters(t, 2, 50) // 20 ms a message, 100 ms of burst
	ctx := context.Background()
	var last time.Duration
	for k := range 100 {
		wait, err := ls[k%2].reserve(ctx, base, 1)
		if err != nil {
			t.Fatalf("reserve %d: %v", k, err)
		}
		// One 50/s rate: slot k is k*20 ms away, less the burst.
		want := max(0, time.Duration(k)*20*time.Millisecond-100*time.Millisecond)
		if wait != want {
			t.Fatalf("reservation %d (limiter %d) waits %v, want %v", k, k%2, wait, want)
		}
		last = wait
	}
	if last != 2*time.Second-20*time.Millisecond-100*time.Millisecond {
		t.Errorf("last wait %v, want 2 s less one interval and the burst", last)
	}
}

func TestRateLimiterWaits(t *testing.T) {
	type step struct {
		limiter int
		at      time.Duration // after base
		n       int
		want    time.Duration
	}
	tests := []struct {
		name   string
		perSec float64
		steps  []step
	}{
		{"within the burst nobody waits", 50, []step{
			{0, 0, 1, 0}, {1, 0, 1, 0}, {0, 0, 1, 0}, {1, 0, 1, 0}, {0, 0, 1, 0}, {1, 0, 1, 0}, {0, 0, 1, 20 * time.Millisecond},
		}},
		{"a batch waits for its last slot", 50, []step{
			{0, 0, 10, 80 * time.Millisecond},  // slots 0..180 ms, less 100 ms burst
			{1, 0, 10, 280 * time.Millisecond}, // slots 200..380 ms
		}},
		{"time passing frees slots", 50, []step{
			{0, 0, 100, 1880 * time.Millisecond},
			{1, time.Second, 1, 900 * time.Millisecond},      // next slot at 2 s
			{0, 3 * time.Second, 1, 0},                       // idle: the rate starts over at 3 s
			{1, 3 * time.Second, 10, 100 * time.Millisecond}, // slots 3.02..3.2 s
		}},
		{"a clock behind the shared state waits longer", 10, []step{
			{0, time.Second, 5, 300 * time.Millisecond}, // slots 1.0..1.4 s
			{1, 0, 1, 1400 * time.Millisecond},          // its clock is a second late: slot 1.5 s
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls := limiters(t, 2, tt.perSec)
			for i, s := range tt.steps {
				got, err := ls[s.limiter].reserve(context.Background(), base.Add(s.at), s.n)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if got != s.want {
					t.Errorf("step %d (limiter %d, +%v, n=%d): wait %v, want %v", i, s.limiter, s.at, s.n, got, s.want)
				}
			}
		})
	}
}

func TestRateLimiterStateExpires(t *testing.T) {
	ls := limiters(t, 1, 50)
	l := ls[0]
	if _, err := l.reserve(context.Background(), time.Now(), 100); err != nil {
		t.Fatal(err)
	}
	ttl, err := l.rdb.PTTL(context.Background(), l.key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 0 {
		t.Errorf("the rate state has TTL %v, want it to expire", ttl)
	}
}

// cancelAfterScript cancels a context that carries a cancel func once the
// rate script has run on it: a Take on such a context that decides to wait
// returns the context's error at once, and one that does not returns nil.
// That tells whether Take waits without measuring time.
type cancelAfterScript struct{}

type cancelKey struct{}

func (cancelAfterScript) DialHook(next redis.DialHook) redis.DialHook { return next }

func (cancelAfterScript) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if name := cmd.Name(); err == nil && (name == "evalsha" || name == "eval") {
			if cancel, ok := ctx.Value(cancelKey{}).(context.CancelFunc); ok {
				cancel()
			}
		}
		return err
	}
}

func (cancelAfterScript) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// waits reports whether l.Take(n) decided to wait.
func waits(t *testing.T, l *RateLimiter, n int) bool {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := l.Take(context.WithValue(ctx, cancelKey{}, cancel), n)
	switch {
	case err == nil:
		return false
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return true
	}
	t.Fatalf("Take: %v", err)
	return false
}

func TestTakeWaitsOnlyBeyondTheSharedRate(t *testing.T) {
	ls := limiters(t, 2, 50)
	now := base
	for _, l := range ls {
		l.rdb.AddHook(cancelAfterScript{})
		l.now = func() time.Time { return now }
	}
	steps := []struct {
		limiter int
		at      time.Duration
		n       int
		want    bool
	}{
		{0, 0, 3, false}, // slots 0..40 ms, within the 100 ms burst
		{1, 0, 3, false}, // slots 60..100 ms
		{0, 0, 1, true},  // slot 120 ms
		{1, 0, 1, true},
		{0, 50 * time.Millisecond, 1, true}, // slot 160 ms is 110 ms away
		{1, time.Hour, 5, false},            // an hour later the rate starts over
	}
	for i, s := range steps {
		now = base.Add(s.at)
		if got := waits(t, ls[s.limiter], s.n); got != s.want {
			t.Errorf("step %d (limiter %d, +%v, n=%d): waits = %v, want %v", i, s.limiter, s.at, s.n, got, s.want)
		}
	}
}

func TestTakeWithoutARateNeverWaits(t *testing.T) {
	// A client on a closed port: any Redis call would fail.
	unreachable := redis.NewClient(&redis.Options{Addr: closedAddr(t), MaxRetries: -1})
	t.Cleanup(func() { unreachable.Close() })
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		l    *RateLimiter
		n    int
	}{
		{"perSec 0", NewRateLimiter(unreachable, 0), 1_000_000},
		{"negative perSec", NewRateLimiter(unreachable, -5), 10},
		{"nil limiter", nil, 10},
		{"nothing to take", NewRateLimiter(unreachable, 50), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 3 {
				if err := tt.l.Take(cancelled, tt.n); err != nil {
					t.Fatalf("Take = %v, want nil without touching Redis or the context", err)
				}
			}
		})
	}
}
