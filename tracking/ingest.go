package tracking

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"herald/contacts"
	"herald/internal/errs"
	"herald/internal/jsonstr"
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
	// Net is the class of the client's network; the address is not kept.
	Net NetClass `json:"n,omitempty"`
}

// appendJSON appends the hit as encoding/json would write it, without
// reflection or allocation: it runs once per tracking request.
func (h *Hit) appendJSON(b []byte) []byte {
	b = append(b, `{"k":`...)
	b = strconv.AppendUint(b, uint64(h.Kind), 10)
	b = append(b, `,"c":`...)
	b = strconv.AppendInt(b, h.CampaignID, 10)
	b = append(b, `,"p":`...)
	b = strconv.AppendInt(b, h.ContactID, 10)
	if h.LinkID != 0 {
		b = append(b, `,"l":`...)
		b = strconv.AppendInt(b, h.LinkID, 10)
	}
	b = append(b, `,"t":"`...)
	b = h.At.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if h.UserAgent != "" {
		b = append(b, `,"ua":`...)
		b = jsonstr.Append(b, h.UserAgent)
	}
	if h.Method != "" {
		b = append(b, `,"m":`...)
		b = jsonstr.Append(b, h.Method)
	}
	if h.Net != "" {
		b = append(b, `,"n":`...)
		b = jsonstr.Append(b, string(h.Net))
	}
	return append(b, '}')
}

// EventRecorder stores events (contacts.Store does); the consumer calls it
// from several goroutines at once.
type EventRecorder interface {
	RecordEvents(ctx context.Context, ins []contacts.EventInput) ([]contacts.EventResult, error)
}

// Ingest makes tracking hits durable in a Redis stream before the web
// server answers, and writes them to the database in batches from workers.
// Each hit's place in the stream (entry id and position) becomes the
// event's dedupe key, so an entry that is delivered twice (a worker died
// after writing but before acknowledging) is stored once.
type Ingest struct {
	rdb      redis.UniversalClient
	store    EventRecorder
	log      *slog.Logger
	stream   string
	group    string
	consumer string
	batch    int64
	classify *Classifier

	// The write side: concurrent Adds are sent as one stream entry.
	wmu      sync.Mutex
	idle     *sync.Cond // signalled when no write is in flight
	queue    []*addReq  // hits waiting for a write
	inFlight int        // writes in flight
	closed   bool
	reqs     sync.Pool // *addReq
	joins    sync.Pool // *[]byte, the text of a stream entry of several hits

	// The read side: clicks are held back until their contact has been
	// quiet for settle, so that a scanner's burst is judged as a whole.
	consume   sync.Mutex
	held      []entry
	now       func() time.Time
	settle    time.Duration
	maxHold   time.Duration
	staleIdle time.Duration
	claimEach time.Duration
	// linger is the least time between two writes while hits keep coming:
	// one transaction of many events costs far less than many of a few.
	linger      time.Duration
	lastProcess time.Time
}

// Stream and group names.
const (
	DefaultStream = "herald:events"
	ConsumerGroup = "herald-events"
)

const (
	// writers is how many stream writes may be in flight at once; each
	// takes every hit that waits when it starts, up to maxPack. Fewer
	// writes in flight make bigger entries: on loopback one or two did
	// best (four cost a tenth of the rate); two keep one slow write from
	// holding up every request.
	writers = 2
	maxPack = 64
	// writeChunk bounds the events of one database transaction, and
	// writeParallel the transactions of a batch in flight at once.
	writeChunk    = 500
	writeParallel = 4
)

// NewIngest returns an Ingest on rdb writing to store.
func NewIngest(rdb redis.UniversalClient, store EventRecorder, classify *Classifier, log *slog.Logger) *Ingest {
	host, _ := os.Hostname()
	if classify == nil {
		classify = NewClassifier(ClassifierConfig{}, nil)
	}
	i := &Ingest{
		rdb: rdb, store: store, log: log, stream: DefaultStream, group: ConsumerGroup,
		consumer: fmt.Sprintf("%s-%d-%d", host, os.Getpid(), time.Now().UnixNano()%100000),
		batch:    500, classify: classify,
		now:    time.Now,
		settle: classify.BurstWindow() + time.Second,
		// Held entries are pending for this consumer; they must be
		// processed well before another consumer may claim them.
		maxHold:   8 * time.Second,
		staleIdle: 15 * time.Second,
		claimEach: 5 * time.Second,
		linger:    250 * time.Millisecond,
	}
	i.idle = sync.NewCond(&i.wmu)
	i.reqs.New = func() any { return &addReq{done: make(chan error, 1)} }
	i.joins.New = func() any { b := make([]byte, 0, 4096); return &b }
	return i
}

// addReq is one Add waiting for its hit to be written.
type addReq struct {
	buf  []byte
	done chan error
	lead bool // woken to write the queue, not with its answer
}

// ErrClosed is returned by Add after Close.
var ErrClosed = errors.New("tracking: ingest is closed")

// Add appends a hit to the stream; when it returns nil the hit is durable.
//
// Hits added concurrently are written together, as one stream entry (group
// commit): a request that finds fewer than `writers` writes in flight
// writes its hit itself, with every hit queued behind it; one that finds
// them all busy queues and is answered by the next write. Redis sees one
// command for many requests, and a request waits for at most one write
// before its own. The writing is done by the requests' own goroutines,
// without a hand-off to a writer goroutine and back.
func (i *Ingest) Add(ctx context.Context, h Hit) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("tracking: store hit: %w", err)
	}
	r := i.reqs.Get().(*addReq)
	r.buf = h.appendJSON(r.buf[:0])
	r.lead = false
	i.wmu.Lock()
	if i.closed {
		i.wmu.Unlock()
		i.reqs.Put(r)
		return ErrClosed
	}
	if i.inFlight < writers {
		i.inFlight++
		i.wmu.Unlock()
		return i.write1(r)
	}
	i.queue = append(i.queue, r)
	i.wmu.Unlock()
	// Queued: a write will take the hit. Wait for it whatever ctx does, or
	// the caller could be told "lost" of a hit that was stored.
	err := <-r.done
	if r.lead {
		return i.write1(r)
	}
	i.reqs.Put(r)
	return err
}

// write1 writes r's hit and up to maxPack-1 queued ones as one entry,
// answers the queued ones, and passes the turn to the next queued request
// (or gives it up). It returns r's answer.
func (i *Ingest) write1(r *addReq) error {
	i.wmu.Lock()
	n := min(len(i.queue), maxPack-1)
	batch := make([]*addReq, 0, n+1)
	batch = append(append(batch, r), i.queue[:n]...)
	i.queue = append(i.queue[:0], i.queue[n:]...)
	i.wmu.Unlock()

	var values []any
	var joined *[]byte
	if len(batch) == 1 {
		values = []any{"h", r.buf}
	} else {
		joined = i.joins.Get().(*[]byte)
		b := (*joined)[:0]
		for k, o := range batch {
			if k > 0 {
				b = append(b, '\n')
			}
			b = append(b, o.buf...)
		}
		*joined = b
		values = []any{"b", b}
	}
	err := i.rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: i.stream, Values: values}).Err()
	if err != nil {
		err = fmt.Errorf("tracking: store hit: %w", err)
	}
	if joined != nil {
		i.joins.Put(joined)
	}
	for _, o := range batch[1:] {
		o.done <- err
	}

	i.wmu.Lock()
	if len(i.queue) > 0 {
		next := i.queue[0]
		i.queue = append(i.queue[:0], i.queue[1:]...)
		i.wmu.Unlock()
		next.lead = true
		next.done <- nil
	} else {
		i.inFlight--
		if i.inFlight == 0 {
			i.idle.Broadcast()
		}
		i.wmu.Unlock()
	}
	i.reqs.Put(r)
	return err
}

// Close makes later Adds fail with ErrClosed and waits for the writes in
// flight (and the hits queued behind them) to finish.
func (i *Ingest) Close() {
	i.wmu.Lock()
	defer i.wmu.Unlock()
	i.closed = true
	for i.inFlight > 0 {
		i.idle.Wait()
	}
}

func (i *Ingest) ensureGroup(ctx context.Context) error {
	err := i.rdb.XGroupCreateMkStream(ctx, i.stream, i.group, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("tracking: create consumer group: %w", err)
	}
	return nil
}

// isNoGroup tells Redis's answer when the stream or its consumer group is
// gone: Redis restarted without persistence, or was flushed. The web tier
// goes on adding hits (XADD makes a new stream), so the group must be made
// again, from the stream's start, for them to be read.
func isNoGroup(err error) bool {
	return err != nil && strings.Contains(err.Error(), "NOGROUP")
}

// recreateGroup makes the group again after NOGROUP. Entries this consumer
// holds are still written; those Redis lost with the stream are gone.
func (i *Ingest) recreateGroup(ctx context.Context) error {
	i.log.Warn("tracking: the event stream's consumer group is gone (Redis restarted without its data, or was flushed); creating it again", "stream", i.stream)
	return i.ensureGroup(ctx)
}

// entry is a stream entry: one hit, or several written together.
type entry struct {
	id   string
	hits []Hit
	keys []string // dedupe key of each hit
	seen time.Time
}

// decode reads an entry. Hits it cannot read are left out (and logged):
// they can never become events, and must not block the stream.
func (i *Ingest) decode(m redis.XMessage, seen time.Time) entry {
	e := entry{id: m.ID, seen: seen}
	if raw, ok := m.Values["h"].(string); ok {
		var h Hit
		if err := json.Unmarshal([]byte(raw), &h); err != nil {
			i.log.Warn("tracking: dropping an unreadable hit", "id", m.ID)
			return e
		}
		e.hits, e.keys = []Hit{h}, []string{"hit:" + m.ID}
		return e
	}
	raw, _ := m.Values["b"].(string)
	for n, line := range bytes.Split([]byte(raw), []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		var h Hit
		if err := json.Unmarshal(line, &h); err != nil {
			i.log.Warn("tracking: dropping an unreadable hit", "id", m.ID, "n", n)
			continue
		}
		e.hits = append(e.hits, h)
		e.keys = append(e.keys, "hit:"+m.ID+"/"+strconv.Itoa(n))
	}
	if len(e.hits) == 0 && raw == "" {
		i.log.Warn("tracking: dropping a stream entry that holds no hit", "id", m.ID)
	}
	return e
}

// Run consumes the stream until ctx is done. Entries another consumer
// took but did not acknowledge for a while (it died) are claimed too.
func (i *Ingest) Run(ctx context.Context) error {
	if err := i.ensureGroup(ctx); err != nil {
		return err
	}
	lastClaim := time.Time{}
	for ctx.Err() == nil {
		if time.Since(lastClaim) > i.claimEach {
			lastClaim = time.Now()
			if _, err := i.claimStale(ctx, i.staleIdle); err != nil && ctx.Err() == nil {
				i.log.Error("tracking: claim stale hits", "err", err)
			}
		}
		if _, err := i.poll(ctx, i.nextWait()); err != nil && ctx.Err() == nil {
			i.log.Error("tracking: consume hits", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

// nextWait is how long the next read may block: until the first held
// click is due, at most a second (a stale claim may be due).
func (i *Ingest) nextWait() time.Duration {
	i.consume.Lock()
	defer i.consume.Unlock()
	wait := time.Second
	now := i.now()
	for _, e := range i.held {
		hold := i.linger
		if hasClick(e) {
			hold = i.settle
		}
		if d := e.seen.Add(hold).Sub(now); d < wait {
			wait = d
		}
	}
	if len(i.held) > 0 {
		wait = max(wait, i.lastProcess.Add(i.linger).Sub(now))
	}
	return max(wait, time.Millisecond) // BLOCK 0 would wait for ever
}

// poll reads what is new (blocking up to block; a negative block does not
// wait) and writes the entries that are due. It returns how many events
// it wrote.
func (i *Ingest) poll(ctx context.Context, block time.Duration) (int, error) {
	i.consume.Lock()
	defer i.consume.Unlock()
	if room := i.batch - int64(len(i.held)); room > 0 {
		msgs, err := i.read(ctx, room, block)
		if err != nil {
			return 0, err
		}
		seen := i.now()
		for _, m := range msgs {
			i.held = append(i.held, i.decode(m, seen))
		}
	}
	now := i.now()
	full := int64(len(i.held)) >= i.batch
	if !full && now.Sub(i.lastProcess) < i.linger {
		return 0, nil
	}
	due, rest := i.due(now, full)
	if len(due) == 0 {
		return 0, nil
	}
	n, err := i.process(ctx, due, hitsOf(rest))
	if err != nil {
		return n, err // everything stays held, to be tried again
	}
	i.held = rest
	i.lastProcess = now
	return n, nil
}

// due splits the held entries into those to write now and those to keep.
// A click waits until its contact's copy of the campaign has had no click
// for settle (the burst is over), or for maxHold at most; opens are due at
// once. All is due when the hold is full.
func (i *Ingest) due(now time.Time, all bool) (due, rest []entry) {
	if all {
		return i.held, nil
	}
	last := map[Recipient]time.Time{}
	first := map[Recipient]time.Time{}
	for _, e := range i.held {
		for _, h := range e.hits {
			if h.Kind != Click {
				continue
			}
			r := Recipient{h.CampaignID, h.ContactID}
			if e.seen.After(last[r]) {
				last[r] = e.seen
			}
			if f, ok := first[r]; !ok || e.seen.Before(f) {
				first[r] = e.seen
			}
		}
	}
	for _, e := range i.held {
		ready := true
		for _, h := range e.hits {
			r := Recipient{h.CampaignID, h.ContactID}
			if h.Kind == Click && now.Sub(last[r]) < i.settle && now.Sub(first[r]) < i.maxHold {
				ready = false
				break
			}
		}
		if ready {
			due = append(due, e)
		} else {
			rest = append(rest, e)
		}
	}
	return due, rest
}

func hasClick(e entry) bool {
	for _, h := range e.hits {
		if h.Kind == Click {
			return true
		}
	}
	return false
}

func hitsOf(es []entry) []Hit {
	var out []Hit
	for _, e := range es {
		out = append(out, e.hits...)
	}
	return out
}

// Flush writes every entry available now, held ones included, and stale
// ones of other consumers, without holding anything back; it returns how
// many events it wrote. Tests and shutdown use it.
func (i *Ingest) Flush(ctx context.Context) (int, error) {
	if err := i.ensureGroup(ctx); err != nil {
		return 0, err
	}
	total, err := i.claimStale(ctx, 0)
	if err != nil {
		return total, err
	}
	i.consume.Lock()
	defer i.consume.Unlock()
	if len(i.held) > 0 {
		n, err := i.process(ctx, i.held, nil)
		total += n
		if err != nil {
			return total, err
		}
		i.held = nil
	}
	for {
		msgs, err := i.read(ctx, i.batch, -1)
		if err != nil || len(msgs) == 0 {
			return total, err
		}
		n, err := i.processMessages(ctx, msgs)
		total += n
		if err != nil {
			return total, err
		}
	}
}

func (i *Ingest) read(ctx context.Context, count int64, block time.Duration) ([]redis.XMessage, error) {
	args := &redis.XReadGroupArgs{
		Group: i.group, Consumer: i.consumer, Streams: []string{i.stream, ">"}, Count: count, Block: block,
	}
	res, err := i.rdb.XReadGroup(ctx, args).Result()
	if isNoGroup(err) {
		if err := i.recreateGroup(ctx); err != nil {
			return nil, err
		}
		res, err = i.rdb.XReadGroup(ctx, args).Result()
	}
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tracking: read hits: %w", err)
	}
	var msgs []redis.XMessage
	for _, s := range res {
		msgs = append(msgs, s.Messages...)
	}
	return msgs, nil
}

func (i *Ingest) claimStale(ctx context.Context, idle time.Duration) (int, error) {
	start := "0-0"
	total := 0
	for {
		msgs, next, err := i.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: i.stream, Group: i.group, Consumer: i.consumer, MinIdle: idle, Start: start, Count: i.batch,
		}).Result()
		if isNoGroup(err) {
			// A new group has nothing pending to claim.
			return total, i.recreateGroup(ctx)
		}
		if err != nil {
			return total, fmt.Errorf("tracking: claim hits: %w", err)
		}
		n, err := i.processClaimed(ctx, msgs)
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

// processClaimed writes claimed entries, except those this consumer holds
// itself (they are written when due).
func (i *Ingest) processClaimed(ctx context.Context, msgs []redis.XMessage) (int, error) {
	i.consume.Lock()
	defer i.consume.Unlock()
	held := make(map[string]bool, len(i.held))
	for _, e := range i.held {
		held[e.id] = true
	}
	now := i.now()
	var es []entry
	for _, m := range msgs {
		if !held[m.ID] {
			es = append(es, i.decode(m, now))
		}
	}
	return i.process(ctx, es, hitsOf(i.held))
}

func (i *Ingest) processMessages(ctx context.Context, msgs []redis.XMessage) (int, error) {
	now := i.now()
	es := make([]entry, len(msgs))
	for k, m := range msgs {
		es[k] = i.decode(m, now)
	}
	return i.process(ctx, es, nil)
}

// process writes the entries' hits as events, then acknowledges and
// deletes the entries. A write that fails leaves them pending for a retry.
// others are hits not written yet whose clicks count towards bursts.
func (i *Ingest) process(ctx context.Context, es []entry, others []Hit) (int, error) {
	if len(es) == 0 {
		return 0, nil
	}
	ids := make([]string, 0, len(es)) // every entry, to acknowledge
	var hits []Hit
	var keys []string
	for _, e := range es {
		ids = append(ids, e.id)
		hits = append(hits, e.hits...)
		keys = append(keys, e.keys...)
	}
	verdicts, err := i.classify.Classify(ctx, hits, others)
	if err != nil {
		return 0, err
	}
	ins := make([]contacts.EventInput, 0, len(hits))
	for k, h := range hits {
		ev := contacts.EventInput{
			ContactID:  h.ContactID,
			OccurredAt: h.At,
			Machine:    verdicts[k].Machine,
			DedupeKey:  keys[k],
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
		if verdicts[k].Reason != "" {
			ev.Properties = map[string]any{"machine_reason": verdicts[k].Reason}
		}
		ins = append(ins, ev)
	}
	if err := i.write(ctx, ins); err != nil {
		return 0, err
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

// write stores events in transactions of at most writeChunk, up to
// writeParallel at once. Events are shared out by contact, so concurrent
// transactions never wait for each other's contact locks; on PostgreSQL a
// batch is bound by round trips, not CPU, and this multiplies the rate.
func (i *Ingest) write(ctx context.Context, ins []contacts.EventInput) error {
	if len(ins) == 0 {
		return nil
	}
	parts := make([][]contacts.EventInput, min(writeParallel, (len(ins)+writeChunk-1)/writeChunk))
	for _, ev := range ins {
		k := int(uint64(ev.ContactID) % uint64(len(parts)))
		parts[k] = append(parts[k], ev)
	}
	errc := make(chan error, len(parts))
	for _, part := range parts {
		go func() {
			for start := 0; start < len(part); start += writeChunk {
				if err := i.record(ctx, part[start:min(start+writeChunk, len(part))]); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	var first error
	for range parts {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (i *Ingest) record(ctx context.Context, ins []contacts.EventInput) error {
	res, err := i.store.RecordEvents(ctx, ins)
	if err != nil {
		return fmt.Errorf("tracking: write events: %w", err)
	}
	for _, r := range res {
		if r.Err != nil {
			if _, ok := errs.AsInvalid(r.Err); !ok {
				return fmt.Errorf("tracking: write event: %w", r.Err)
			}
			// The contact was deleted since: nothing to record.
		}
	}
	return nil
}

// Pending returns how many stream entries (each of one or more hits) wait
// to be written (for /metrics).
func (i *Ingest) Pending(ctx context.Context) (int64, error) {
	return i.rdb.XLen(ctx, i.stream).Result()
}
