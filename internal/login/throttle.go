package login

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Throttle counts login attempts per key (a client address, an account) in
// fixed windows kept in Redis, so that every web process shares the count
// and a refused attempt costs no password hash.
type Throttle struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewThrottle returns a Throttle on rdb.
func NewThrottle(rdb redis.UniversalClient) *Throttle {
	return &Throttle{rdb: rdb, prefix: "herald:login:"}
}

// counted adds an attempt to key's window and returns the count, with the
// time left in the window. The increment comes first, so parallel
// attempts cannot all see a count under the limit.
var counted = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
`)

// Attempt counts one attempt for key and reports whether it is within
// limit per window; when it is not, retry says how long until it is.
func (t *Throttle) Attempt(ctx context.Context, key string, limit int, window time.Duration) (ok bool, retry time.Duration, err error) {
	res, err := counted.Run(ctx, t.rdb, []string{t.prefix + key}, window.Milliseconds()).Int64Slice()
	if err != nil || len(res) != 2 {
		return false, 0, fmt.Errorf("login: throttle: %w", err)
	}
	return res[0] <= int64(limit), time.Duration(res[1]) * time.Millisecond, nil
}

// Reset forgets key's attempts (after a successful login).
func (t *Throttle) Reset(ctx context.Context, key string) error {
	if err := t.rdb.Del(ctx, t.prefix+key).Err(); err != nil {
		return fmt.Errorf("login: throttle reset: %w", err)
	}
	return nil
}
