package tracking

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestRunRecreatesTheGroupWhenRedisLosesTheStream runs the consumer, makes
// Redis lose the stream and its group as a restart without persistence or a
// flush does, and checks that hits added afterwards are still written: the
// web tier's XADD makes a new stream, and the consumer must make the group
// again instead of failing with NOGROUP for ever.
func TestRunRecreatesTheGroupWhenRedisLosesTheStream(t *testing.T) {
	for _, tc := range []struct {
		name string
		lose func(ctx context.Context, rdb *redis.Client) error
	}{
		{"the stream is deleted", func(ctx context.Context, rdb *redis.Client) error { return rdb.Del(ctx, DefaultStream).Err() }},
		{"the database is flushed", func(ctx context.Context, rdb *redis.Client) error { return rdb.FlushDB(ctx).Err() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newIngestFixture(t)
			ing := f.ingest(nil)
			ing.linger = 10 * time.Millisecond
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- ing.Run(ctx) }()
			t.Cleanup(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
			})
			at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
			open := func(n int) Hit {
				return Hit{Kind: Open, CampaignID: 1, ContactID: f.contacts[n%len(f.contacts)].ID, At: at.Add(time.Duration(n) * time.Second), UserAgent: chromeUA, Method: "GET"}
			}
			waitEvents := func(n int) {
				t.Helper()
				deadline := time.Now().Add(15 * time.Second)
				for len(f.events(t)) < n {
					if time.Now().After(deadline) {
						t.Fatalf("%d events stored after 15s, want %d", len(f.events(t)), n)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			before := []Hit{open(0), open(1)}
			f.add(t, ing, before)
			waitEvents(len(before))

			if err := tc.lose(ctx, f.rdb); err != nil {
				t.Fatal(err)
			}
			after := []Hit{open(2), open(3), open(4)}
			f.add(t, ing, after)
			waitEvents(len(before) + len(after))
			sameEvents(t, f.events(t), want(append(before, after...)))
			deadline := time.Now().Add(5 * time.Second)
			for n, _ := ing.Pending(ctx); n != 0; n, _ = ing.Pending(ctx) {
				if time.Now().After(deadline) {
					t.Fatalf("%d entries left in the new stream", n)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
