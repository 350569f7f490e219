package tracking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"herald/contacts"
)

func TestHitJSONDecodesLikeEncodingJSON(t *testing.T) {
	at := time.Date(2026, 4, 1, 12, 30, 45, 123456789, time.UTC)
	for _, tc := range []struct {
		name string
		hit  Hit
	}{
		{"an open", Hit{Kind: Open, CampaignID: 1, ContactID: 2, At: at, UserAgent: chromeUA, Method: "GET"}},
		{"a click of link 0", Hit{Kind: Click, CampaignID: 1, ContactID: 2, LinkID: 0, At: at, Method: "GET"}},
		{"a click from Apple's network", Hit{Kind: Click, CampaignID: 1 << 62, ContactID: 1 << 40, LinkID: 9, At: at, Net: NetAppleProxy}},
		{"quotes and backslashes", Hit{Kind: Open, At: at, UserAgent: `a "quoted" \\ agent`}},
		{"control characters", Hit{Kind: Open, At: at, UserAgent: "tab\there\nnewline\x00nul\x1f"}},
		{"HTML characters", Hit{Kind: Open, At: at, UserAgent: "<script>&amp;</script>"}},
		{"non-ASCII", Hit{Kind: Open, At: at, UserAgent: "Mozilla/5.0 (Ελληνικά; 日本語) \u2028 🙂"}},
		{"invalid UTF-8", Hit{Kind: Open, At: at, UserAgent: "bad \xff\xfe bytes \xe2\x82"}},
		{"a time with an offset", Hit{Kind: Open, At: time.Date(2026, 4, 1, 12, 0, 0, 0, time.FixedZone("x", 3600))}},
		{"zero", Hit{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fast := tc.hit.appendJSON(nil)
			std, err := json.Marshal(tc.hit)
			if err != nil {
				t.Fatal(err)
			}
			var a, b Hit
			if err := json.Unmarshal(fast, &a); err != nil {
				t.Fatalf("appendJSON wrote %s: %v", fast, err)
			}
			if err := json.Unmarshal(std, &b); err != nil {
				t.Fatal(err)
			}
			if !a.At.Equal(b.At) {
				t.Errorf("time %v, want %v", a.At, b.At)
			}
			a.At, b.At = time.Time{}, time.Time{}
			if a != b {
				t.Errorf("decoded %+v, want %+v (wrote %s)", a, b, fast)
			}
		})
	}
}

func TestConcurrentAddsAreEachStoredOnce(t *testing.T) {
	ctx := context.Background()
	f := newIngestFixture(t)
	ing := f.ingest(nil)
	hits := f.someHits(300)
	var wg sync.WaitGroup
	errc := make(chan error, len(hits))
	for _, h := range hits {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- ing.Add(ctx, h)
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ing.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	sameEvents(t, f.events(t), want(hits))
	f.drained(t, ing)
}

func TestAnEntryOfSeveralHitsIsStoredOnceEachHit(t *testing.T) {
	ctx := context.Background()
	f := newIngestFixture(t)
	ing := f.ingest(nil)
	hits := f.someHits(3)
	var lines []string
	for _, h := range hits {
		lines = append(lines, string(h.appendJSON(nil)))
	}
	// One line a newer writer might add that this one cannot read.
	lines = append(lines[:1], append([]string{"{not json"}, lines[1:]...)...)
	id, err := f.rdb.XAdd(ctx, &redis.XAddArgs{Stream: ing.stream, Values: []any{"b", strings.Join(lines, "\n")}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := f.rdb.XRange(ctx, ing.stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := ing.ensureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	for round := range 2 { // delivered twice, as after a crash
		if _, err := ing.processMessages(ctx, msgs); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		sameEvents(t, f.events(t), want(hits))
	}
	var keys []string
	if err := f.db.Model(&contacts.Event{}).Order("id").Pluck("dedupe_key", &keys).Error; err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{"hit:" + id + "/0", "hit:" + id + "/2", "hit:" + id + "/3"}
	if fmt.Sprint(keys) != fmt.Sprint(wantKeys) {
		t.Errorf("dedupe keys %v, want %v", keys, wantKeys)
	}
}

func TestAddAfterCloseFails(t *testing.T) {
	f := newIngestFixture(t)
	ing := f.ingest(nil)
	if err := ing.Add(context.Background(), f.someHits(1)[0]); err != nil {
		t.Fatal(err)
	}
	ing.Close()
	if err := ing.Add(context.Background(), f.someHits(1)[0]); !errors.Is(err, ErrClosed) {
		t.Fatalf("Add after Close = %v, want ErrClosed", err)
	}
}

// clock is a test clock that moves only when told.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestPollHoldsClicksUntilTheBurstIsOver(t *testing.T) {
	ctx := context.Background()
	f := newIngestFixture(t)
	ing := f.ingest(nil)
	clk := &clock{t: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	ing.now = clk.now
	if err := ing.ensureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	ann, bob := f.contacts[0].ID, f.contacts[1].ID
	click := func(contact, link int64) Hit {
		return Hit{Kind: Click, CampaignID: 5, ContactID: contact, LinkID: link, At: clk.now(), UserAgent: chromeUA, Method: "GET"}
	}
	steps := []struct {
		name    string
		advance time.Duration
		add     []Hit
		written int // events written by this poll
	}{
		{"a scanner clicks ann's first link; bob opens", 0, []Hit{click(ann, 0), {Kind: Open, CampaignID: 5, ContactID: bob, At: clk.now(), UserAgent: chromeUA, Method: "GET"}}, 1},
		{"a second later it clicks her second link", time.Second, []Hit{click(ann, 1)}, 0},
		{"two seconds after that, still held", 2 * time.Second, nil, 0},
		{"three seconds of quiet: the burst is written", time.Second, nil, 2},
		{"bob clicks one link", time.Minute, []Hit{click(bob, 2)}, 0},
		{"and nothing else: written as a person's", 3 * time.Second, nil, 1},
	}
	for _, st := range steps {
		clk.advance(st.advance)
		for _, h := range st.add {
			h.At = clk.now()
			f.add(t, ing, []Hit{h})
		}
		n, err := ing.poll(ctx, -1)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if n != st.written {
			t.Fatalf("%s: wrote %d events, want %d", st.name, n, st.written)
		}
	}
	var evs []contacts.Event
	if err := f.db.Where("type = ?", contacts.EventClick).Order("id").Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("%d clicks stored, want 3", len(evs))
	}
	for i, ev := range evs {
		wantMachine := ev.ContactID == ann
		if ev.Machine != wantMachine {
			t.Errorf("click %d (contact %d, link %d): machine=%v, want %v", i, ev.ContactID, *ev.LinkID, ev.Machine, wantMachine)
		}
		if wantMachine && ev.Properties["machine_reason"] != ReasonBurst {
			t.Errorf("click %d: properties %v, want machine_reason %q", i, ev.Properties, ReasonBurst)
		}
	}
	f.drained(t, ing)
}

func TestPollWritesClicksHeldTooLong(t *testing.T) {
	ctx := context.Background()
	f := newIngestFixture(t)
	ing := f.ingest(nil)
	clk := &clock{t: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	ing.now = clk.now
	if err := ing.ensureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	// A scanner that never stops clicking: every second, another link.
	written := 0
	for k := 0; k <= int(ing.maxHold/time.Second); k++ {
		f.add(t, ing, []Hit{{Kind: Click, CampaignID: 5, ContactID: f.contacts[0].ID, LinkID: int64(k % 4), At: clk.now(), UserAgent: chromeUA, Method: "GET"}})
		n, err := ing.poll(ctx, -1)
		if err != nil {
			t.Fatal(err)
		}
		written += n
		clk.advance(time.Second)
	}
	if written == 0 {
		t.Fatalf("nothing written after holding clicks for %s", ing.maxHold)
	}
	if _, err := ing.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	f.drained(t, ing)
}

func TestFlushWritesHeldClicks(t *testing.T) {
	ctx := context.Background()
	f := newIngestFixture(t)
	ing := f.ingest(nil)
	clk := &clock{t: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	ing.now = clk.now
	if err := ing.ensureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	hits := []Hit{{Kind: Click, CampaignID: 5, ContactID: f.contacts[0].ID, LinkID: 1, At: clk.now(), UserAgent: chromeUA, Method: "GET"}}
	f.add(t, ing, hits)
	if n, err := ing.poll(ctx, -1); err != nil || n != 0 {
		t.Fatalf("poll = %d, %v; want the click held", n, err)
	}
	if n, err := ing.Flush(ctx); err != nil || n != 1 {
		t.Fatalf("Flush = %d, %v; want the held click written", n, err)
	}
	sameEvents(t, f.events(t), want(hits))
	f.drained(t, ing)
}

func TestPollGathersWritesWhileHitsKeepComing(t *testing.T) {
	ctx := context.Background()
	f := newIngestFixture(t)
	ing := f.ingest(nil)
	clk := &clock{t: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	ing.now = clk.now
	if err := ing.ensureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	open := func() Hit {
		return Hit{Kind: Open, CampaignID: 5, ContactID: f.contacts[0].ID, At: clk.now(), UserAgent: chromeUA, Method: "GET"}
	}
	for _, st := range []struct {
		name    string
		advance time.Duration
		opens   int
		written int
	}{
		{"the first open is written at once", 0, 1, 1},
		{"two more 100 ms later wait", 100 * time.Millisecond, 2, 0},
		{"and one more 100 ms after that", 100 * time.Millisecond, 1, 0},
		{"250 ms after the last write, all three go in one", 50 * time.Millisecond, 0, 3},
	} {
		clk.advance(st.advance)
		for range st.opens {
			f.add(t, ing, []Hit{open()})
		}
		n, err := ing.poll(ctx, -1)
		if err != nil {
			t.Fatal(err)
		}
		if n != st.written {
			t.Fatalf("%s: wrote %d, want %d", st.name, n, st.written)
		}
	}
	f.drained(t, ing)
}
