package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// bouncesPollTimeout bounds one poll of the bounce mailbox; it is also how
// long the poll's lock lives if its worker dies holding it.
const bouncesPollTimeout = 10 * time.Minute

// bouncesPollLock is the Redis key that lets one worker at a time read
// the mailbox: asynq's Unique keeps one task per period, but a slow poll
// can still be running when the next period's task starts.
const bouncesPollLock = "herald:bounces:poll:lock"

// unlock deletes the lock only if it is still the holder's.
var unlock = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

func (w *Worker) handleBouncesPoll(ctx context.Context, t *asynq.Task) error {
	var p BouncesPollPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	if w.d.Bounces == nil {
		return nil // a worker without HERALD_BOUNCE_MAILBOX
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	ok, err := w.d.Redis.SetNX(ctx, bouncesPollLock, token, bouncesPollTimeout).Result()
	if err != nil {
		return fmt.Errorf("worker: bounces poll lock: %w", err)
	}
	if !ok {
		return nil // another worker is reading the mailbox
	}
	defer unlock.Run(context.WithoutCancel(ctx), w.d.Redis, []string{bouncesPollLock}, token)
	res, err := w.d.Bounces.Poll(ctx)
	if res.Messages > 0 {
		w.d.Log.Info("worker: bounce mailbox read", "messages", res.Messages, "not_bounces", res.NotBounces,
			"recorded", res.Recorded, "duplicates", res.Duplicates, "unmatched", res.Unmatched, "suppressed", res.Suppressed)
	}
	return err
}
