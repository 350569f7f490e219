package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RateLimiter is a send rate shared by every worker process: a generic
// cell rate algorithm whose one piece of state (the theoretical arrival
// time of the next message) lives in Redis. Take reserves n slots and
// sleeps until the last of them, so callers queue fairly across processes.
type RateLimiter struct {
	rdb    redis.UniversalClient
	key    string
	perSec float64
	burst  time.Duration
	now    func() time.Time // time.Now; tests inject a clock
}

// NewRateLimiter allows perSec messages per second with a burst of about
// a tenth of a second's worth.
func NewRateLimiter(rdb redis.UniversalClient, perSec float64) *RateLimiter {
	return &RateLimiter{rdb: rdb, key: "herald:ratelimit:send", perSec: perSec, burst: 100 * time.Millisecond, now: time.Now}
}

// gcra reserves ARGV[2] slots of ARGV[3] microseconds each at time
// ARGV[1] (microseconds) with a tolerance of ARGV[4] microseconds, and
// returns how long the caller must wait for the last of its slots. The
// state is written with %d: tostring would keep only 14 significant
// digits, about 100 microseconds of a Unix time in microseconds.
var gcra = redis.NewScript(`
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local interval = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat + (n - 1) * interval - now - burst
if wait < 0 then wait = 0 end
tat = tat + n * interval
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.floor((tat - now) / 1000) + 1000)
return wait
`)

// Take blocks until n messages may be sent.
func (l *RateLimiter) Take(ctx context.Context, n int) error {
	if l == nil || l.perSec <= 0 || n <= 0 {
		return nil
	}
	wait, err := l.reserve(ctx, l.now(), n)
	if err != nil || wait <= 0 {
		return err
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reserve takes n slots at time now and returns how long the caller must
// wait before sending them.
func (l *RateLimiter) reserve(ctx context.Context, now time.Time, n int) (time.Duration, error) {
	interval := int64(1e6 / l.perSec)
	wait, err := gcra.Run(ctx, l.rdb, []string{l.key}, now.UnixMicro(), n, interval, l.burst.Microseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("worker: rate limit: %w", err)
	}
	return time.Duration(wait) * time.Microsecond, nil
}
