package worker

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"herald/campaigns"
)

// Attempts keeps the Sender's record of each claim in Redis: one hash per
// claim, herald:claim:TOKEN, whose field "_" says the record is open (or
// revoked) and whose other fields are delivery ids marked "c" (committed:
// the end of its data was about to be sent, so the server may have
// accepted it) or "s" (the server accepted it). It implements
// campaigns.Attempts.
type Attempts struct {
	rdb redis.UniversalClient
	ttl time.Duration
}

// NewAttempts keeps records in rdb. A record outlives its claim only when
// the worker died; the sweep revokes it well within ttl, and one that
// expires first just leaves its deliveries unknown.
func NewAttempts(rdb redis.UniversalClient) *Attempts {
	return &Attempts{rdb: rdb, ttl: 24 * time.Hour}
}

func claimKey(claim string) string { return "herald:claim:" + claim }

// Open starts a claim's record.
func (a *Attempts) Open(ctx context.Context, claim string) error {
	key := claimKey(claim)
	_, err := a.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, "_", "open")
		p.Expire(ctx, key, a.ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("worker: open claim record: %w", err)
	}
	return nil
}

// commitScript marks ARGV[1] committed and ARGV[2] (when not "0") accepted,
// only while the record is open: a revoked or lost record answers 0 and
// the message is not completed.
var commitScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], '_') ~= 'open' then return 0 end
if ARGV[2] ~= '0' then redis.call('HSET', KEYS[1], ARGV[2], 's') end
if ARGV[1] ~= '0' then redis.call('HSET', KEYS[1], ARGV[1], 'c') end
return 1
`)

// Commit records that delivery id is about to be completed and that
// accepted (when not 0) was accepted.
func (a *Attempts) Commit(ctx context.Context, claim string, id, accepted int64) error {
	ok, err := commitScript.Run(ctx, a.rdb, []string{claimKey(claim)}, strconv.FormatInt(id, 10), strconv.FormatInt(accepted, 10)).Int()
	if err != nil {
		return fmt.Errorf("worker: record delivery %d: %w", id, err)
	}
	if ok == 0 {
		return campaigns.ErrClaimRevoked
	}
	return nil
}

// Close drops a settled claim's record.
func (a *Attempts) Close(ctx context.Context, claim string) error {
	if err := a.rdb.Del(ctx, claimKey(claim)).Err(); err != nil {
		return fmt.Errorf("worker: close claim record: %w", err)
	}
	return nil
}

// revokeScript closes the record to further commits and returns what it
// holds; an empty answer means there was no record.
var revokeScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
redis.call('HSET', KEYS[1], '_', 'revoked')
return redis.call('HGETALL', KEYS[1])
`)

// Revoke ends a claim's record and returns it.
func (a *Attempts) Revoke(ctx context.Context, claim string) (committed, accepted []int64, found bool, err error) {
	key := claimKey(claim)
	vals, err := revokeScript.Run(ctx, a.rdb, []string{key}).StringSlice()
	if err != nil {
		return nil, nil, false, fmt.Errorf("worker: revoke claim record: %w", err)
	}
	if len(vals) == 0 {
		return nil, nil, false, nil
	}
	for i := 0; i+1 < len(vals); i += 2 {
		id, perr := strconv.ParseInt(vals[i], 10, 64)
		if perr != nil {
			continue // the "_" field
		}
		switch vals[i+1] {
		case "s":
			accepted = append(accepted, id)
		case "c":
			committed = append(committed, id)
		}
	}
	return committed, accepted, true, nil
}
