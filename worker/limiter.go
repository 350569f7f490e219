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
}

// NewRateLimiter allows perSec messages per second with a burst of about
// a tenth of a second's worth.
func NewRateLimiter(rdb redis.UniversalClient, perSec float64) *RateLimiter {
	return &RateLimiter{rdb: rdb, key: "herald:ratelimit:send", perSec: perSec, burst: 100 * time.Millisecond}
}

// gcra reserves ARGV[2] slots of ARGV[3] microseconds each at time
// ARGV[1] (microseconds) and returns how long the caller must wait.
var gcra = redis.NewScript(`
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local interval = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now - burst
if wait < 0 then wait = 0 end
tat = tat + n * interval
redis.call('SET', KEYS[1], tostring(tat), 'PX', math.floor((tat - now) / 1000) + 1000)
return wait
`)

// Take blocks until n messages may be sent.
func (l *RateLimiter) Take(ctx context.Context, n int) error {
	if l == nil || l.perSec <= 0 || n <= 0 {
		return nil
	}
	interval := int64(1e6 / l.perSec)
	now := time.Now().UnixMicro()
	wait, err := gcra.Run(ctx, l.rdb, []string{l.key}, now, n, interval, l.burst.Microseconds()).Int64()
	if err != nil {
		return fmt.Errorf("worker: rate limit: %w", err)
	}
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(wait) * time.Microsecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
