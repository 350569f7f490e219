package tracking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"herald/contacts"
	"herald/internal/errs"
)

// Hit is one request to a tracking endpoint, as the web server saw it.
type Hit struct {
	Kind       Kind      `json:"k"`
	CampaignID int64     `json:"c"`
	ContactID  int64     `json:"p"`
	LinkID     int64     `json:"l,omitempty"`
	At         time.Time `json:"t"`
	UserAgent  string    `json:"ua,omitempty"`
	Method     string    `json:"m,omitempty"`
}

// EventRecorder stores events (contacts.Store does).
type EventRecorder interface {
	RecordEvents(ctx context.Context, ins []contacts.EventInput) ([]contacts.EventResult, error)
}

// Ingest makes tracking hits durable in a Redis stream before the web
// server answers, and writes them to the database in batches from workers.
// Each stream entry's id becomes the event's dedupe key, so an entry that
// is delivered twice (a worker died after writing but before acknowledging)
// is stored once.
type Ingest struct {
	rdb      redis.UniversalClient
	store    EventRecorder
	log      *slog.Logger
	stream   string
	group    string
	consumer string
	batch    int64
	classify *Classifier
}

// Stream and group names.
const (
	DefaultStream = "herald:events"
	consumerGroup = "herald-events"
)

// NewIngest returns an Ingest on rdb writing to store.
func NewIngest(rdb redis.UniversalClient, store EventRecorder, classify *Classifier, log *slog.Logger) *Ingest {
	host, _ := os.Hostname()
	if classify == nil {
		classify = NewClassifier(nil)
	}
	return &Ingest{
		rdb: rdb, store: store, log: log, stream: DefaultStream, group: consumerGroup,
		consumer: fmt.Sprintf("%s-%d-%d", host, os.Getpid(), time.Now().UnixNano()%100000),
		batch:    500, classify: classify,
	}
}

// Add appends a hit to the stream; when it returns nil the hit is durable.
func (i *Ingest) Add(ctx context.Context, h Hit) error {
	b, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("tracking: encode hit: %w", err)
	}
	if err := i.rdb.XAdd(ctx, &redis.XAddArgs{Stream: i.stream, Values: []any{"h", b}}).Err(); err != nil {
		return fmt.Errorf("tracking: store hit: %w", err)
	}
	return nil
}

func (i *Ingest) ensureGroup(ctx context.Context) error {
	err := i.rdb.XGroupCreateMkStream(ctx, i.stream, i.group, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("tracking: create consumer group: %w", err)
	}
	return nil
}

// Run consumes the stream until ctx is done. Entries another consumer
// took but did not acknowledge for a while (it died) are claimed too.
func (i *Ingest) Run(ctx context.Context) error {
	if err := i.ensureGroup(ctx); err != nil {
		return err
	}
	lastClaim := time.Time{}
	for ctx.Err() == nil {
		if time.Since(lastClaim) > 10*time.Second {
			lastClaim = time.Now()
			if _, err := i.claimStale(ctx, 30*time.Second); err != nil && ctx.Err() == nil {
				i.log.Error("tracking: claim stale hits", "err", err)
			}
		}
		n, err := i.readNew(ctx, time.Second)
		if err != nil && ctx.Err() == nil {
			i.log.Error("tracking: consume hits", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
		_ = n
	}
	return nil
}

// Flush processes every entry available now (and stale ones) and returns
// how many it wrote. Tests and shutdown use it.
func (i *Ingest) Flush(ctx context.Context) (int, error) {
	if err := i.ensureGroup(ctx); err != nil {
		return 0, err
	}
	total := 0
	n, err := i.claimStale(ctx, 0)
	total += n
	if err != nil {
		return total, err
	}
	for {
		n, err := i.readNew(ctx, -1)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

func (i *Ingest) readNew(ctx context.Context, block time.Duration) (int, error) {
	res, err := i.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: i.group, Consumer: i.consumer, Streams: []string{i.stream, ">"}, Count: i.batch, Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("tracking: read hits: %w", err)
	}
	n := 0
	for _, s := range res {
		k, err := i.process(ctx, s.Messages)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (i *Ingest) claimStale(ctx context.Context, idle time.Duration) (int, error) {
	start := "0-0"
	total := 0
	for {
		msgs, next, err := i.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: i.stream, Group: i.group, Consumer: i.consumer, MinIdle: idle, Start: start, Count: i.batch,
		}).Result()
		if err != nil {
			return total, fmt.Errorf("tracking: claim hits: %w", err)
		}
		n, err := i.process(ctx, msgs)
		total += n
		if err != nil {
			return total, err
		}
		// Only the cursor tells the end: on Redis 7 a page can be empty
		// yet not the last (entries deleted while pending are answered
		// apart, and with a minimum idle time only so many are looked at).
		if next == "0-0" || next == "" || next == start {
			return total, nil
		}
		start = next
	}
}

// process writes a batch of entries as events, then acknowledges and
// deletes them. A write that fails leaves them pending for a retry.
func (i *Ingest) process(ctx context.Context, msgs []redis.XMessage) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	ins := make([]contacts.EventInput, 0, len(msgs))
	ids := make([]string, 0, len(msgs))    // every entry, to acknowledge
	hitIDs := make([]string, 0, len(msgs)) // entries that decoded
	hits := make([]Hit, 0, len(msgs))
	for _, m := range msgs {
		ids = append(ids, m.ID)
		raw, _ := m.Values["h"].(string)
		var h Hit
		if err := json.Unmarshal([]byte(raw), &h); err != nil {
			i.log.Warn("tracking: dropping an unreadable hit", "id", m.ID)
			continue
		}
		hits = append(hits, h)
		hitIDs = append(hitIDs, m.ID)
	}
	machine := i.classify.Machines(ctx, hits)
	for k, h := range hits {
		ev := contacts.EventInput{
			ContactID:  h.ContactID,
			OccurredAt: h.At,
			Machine:    machine[k].Machine,
			DedupeKey:  "hit:" + hitIDs[k],
		}
		cid := h.CampaignID
		ev.CampaignID = &cid
		switch h.Kind {
		case Open:
			ev.Type = contacts.EventOpen
		case Click:
			ev.Type = contacts.EventClick
			lid := h.LinkID
			ev.LinkID = &lid
		default:
			continue
		}
		if machine[k].Reason != "" {
			ev.Properties = map[string]any{"machine_reason": machine[k].Reason}
		}
		ins = append(ins, ev)
	}
	if len(ins) > 0 {
		res, err := i.store.RecordEvents(ctx, ins)
		if err != nil {
			return 0, fmt.Errorf("tracking: write events: %w", err)
		}
		for _, r := range res {
			if r.Err != nil {
				if _, ok := errs.AsInvalid(r.Err); !ok {
					return 0, fmt.Errorf("tracking: write event: %w", r.Err)
				}
				// The contact was deleted since: nothing to record.
			}
		}
	}
	// MULTI, so that an entry is never deleted yet left pending.
	pipe := i.rdb.TxPipeline()
	pipe.XAck(ctx, i.stream, i.group, ids...)
	pipe.XDel(ctx, i.stream, ids...)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("tracking: acknowledge hits: %w", err)
	}
	return len(ins), nil
}

// Pending returns how many hits wait in the stream (for /metrics).
func (i *Ingest) Pending(ctx context.Context) (int64, error) {
	return i.rdb.XLen(ctx, i.stream).Result()
}
