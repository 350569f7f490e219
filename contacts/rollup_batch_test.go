package contacts_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"herald/contacts"
)

// One batch of hits for many contacts (a campaign's clicks) moves each
// contact's last-seen time to its own latest event, and never back, to the
// millisecond.
func TestRecordEventsMovesEachContactsLastSeenTimeInOneBatch(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, contacts.Options{})
	base := day.Add(10 * time.Hour)
	const n = 1200 // more than one statement's worth
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = mustUpsert(t, s, contacts.Input{Email: ptr(fmt.Sprintf("c%04d@example.com", i))}).ID
	}
	// Every third contact already clicked later than this batch will say.
	var first []contacts.EventInput
	for i := 0; i < n; i += 3 {
		first = append(first, contacts.EventInput{ContactID: ids[i], Type: contacts.EventClick, OccurredAt: base.Add(time.Hour)})
	}
	if _, err := s.RecordEvents(ctx, first); err != nil {
		t.Fatal(err)
	}
	var batch []contacts.EventInput
	want := map[int64]time.Time{}
	for i, id := range ids {
		at := base.Add(time.Duration(i) * 733 * time.Millisecond)
		batch = append(batch, contacts.EventInput{ContactID: id, Type: contacts.EventClick, OccurredAt: at},
			contacts.EventInput{ContactID: id, Type: contacts.EventClick, OccurredAt: at.Add(-time.Minute)})
		want[id] = at
		if i%3 == 0 && at.Before(base.Add(time.Hour)) {
			want[id] = base.Add(time.Hour)
		}
	}
	res, err := s.RecordEvents(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	for _, id := range ids {
		c, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.LastClickAt == nil || !c.LastClickAt.Equal(want[id]) {
			t.Fatalf("contact %d: last_click_at = %s, want %s", id, fmtTime(c.LastClickAt), want[id])
		}
	}
}
