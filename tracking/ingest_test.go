package tracking

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"herald/contacts"
	"herald/internal/testenv"
)

type ingestFixture struct {
	t        *testing.T
	db       *gorm.DB
	store    *contacts.Store
	rdb      *redis.Client
	contacts []contacts.Contact
}

// newIngestFixture gives a test its own database with three contacts and
// its own Redis database.
func newIngestFixture(t *testing.T) *ingestFixture {
	t.Helper()
	g := testenv.DB(t, contacts.Migrate)
	opt, err := redis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	f := &ingestFixture{t: t, db: g, store: contacts.NewStore(g, contacts.Options{}), rdb: rdb}
	for _, e := range []string{"ann@example.com", "bob@example.com", "cat@example.com"} {
		c, _, err := f.store.Upsert(context.Background(), contacts.Input{Email: &e})
		if err != nil {
			t.Fatal(err)
		}
		f.contacts = append(f.contacts, c)
	}
	return f
}

func (f *ingestFixture) ingest(rec EventRecorder) *Ingest {
	if rec == nil {
		rec = f.store
	}
	ing := NewIngest(f.rdb, rec, nil, testenv.Logger())
	t := f.t
	t.Cleanup(ing.Close)
	return ing
}

// stored is one event as the tests compare it.
type stored struct {
	contact, campaign, link int64
	typ                     string
	machine                 bool
	at                      time.Time
}

func (s stored) String() string {
	return fmt.Sprintf("%s contact=%d campaign=%d link=%d machine=%v at=%s", s.typ, s.contact, s.campaign, s.link, s.machine, s.at.Format(time.RFC3339Nano))
}

func (f *ingestFixture) events(t *testing.T) []stored {
	t.Helper()
	var evs []contacts.Event
	if err := f.db.Order("id").Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	out := make([]stored, len(evs))
	for i, ev := range evs {
		out[i] = stored{contact: ev.ContactID, typ: ev.Type, machine: ev.Machine, at: ev.OccurredAt.UTC()}
		if ev.CampaignID != nil {
			out[i].campaign = *ev.CampaignID
		}
		if ev.LinkID != nil {
			out[i].link = *ev.LinkID
		}
	}
	return out
}

// want is what hits should become.
func want(hits []Hit) []stored {
	var out []stored
	for _, h := range hits {
		s := stored{contact: h.ContactID, campaign: h.CampaignID, at: h.At, machine: h.Method == "HEAD" || h.UserAgent == "" || h.UserAgent == curlUA}
		switch h.Kind {
		case Open:
			s.typ = contacts.EventOpen
		case Click:
			s.typ, s.link = contacts.EventClick, h.LinkID
		default:
			continue
		}
		out = append(out, s)
	}
	return out
}

func sameEvents(t *testing.T, got, want []stored) {
	t.Helper()
	key := func(s []stored) []string {
		out := make([]string, len(s))
		for i := range s {
			out[i] = s[i].String()
		}
		sort.Strings(out)
		return out
	}
	g, w := key(got), key(want)
	if len(g) != len(w) {
		t.Fatalf("%d events stored, want %d:\ngot  %v\nwant %v", len(g), len(w), g, w)
	}
	for i := range g {
		if g[i] != w[i] {
			t.Fatalf("events differ:\ngot  %v\nwant %v", g, w)
		}
	}
}

const curlUA = "curl/8.5.0"

// someHits makes n hits over the fixture's contacts: opens and clicks of
// two campaigns, by people and by machines.
func (f *ingestFixture) someHits(n int) []Hit {
	base := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	hits := make([]Hit, n)
	for i := range hits {
		h := Hit{
			Kind:       Open,
			CampaignID: int64(1 + i%2),
			ContactID:  f.contacts[i%len(f.contacts)].ID,
			At:         base.Add(time.Duration(i) * time.Second),
			UserAgent:  chromeUA,
			Method:     "GET",
		}
		if i%3 == 1 {
			h.Kind, h.LinkID = Click, int64(i%4)
		}
		switch i % 5 {
		case 2:
			h.UserAgent = curlUA
		case 3:
			h.Method = "HEAD"
		case 4:
			h.UserAgent = ""
		}
		hits[i] = h
	}
	return hits
}

func (f *ingestFixture) add(t *testing.T, ing *Ingest, hits []Hit) {
	t.Helper()
	for _, h := range hits {
		if err := ing.Add(context.Background(), h); err != nil {
			t.Fatal(err)
		}
	}
}

// drained asserts that the stream holds nothing and nothing is pending.
func (f *ingestFixture) drained(t *testing.T, ing *Ingest) {
	t.Helper()
	ctx := context.Background()
	if n, err := ing.Pending(ctx); err != nil || n != 0 {
		t.Errorf("Pending = %d, %v; want 0", n, err)
	}
	if n, err := f.rdb.XLen(ctx, ing.stream).Result(); err != nil || n != 0 {
		t.Errorf("XLEN = %d, %v; want 0", n, err)
	}
	p, err := f.rdb.XPending(ctx, ing.stream, ing.group).Result()
	if err != nil {
		t.Fatal(err)
	}
	if p.Count != 0 {
		t.Errorf("%d entries are still pending", p.Count)
	}
}

func TestFlushWritesEveryHitAsAnEvent(t *testing.T) {
	for _, n := range []int{1, 17, 1203} { // one, a few, several read batches
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			f := newIngestFixture(t)
			ing := f.ingest(nil)
			hits := f.someHits(n)
			f.add(t, ing, hits)
			if p, _ := ing.Pending(context.Background()); p != int64(n) {
				t.Errorf("Pending before the flush = %d, want %d", p, n)
			}
			written, err := ing.Flush(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if written != n {
				t.Errorf("Flush wrote %d, want %d", written, n)
			}
			sameEvents(t, f.events(t), want(hits))
			f.drained(t, ing)

			// Nothing is left to write.
			again, err := ing.Flush(context.Background())
			if err != nil || again != 0 {
				t.Errorf("a second Flush = %d, %v; want 0", again, err)
			}
			if got := len(f.events(t)); got != n {
				t.Errorf("%d events after a second flush, want %d", got, n)
			}
		})
	}
}

func TestFlushUpdatesTheContactsLastOpenAndClick(t *testing.T) {
	f := newIngestFixture(t)
	ing := f.ingest(nil)
	at := time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC)
	c := f.contacts[0]
	f.add(t, ing, []Hit{
		{Kind: Open, CampaignID: 1, ContactID: c.ID, At: at, UserAgent: chromeUA, Method: "GET"},
		{Kind: Open, CampaignID: 1, ContactID: c.ID, At: at.Add(time.Hour), UserAgent: curlUA, Method: "GET"},
		{Kind: Click, CampaignID: 1, ContactID: c.ID, LinkID: 2, At: at.Add(time.Minute), UserAgent: chromeUA, Method: "GET"},
	})
	if _, err := ing.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := f.store.Get(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastOpenAt == nil || !got.LastOpenAt.Equal(at) {
		t.Errorf("last_open_at = %v, want %v (the machine's later open does not count)", got.LastOpenAt, at)
	}
	if got.LastClickAt == nil || !got.LastClickAt.Equal(at.Add(time.Minute)) {
		t.Errorf("last_click_at = %v, want %v", got.LastClickAt, at.Add(time.Minute))
	}
}

func TestFlushClaimsHitsOfACrashedConsumer(t *testing.T) {
	ctx := context.Background()
	f := newIngestFixture(t)
	dead := f.ingest(nil)
	if err := dead.ensureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	hits := f.someHits(40)
	f.add(t, dead, hits)

	// Another process reads the entries and dies before acknowledging them.
	res, err := f.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: dead.group, Consumer: "crashed-worker", Streams: []string{dead.stream, ">"}, Count: 1000, Block: -1,
	}).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || len(res[0].Messages) != len(hits) {
		t.Fatalf("the crashed consumer read %v", res)
	}
	// Hits that arrive afterwards are new to every consumer.
	late := f.someHits(7)
	for i := range late {
		late[i].CampaignID = 3
	}
	f.add(t, dead, late)

	survivor := f.ingest(nil)
	written, err := survivor.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if written != len(hits)+len(late) {
		t.Errorf("Flush wrote %d, want %d", written, len(hits)+len(late))
	}
	sameEvents(t, f.events(t), want(append(hits, late...)))
	f.drained(t, survivor)
}

// failAfterWrite stores the events and then reports an error, as a worker
// does that loses its connection (or dies) after the commit.
type failAfterWrite struct {
	rec   EventRecorder
	calls int
}

func (r *failAfterWrite) RecordEvents(ctx context.Context, ins []contacts.EventInput) ([]contacts.EventResult, error) {
	r.calls++
	if _, err := r.rec.RecordEvents(ctx, ins); err != nil {
		return nil, err
	}
	return nil, errors.New("connection reset after commit")
}

func TestEntriesProcessedTwiceAreStoredOnce(t *testing.T) {
	ctx := context.Background()
	t.Run("a worker that wrote but did not acknowledge", func(t *testing.T) {
		f := newIngestFixture(t)
		broken := &failAfterWrite{rec: f.store}
		first := f.ingest(broken)
		hits := f.someHits(25)
		f.add(t, first, hits)
		if _, err := first.Flush(ctx); err == nil {
			t.Fatal("the failing recorder's error was not reported")
		}
		if broken.calls == 0 {
			t.Fatal("nothing was written")
		}
		sameEvents(t, f.events(t), want(hits)) // written, not acknowledged

		second := f.ingest(nil)
		if _, err := second.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		sameEvents(t, f.events(t), want(hits))
		f.drained(t, second)
	})
	t.Run("the same entries given twice", func(t *testing.T) {
		f := newIngestFixture(t)
		ing := f.ingest(nil)
		hits := f.someHits(25)
		f.add(t, ing, hits)
		msgs, err := f.rdb.XRange(ctx, ing.stream, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		if err := ing.ensureGroup(ctx); err != nil {
			t.Fatal(err)
		}
		for round := range 2 {
			if _, err := ing.processMessages(ctx, msgs); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			sameEvents(t, f.events(t), want(hits))
		}
		var keys []string
		if err := f.db.Model(&contacts.Event{}).Order("id").Pluck("dedupe_key", &keys).Error; err != nil {
			t.Fatal(err)
		}
		for i, m := range msgs {
			if keys[i] != "hit:"+m.ID {
				t.Errorf("event %d has dedupe key %q, want hit:%s", i, keys[i], m.ID)
			}
		}
	})
}

func TestFlushDropsHitsOfDeletedContacts(t *testing.T) {
	ctx := context.Background()
	f := newIngestFixture(t)
	ing := f.ingest(nil)
	hits := f.someHits(30)
	f.add(t, ing, hits)
	gone := f.contacts[1].ID
	if err := f.store.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if _, err := ing.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	var kept []Hit
	for _, h := range hits {
		if h.ContactID != gone {
			kept = append(kept, h)
		}
	}
	sameEvents(t, f.events(t), want(kept))
	f.drained(t, ing)
}

func TestFlushAcknowledgesEntriesItCannotUse(t *testing.T) {
	ctx := context.Background()
	f := newIngestFixture(t)
	ing := f.ingest(nil)
	c := f.contacts[0].ID
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	good := []Hit{{Kind: Open, CampaignID: 4, ContactID: c, At: at, UserAgent: chromeUA, Method: "GET"}}
	f.add(t, ing, good)
	// An entry that is not a hit, and hits of kinds that are not events.
	if err := f.rdb.XAdd(ctx, &redis.XAddArgs{Stream: ing.stream, Values: []any{"h", "{not json"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := f.rdb.XAdd(ctx, &redis.XAddArgs{Stream: ing.stream, Values: []any{"other", "x"}}).Err(); err != nil {
		t.Fatal(err)
	}
	f.add(t, ing, []Hit{
		{Kind: Unsubscribe, CampaignID: 4, ContactID: c, At: at, UserAgent: chromeUA},
		{Kind: View, CampaignID: 4, ContactID: c, At: at, UserAgent: chromeUA},
	})
	if _, err := ing.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	sameEvents(t, f.events(t), want(good))
	f.drained(t, ing)
}

func TestFlushClaimsPastEntriesDeletedWhilePending(t *testing.T) {
	// Redis 7 answers XAUTOCLAIM for entries deleted while pending with an
	// empty page and a cursor to go on from: the claim must go on to the
	// live entries behind them.
	ctx := context.Background()
	f := newIngestFixture(t)
	ing := f.ingest(nil)
	ing.batch = 2
	if err := ing.ensureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	hits := f.someHits(9)
	f.add(t, ing, hits)
	res, err := f.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: ing.group, Consumer: "crashed-worker", Streams: []string{ing.stream, ">"}, Count: 100, Block: -1,
	}).Result()
	if err != nil || len(res) != 1 || len(res[0].Messages) != len(hits) {
		t.Fatalf("the crashed consumer read %v, %v", res, err)
	}
	// The first four entries were deleted (trimmed, or a worker died
	// between XDEL and XACK) but are still pending.
	var gone []string
	for _, m := range res[0].Messages[:4] {
		gone = append(gone, m.ID)
	}
	if err := f.rdb.XDel(ctx, ing.stream, gone...).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := ing.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	sameEvents(t, f.events(t), want(hits[4:]))
	if n, err := f.rdb.XLen(ctx, ing.stream).Result(); err != nil || n != 0 {
		t.Errorf("XLEN = %d, %v; want 0", n, err)
	}
}
