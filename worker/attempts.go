package worker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"herald/campaigns"
)

// Attempts keeps the Sender's record of each claim in Redis: a list per
// claim, herald:claim:TOKEN, opened with "open" and then appended, before
// each message's end of data, "c:ID" (committed: the server may accept it
// from here on) and, once the server accepted it, "s:ID" (carried by the
// next message's append, to save a round trip). Appends use RPUSHX, which
// adds nothing to a list that does not exist; the sweep revokes a record
// by renaming it away, atomically, so a sender still running on the claim
// is refused from that moment, as it is when Redis lost the record. Plain
// O(1) commands rather than a script: Redis spends a few microseconds per
// message on it. It implements campaigns.Attempts.
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

func claimKeys(claims []string) []string {
	keys := make([]string, len(claims))
	for i, c := range claims {
		keys[i] = claimKey(c)
	}
	return keys
}

// Open starts a claim's record and drops those of settled claims.
func (a *Attempts) Open(ctx context.Context, claim string, settled ...string) error {
	key := claimKey(claim)
	_, err := a.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if len(settled) > 0 {
			p.Del(ctx, claimKeys(settled)...)
		}
		p.RPush(ctx, key, "open")
		p.Expire(ctx, key, a.ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("worker: open claim record: %w", err)
	}
	return nil
}

// Commit records that delivery id is about to be completed and that
// accepted (when not 0) was accepted.
func (a *Attempts) Commit(ctx context.Context, claim string, id, accepted int64) error {
	vals := make([]any, 0, 2)
	if accepted != 0 {
		vals = append(vals, "s:"+strconv.FormatInt(accepted, 10))
	}
	vals = append(vals, "c:"+strconv.FormatInt(id, 10))
	n, err := a.rdb.RPushX(ctx, claimKey(claim), vals...).Result()
	if err != nil {
		return fmt.Errorf("worker: record delivery %d: %w", id, err)
	}
	if n == 0 {
		return campaigns.ErrClaimRevoked
	}
	return nil
}

// Close drops the records of settled claims.
func (a *Attempts) Close(ctx context.Context, claims ...string) error {
	if len(claims) == 0 {
		return nil
	}
	if err := a.rdb.Del(ctx, claimKeys(claims)...).Err(); err != nil {
		return fmt.Errorf("worker: close claim record: %w", err)
	}
	return nil
}

// Revoke ends a claim's record and returns it.
func (a *Attempts) Revoke(ctx context.Context, claim string) (committed, accepted []int64, found bool, err error) {
	key := claimKey(claim)
	revoked := "herald:claim-revoked:" + claim
	if err := a.rdb.Rename(ctx, key, revoked).Err(); err != nil {
		if isNoSuchKey(err) {
			return nil, nil, false, nil
		}
		return nil, nil, false, fmt.Errorf("worker: revoke claim record: %w", err)
	}
	vals, err := a.rdb.LRange(ctx, revoked, 0, -1).Result()
	if err != nil {
		return nil, nil, false, fmt.Errorf("worker: revoke claim record: %w", err)
	}
	a.rdb.Del(ctx, revoked)
	done := map[int64]bool{}
	var marked []int64
	for _, v := range vals {
		kind, num, ok := strings.Cut(v, ":")
		if !ok {
			continue // "open"
		}
		id, perr := strconv.ParseInt(num, 10, 64)
		if perr != nil {
			continue
		}
		switch kind {
		case "s":
			accepted = append(accepted, id)
			done[id] = true
		case "c":
			marked = append(marked, id)
		}
	}
	for _, id := range marked {
		if !done[id] {
			committed = append(committed, id)
		}
	}
	return committed, accepted, true, nil
}

// isNoSuchKey tells Redis's answer to RENAME of a key that does not exist.
func isNoSuchKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such key")
}
