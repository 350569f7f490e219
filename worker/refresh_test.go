package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"herald/contacts"
	"herald/internal/testenv"
	"herald/segments"
)

// logBuffer collects log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) lines(substr string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range strings.Split(b.buf.String(), "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// TestPeriodicRefreshSkipsBrokenSegments runs the periodic refresh task
// over a segment whose custom field was deleted (listed first) and a
// sound one: the sound one is refreshed once it is due and only then, the
// broken one is logged once rather than at every run, and the task
// succeeds, since a retry could not mend a definition.
func TestPeriodicRefreshSkipsBrokenSegments(t *testing.T) {
	ctx := context.Background()
	clk := testenv.NewClock(time.Date(2026, 12, 28, 10, 0, 0, 0, time.UTC))
	g := testenv.DB(t, func(g *gorm.DB) error {
		if err := contacts.Migrate(g); err != nil {
			return err
		}
		return segments.Migrate(g)
	})
	store := contacts.NewStore(g, contacts.Options{Now: clk.Now})
	vip, err := store.CreateField(ctx, "vip", contacts.FieldBool)
	if err != nil {
		t.Fatal(err)
	}
	amy, _, err := store.Upsert(ctx, contacts.Input{Email: ptr("amy@example.com"), City: ptr("Paris"), Attributes: map[string]any{"vip": true}})
	if err != nil {
		t.Fatal(err)
	}
	svc := segments.NewService(g, store, clk.Now, nil)
	create := func(name, def string) segments.Segment {
		t.Helper()
		seg, err := svc.Create(ctx, segments.Input{Name: &name, Definition: json.RawMessage(def)})
		if err != nil {
			t.Fatal(err)
		}
		return seg
	}
	broken := create("VIPs", `{"field":"attr.vip","op":"eq","value":true}`)
	londoners := create("Londoners", `{"field":"city","op":"eq","value":"London"}`)
	if err := store.DeleteField(ctx, vip.ID); err != nil {
		t.Fatal(err)
	}

	opt, err := redis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	logs := &logBuffer{}
	w := New(Deps{Redis: rdb, Segments: svc, Log: slog.New(slog.NewTextHandler(logs, nil))}, Config{RefreshEvery: 24 * time.Hour})

	members := func() int64 {
		t.Helper()
		seg, err := svc.Get(ctx, londoners.ID)
		if err != nil {
			t.Fatal(err)
		}
		return seg.MemberCount
	}
	run := func() {
		t.Helper()
		if err := w.handleRefresh(ctx, NewRefreshTask()); err != nil {
			t.Fatalf("handleRefresh: %v", err)
		}
	}

	// Amy moves to London; an hour later nothing is due yet.
	if _, err := store.Update(ctx, amy.ID, contacts.Input{City: ptr("London")}); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	run()
	if n := members(); n != 0 {
		t.Errorf("an hour after creation, Londoners has %d members: refreshed before it was due", n)
	}
	clk.Add(24 * time.Hour)
	run()
	if n := members(); n != 1 {
		t.Errorf("a day later, Londoners has %d members, want 1", n)
	}
	clk.Add(25 * time.Hour)
	run()
	warned := logs.lines("no longer compiles")
	if len(warned) != 1 || !strings.Contains(warned[0], "segment="+jsonInt(broken.ID)) || !strings.Contains(warned[0], "level=WARN") {
		t.Errorf("warnings about the broken segment:\n%s\nwant one, naming segment %d", strings.Join(warned, "\n"), broken.ID)
	}
	if strings.Contains(logs.buf.String(), "amy@example.com") {
		t.Errorf("the log names a contact:\n%s", logs.buf.String())
	}
}

func ptr[T any](v T) *T { return &v }

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
