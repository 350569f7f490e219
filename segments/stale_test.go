package segments_test

import (
	"context"
	"testing"
	"time"

	"herald/internal/testenv"
	"herald/segments"
)

// TestRefreshStaleRefreshesWhatIsDue walks a clock through two days and
// checks which segments the periodic check recomputes: those never
// refreshed, those whose last full refresh is older than the period, and
// time-relative ones once the day has changed in the service's time
// zone, whatever their age. Incremental refreshes do not count as full
// ones. The shop world's today is Monday 28 December 2026, 10:00 UTC.
func TestRefreshStaleRefreshesWhatIsDue(t *testing.T) {
	clk := testenv.NewClock(now)
	w := newShop(t)
	// Midnight in Amsterdam is 23:00 UTC in winter.
	ams, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		t.Fatal(err)
	}
	svc := segments.NewService(w.g, w.store, clk.Now, ams)
	ctx := context.Background()
	t0 := clk.Now()
	nl := createSegment(t, svc, "Dutch", `{"field":"country","op":"eq","value":"NL"}`)
	today := createSegment(t, svc, "Birthday today", `{"field":"birthday","op":"is_today"}`)
	checkSegment(t, svc, today.ID, "cleo")
	never := createSegment(t, svc, "French", `{"field":"country","op":"eq","value":"FR"}`)
	if err := w.g.Model(&segments.Segment{}).Where("id = ?", never.ID).Update("refreshed_at", nil).Error; err != nil {
		t.Fatal(err)
	}

	refreshedAt := func(id int64) time.Time {
		t.Helper()
		seg, err := svc.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if seg.RefreshedAt == nil {
			return time.Time{}
		}
		return seg.RefreshedAt.UTC()
	}
	step := func(to time.Time, wantN int, want map[int64]time.Time) {
		t.Helper()
		clk.Add(to.Sub(clk.Now()))
		n, err := svc.RefreshStale(ctx, 24*time.Hour)
		if err != nil {
			t.Fatalf("RefreshStale at %s: %v", to, err)
		}
		if n != wantN {
			t.Errorf("RefreshStale at %s refreshed %d segments, want %d", to, n, wantN)
		}
		for id, at := range want {
			if got := refreshedAt(id); !got.Equal(at) {
				t.Errorf("at %s: segment %d refreshed at %s, want %s", to, id, got, at)
			}
		}
	}

	// An hour later only the segment never refreshed is due.
	t1 := t0.Add(time.Hour)
	step(t1, 1, map[int64]time.Time{nl.ID: t0, today.ID: t0, never.ID: t1})
	step(t1, 0, nil)
	// An incremental refresh is not a full one.
	if _, err := svc.RefreshContacts(ctx, today.ID, []int64{w.id(t, "ida")}); err != nil {
		t.Fatal(err)
	}
	// Just before midnight in Amsterdam, nothing yet.
	step(time.Date(2026, 12, 28, 22, 59, 0, 0, time.UTC), 0, nil)
	// Just after it, the birthday segment moves on to the 29th.
	t2 := time.Date(2026, 12, 28, 23, 5, 0, 0, time.UTC)
	step(t2, 1, map[int64]time.Time{nl.ID: t0, today.ID: t2, never.ID: t1})
	checkSegment(t, svc, today.ID, "ida")
	// A day after their last full refresh, the others are due in turn.
	step(t0.Add(24*time.Hour+time.Minute), 1, map[int64]time.Time{nl.ID: t0.Add(24*time.Hour + time.Minute), today.ID: t2, never.ID: t1})
	t3 := t1.Add(24*time.Hour + time.Minute)
	step(t3, 1, map[int64]time.Time{never.ID: t3, today.ID: t2})
}
