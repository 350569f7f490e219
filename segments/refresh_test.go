package segments_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"herald/contacts"
	"herald/internal/errs"
	"herald/internal/testenv"
	"herald/segments"
)

// change is a row of segment_changes, by contact name.
type change struct {
	who, kind string
	at        time.Time
}

func (c change) String() string {
	return fmt.Sprintf("%s %s at %s", c.who, c.kind, c.at.UTC().Format(time.RFC3339))
}

// changes reads a segment's history, ordered by time, kind and name.
func (w *world) changes(t *testing.T, segID int64) []change {
	t.Helper()
	var rows []segments.Change
	if err := w.g.Where("segment_id = ?", segID).Find(&rows).Error; err != nil {
		t.Fatalf("read changes: %v", err)
	}
	out := make([]change, len(rows))
	for i, r := range rows {
		out[i] = change{who: w.names[r.ContactID], kind: r.Kind, at: r.ChangedAt.UTC()}
	}
	sortChanges(out)
	return out
}

func sortChanges(cs []change) {
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if !a.at.Equal(b.at) {
			return a.at.Before(b.at)
		}
		if a.kind != b.kind {
			return a.kind < b.kind
		}
		return a.who < b.who
	})
}

func checkChanges(t *testing.T, got []change, want ...change) {
	t.Helper()
	sortChanges(want)
	if len(got) != len(want) {
		t.Errorf("changes:\n got %v\nwant %v", got, want)
		return
	}
	for i := range got {
		if got[i].who != want[i].who || got[i].kind != want[i].kind || !got[i].at.Equal(want[i].at) {
			t.Errorf("changes:\n got %v\nwant %v", got, want)
			return
		}
	}
}

func checkResult(t *testing.T, what string, got segments.RefreshResult, entered, exited, members int64) {
	t.Helper()
	if got.Entered != entered || got.Exited != exited || got.Members != members {
		t.Errorf("%s = %+v, want Entered %d, Exited %d, Members %d", what, got, entered, exited, members)
	}
}

// checkSegment checks a segment's members and its stored member_count.
func checkSegment(t *testing.T, svc *segments.Service, id int64, want string) segments.Segment {
	t.Helper()
	if got := members(t, svc, id); !got.equal(names(want)) {
		t.Errorf("members = %v, want %v", got, names(want))
	}
	seg, err := svc.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if seg.MemberCount != int64(len(names(want))) {
		t.Errorf("member_count = %d, want %d", seg.MemberCount, len(names(want)))
	}
	return seg
}

var townPeople = []person{
	{email: "amy@example.com", city: "Paris"},
	{email: "ben@example.com", city: "London"},
	{email: "cat@example.com", city: "London"},
	{email: "dov@example.com", city: "Berlin"},
	{email: "eli@example.com", city: "Rome"},
}

// parisOrRecentBuyer is in Paris or bought something in the last 30 days.
const parisOrRecentBuyer = `{"any":[{"field":"city","op":"eq","value":"paris"},{"field":"event.purchase","op":"count_gte","value":{"n":1,"within":"30d"}}]}`

func createSegment(t *testing.T, svc *segments.Service, name, def string) segments.Segment {
	t.Helper()
	seg, err := svc.Create(context.Background(), segments.Input{Name: &name, Definition: json.RawMessage(def)})
	if err != nil {
		t.Fatalf("Create(%s): %v", def, err)
	}
	return seg
}

func setCity(t *testing.T, w *world, who, city string) {
	t.Helper()
	if _, err := w.store.Update(context.Background(), w.id(t, who), contacts.Input{City: &city}); err != nil {
		t.Fatal(err)
	}
}

// TestRefreshRecordsEntriesAndExits moves contacts in and out through
// attribute changes, new events and the passing of time, and checks the
// counts, the members, member_count, refreshed_at and segment_changes.
func TestRefreshRecordsEntriesAndExits(t *testing.T) {
	clk := testenv.NewClock(now)
	w := newWorld(t, clk.Now, nil, townPeople)
	svc := segments.NewService(w.g, w.store, clk.Now, nil)
	ctx := context.Background()
	t0 := clk.Now()
	w.record(t, ev{who: "cat", typ: contacts.EventPurchase, at: daysAgo(5), amount: 1000})

	seg := createSegment(t, svc, "paris or recent buyer", parisOrRecentBuyer)
	if seg.RefreshedAt == nil || !seg.RefreshedAt.Equal(t0) {
		t.Errorf("refreshed_at after Create = %v, want %v", seg.RefreshedAt, t0)
	}
	checkSegment(t, svc, seg.ID, "amy cat")
	checkChanges(t, w.changes(t, seg.ID), change{"amy", segments.Entered, t0}, change{"cat", segments.Entered, t0})

	// Ben moves to Paris (enters), Amy leaves it (exits), Dov buys
	// (enters), and 30 days pass so Cat's purchase is too old (exits).
	clk.Add(30 * 24 * time.Hour)
	t1 := clk.Now()
	setCity(t, w, "ben", "PARIS")
	setCity(t, w, "amy", "Lyon")
	w.record(t, ev{who: "dov", typ: contacts.EventPurchase, at: t1.Add(-time.Hour), amount: 500})

	res, err := svc.Refresh(ctx, seg.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, "Refresh", res, 2, 2, 2)
	got := checkSegment(t, svc, seg.ID, "ben dov")
	if got.RefreshedAt == nil || !got.RefreshedAt.Equal(t1) {
		t.Errorf("refreshed_at = %v, want %v", got.RefreshedAt, t1)
	}
	checkChanges(t, w.changes(t, seg.ID),
		change{"amy", segments.Entered, t0}, change{"cat", segments.Entered, t0},
		change{"ben", segments.Entered, t1}, change{"dov", segments.Entered, t1},
		change{"amy", segments.Exited, t1}, change{"cat", segments.Exited, t1})

	// Nothing changed: nothing is recorded.
	clk.Add(time.Hour)
	res, err = svc.Refresh(ctx, seg.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, "second Refresh", res, 0, 0, 2)
	if n := len(w.changes(t, seg.ID)); n != 6 {
		t.Errorf("a refresh without changes recorded changes: %d rows, want 6", n)
	}

	// Amy comes back: a second entry is a new row of history.
	clk.Add(time.Hour)
	t3 := clk.Now()
	setCity(t, w, "amy", "paris")
	res, err = svc.Refresh(ctx, seg.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, "Refresh after coming back", res, 1, 0, 3)
	checkSegment(t, svc, seg.ID, "amy ben dov")
	changes := w.changes(t, seg.ID)
	if last := changes[len(changes)-1]; last.who != "amy" || last.kind != segments.Entered || !last.at.Equal(t3) {
		t.Errorf("last change = %v, want amy entered at %v", last, t3)
	}
}

// TestRefreshContactsOnlyTouchesThoseContacts checks the incremental path:
// contacts not in the list keep their membership until a full refresh.
func TestRefreshContactsOnlyTouchesThoseContacts(t *testing.T) {
	clk := testenv.NewClock(now)
	w := newWorld(t, clk.Now, nil, townPeople)
	svc := segments.NewService(w.g, w.store, clk.Now, nil)
	ctx := context.Background()
	t0 := clk.Now()
	seg := createSegment(t, svc, "londoners", `{"field":"city","op":"eq","value":"London"}`)
	checkSegment(t, svc, seg.ID, "ben cat")

	clk.Add(time.Minute)
	t1 := clk.Now()
	setCity(t, w, "ben", "Leeds")  // leaves
	setCity(t, w, "cat", "Leeds")  // leaves, but is not re-evaluated yet
	setCity(t, w, "dov", "london") // enters
	setCity(t, w, "eli", "LONDON") // enters, but is not re-evaluated yet
	setCity(t, w, "amy", "Nantes") // was never in, is re-evaluated
	res, err := svc.RefreshContacts(ctx, seg.ID, []int64{w.id(t, "ben"), w.id(t, "dov"), w.id(t, "amy")})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, "RefreshContacts", res, 1, 1, 2)
	got := checkSegment(t, svc, seg.ID, "cat dov")
	if got.RefreshedAt == nil || !got.RefreshedAt.Equal(t0) {
		t.Errorf("RefreshContacts moved refreshed_at to %v; only a full refresh sets it (%v)", got.RefreshedAt, t0)
	}
	checkChanges(t, w.changes(t, seg.ID),
		change{"ben", segments.Entered, t0}, change{"cat", segments.Entered, t0},
		change{"ben", segments.Exited, t1}, change{"dov", segments.Entered, t1})

	// A deleted contact leaves its segments.
	clk.Add(time.Minute)
	t2 := clk.Now()
	dov := w.id(t, "dov")
	if err := w.store.Delete(ctx, dov); err != nil {
		t.Fatal(err)
	}
	res, err = svc.RefreshContacts(ctx, seg.ID, []int64{dov})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, "RefreshContacts of a deleted contact", res, 0, 1, 1)
	checkSegment(t, svc, seg.ID, "cat")

	// Nothing to re-evaluate.
	res, err = svc.RefreshContacts(ctx, seg.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, "RefreshContacts of nobody", res, 0, 0, 0)

	// The full refresh catches up with Cat and Eli.
	clk.Add(time.Minute)
	t3 := clk.Now()
	res, err = svc.Refresh(ctx, seg.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, "Refresh", res, 1, 1, 1)
	checkSegment(t, svc, seg.ID, "eli")
	checkChanges(t, w.changes(t, seg.ID),
		change{"ben", segments.Entered, t0}, change{"cat", segments.Entered, t0},
		change{"ben", segments.Exited, t1}, change{"dov", segments.Entered, t1},
		change{"dov", segments.Exited, t2},
		change{"cat", segments.Exited, t3}, change{"eli", segments.Entered, t3})
}

// TestRefreshContactsManyIDs re-evaluates more contacts than one statement
// takes, with duplicates and unknown ids in the list.
func TestRefreshContactsManyIDs(t *testing.T) {
	people := make([]person, 1200)
	for i := range people {
		city := "Oslo"
		if i%3 == 0 {
			city = "Bergen"
		}
		people[i] = person{email: fmt.Sprintf("p%04d@example.com", i), city: city}
	}
	clk := testenv.NewClock(now)
	w := newWorld(t, clk.Now, nil, people)
	svc := segments.NewService(w.g, w.store, clk.Now, nil)
	ctx := context.Background()
	seg := createSegment(t, svc, "bergen", `{"field":"city","op":"eq","value":"bergen"}`)
	if seg.MemberCount != 400 {
		t.Fatalf("member_count = %d, want 400", seg.MemberCount)
	}
	// Everyone moves to Bergen.
	if err := w.g.Exec("UPDATE contacts SET city = 'Bergen'").Error; err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, 0, 2500)
	for _, id := range w.ids {
		ids = append(ids, id, id)
	}
	ids = append(ids, 999999, 999998)
	res, err := svc.RefreshContacts(ctx, seg.ID, ids)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, "RefreshContacts", res, 800, 0, 1200)
	var n int64
	if err := w.g.Model(&segments.Change{}).Where("segment_id = ? AND kind = ?", seg.ID, segments.Entered).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != 1200 {
		t.Errorf("entered changes = %d, want 1200", n)
	}
}

// TestUpdateDefinitionRecomputesMembership changes a definition and the
// name alone, and checks membership and history follow.
func TestUpdateDefinitionRecomputesMembership(t *testing.T) {
	clk := testenv.NewClock(now)
	w := newWorld(t, clk.Now, nil, townPeople)
	svc := segments.NewService(w.g, w.store, clk.Now, nil)
	ctx := context.Background()
	t0 := clk.Now()
	seg := createSegment(t, svc, "londoners", `{"field":"city","op":"eq","value":"London"}`)

	clk.Add(time.Hour)
	t1 := clk.Now()
	def := json.RawMessage(`{"field":"city","op":"in","value":["london","rome"]}`)
	desc := "London and Rome"
	got, err := svc.Update(ctx, seg.ID, segments.Input{Description: &desc, Definition: def})
	if err != nil {
		t.Fatal(err)
	}
	if got.Description != desc || got.Name != "londoners" || got.MemberCount != 3 {
		t.Errorf("Update = %+v, want description %q, the old name and 3 members", got, desc)
	}
	checkSegment(t, svc, seg.ID, "ben cat eli")
	checkChanges(t, w.changes(t, seg.ID),
		change{"ben", segments.Entered, t0}, change{"cat", segments.Entered, t0}, change{"eli", segments.Entered, t1})

	// Renaming keeps the membership and its count.
	before := got.UpdatedAt
	time.Sleep(2 * time.Millisecond)
	name := "London and Rome"
	got, err = svc.Update(ctx, seg.ID, segments.Input{Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != name || got.Description != desc || got.MemberCount != 3 {
		t.Errorf("rename = %+v, want name %q, description %q and 3 members", got, name, desc)
	}
	if !got.UpdatedAt.After(before) {
		t.Errorf("updated_at %v did not move on from %v", got.UpdatedAt, before)
	}
	var stored segments.Node
	if err := json.Unmarshal(got.Definition, &stored); err != nil {
		t.Fatalf("stored definition %s does not parse: %v", got.Definition, err)
	}
	if got.Reads != ",city," || got.TimeRelative {
		t.Errorf("reads %q, time relative %v; want \",city,\" and false", got.Reads, got.TimeRelative)
	}
}

// TestRenameKeepsConcurrentRefresh checks that an update read before a
// refresh does not write back the stale member_count.
func TestRenameKeepsConcurrentRefresh(t *testing.T) {
	clk := testenv.NewClock(now)
	w := newWorld(t, clk.Now, nil, townPeople)
	svc := segments.NewService(w.g, w.store, clk.Now, nil)
	ctx := context.Background()
	seg := createSegment(t, svc, "londoners", `{"field":"city","op":"eq","value":"London"}`)
	setCity(t, w, "eli", "London")
	var wg sync.WaitGroup
	errc := make(chan error, 20)
	for i := 0; i < 10; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := svc.Refresh(ctx, seg.ID)
			errc <- err
		}()
		go func(i int) {
			defer wg.Done()
			name := fmt.Sprintf("londoners %d", i)
			_, err := svc.Update(ctx, seg.ID, segments.Input{Name: &name})
			errc <- err
		}(i)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	checkSegment(t, svc, seg.ID, "ben cat eli")
	var entered int64
	if err := w.g.Model(&segments.Change{}).Where("segment_id = ? AND kind = ?", seg.ID, segments.Entered).Count(&entered).Error; err != nil {
		t.Fatal(err)
	}
	if entered != 3 {
		t.Errorf("concurrent refreshes recorded %d entries, want 3", entered)
	}
}

// TestConcurrentRefreshesKeepHistoryAndMembershipInStep refreshes one
// segment from several goroutines while contacts change, then checks that
// the history replays to exactly the current membership.
func TestConcurrentRefreshesKeepHistoryAndMembershipInStep(t *testing.T) {
	people := make([]person, 40)
	for i := range people {
		people[i] = person{email: fmt.Sprintf("c%02d@example.com", i), city: "Oslo"}
	}
	clk := testenv.NewClock(now)
	w := newWorld(t, clk.Now, nil, people)
	svc := segments.NewService(w.g, w.store, clk.Now, nil)
	ctx := context.Background()
	seg := createSegment(t, svc, "bergen", `{"field":"city","op":"eq","value":"bergen"}`)
	ids := make([]int64, 0, len(w.ids))
	for _, id := range w.ids {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })

	var wg sync.WaitGroup
	errc := make(chan error, 1000)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for round := 0; round < 10; round++ {
				city := "Bergen"
				if (round+g)%2 == 1 {
					city = "Oslo"
				}
				for i := g; i < len(ids); i += 4 {
					if _, err := w.store.Update(ctx, ids[i], contacts.Input{City: &city}); err != nil {
						errc <- err
						return
					}
				}
				if _, err := svc.RefreshContacts(ctx, seg.ID, ids[g*10:g*10+10]); err != nil {
					errc <- err
					return
				}
				if _, err := svc.Refresh(ctx, seg.ID); err != nil {
					errc <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if _, err := svc.Refresh(ctx, seg.ID); err != nil {
		t.Fatal(err)
	}
	var rows []segments.Change
	if err := w.g.Where("segment_id = ?", seg.ID).Order("id").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	in := map[int64]bool{}
	for _, r := range rows {
		switch {
		case r.Kind == segments.Entered && in[r.ContactID]:
			t.Fatalf("contact %d entered twice without exiting", r.ContactID)
		case r.Kind == segments.Exited && !in[r.ContactID]:
			t.Fatalf("contact %d exited without having entered", r.ContactID)
		}
		in[r.ContactID] = r.Kind == segments.Entered
	}
	var mem []segments.Member
	if err := w.g.Where("segment_id = ?", seg.ID).Find(&mem).Error; err != nil {
		t.Fatal(err)
	}
	isMember := map[int64]bool{}
	for _, m := range mem {
		isMember[m.ContactID] = true
		if !in[m.ContactID] {
			t.Errorf("contact %d is a member but its history says it is out", m.ContactID)
		}
	}
	for id, v := range in {
		if v && !isMember[id] {
			t.Errorf("contact %d entered and never exited but is not a member", id)
		}
	}
	var bergen int64
	if err := w.g.Model(&contacts.Contact{}).Where("city = ?", "Bergen").Count(&bergen).Error; err != nil {
		t.Fatal(err)
	}
	if int64(len(mem)) != bergen {
		t.Errorf("%d members after a final refresh, want the %d contacts in Bergen", len(mem), bergen)
	}
}

func TestDeleteRemovesMembershipAndHistory(t *testing.T) {
	w := newWorld(t, fixedClock(now), nil, townPeople)
	svc := segments.NewService(w.g, w.store, fixedClock(now), nil)
	ctx := context.Background()
	seg := createSegment(t, svc, "londoners", `{"field":"city","op":"eq","value":"London"}`)
	other := createSegment(t, svc, "everyone", `{"all":[]}`)
	if err := svc.Delete(ctx, seg.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Get(ctx, seg.ID); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("Get after Delete: %v, want not found", err)
	}
	if _, _, err := svc.Members(ctx, seg.ID, 0, 10); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("Members after Delete: %v, want not found", err)
	}
	if _, err := svc.Refresh(ctx, seg.ID); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("Refresh after Delete: %v, want not found", err)
	}
	if err := svc.Delete(ctx, seg.ID); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("second Delete: %v, want not found", err)
	}
	for _, table := range []string{"segment_members", "segment_changes"} {
		var n int64
		if err := w.g.Table(table).Where("segment_id = ?", seg.ID).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s keeps %d rows of the deleted segment", table, n)
		}
	}
	checkSegment(t, svc, other.ID, "amy ben cat dov eli")
}

func TestCreateNeedsNameAndDefinition(t *testing.T) {
	w := newWorld(t, fixedClock(now), nil, nil)
	svc := segments.NewService(w.g, w.store, fixedClock(now), nil)
	ctx := context.Background()
	blank := "  "
	long := strings.Repeat("n", 201)
	name := "ok"
	for _, tc := range []struct {
		name string
		in   segments.Input
		path string
	}{
		{"no name", segments.Input{Definition: json.RawMessage(`{"all":[]}`)}, "name"},
		{"blank name", segments.Input{Name: &blank, Definition: json.RawMessage(`{"all":[]}`)}, "name"},
		{"long name", segments.Input{Name: &long, Definition: json.RawMessage(`{"all":[]}`)}, "name"},
		{"no definition", segments.Input{Name: &name}, "definition"},
		{"null definition", segments.Input{Name: &name, Definition: json.RawMessage(`null`)}, "definition"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.Create(ctx, tc.in)
			if got := invalidPath(t, err); got != tc.path {
				t.Errorf("path %q (%v), want %q", got, err, tc.path)
			}
		})
	}
}

// TestCompileReads checks what a definition declares it reads, which
// incremental refreshes use to find the segments a change touches.
func TestCompileReads(t *testing.T) {
	for _, tc := range []struct {
		def          string
		reads        string
		timeRelative bool
	}{
		{`{"field":"city","op":"eq","value":"x"}`, "city", false},
		{`{"all":[{"field":"country","op":"eq","value":"NL"},{"field":"total_spent","op":"gt","value":1}]}`, "country total_spent", false},
		{`{"field":"attr.plan","op":"is_set"}`, "attributes", false},
		{`{"field":"birthday","op":"is_today"}`, "birthday", true},
		{`{"field":"anniversary","op":"month_is","value":3}`, "anniversary", false},
		{`{"field":"last_open_at","op":"within_last","value":"7d"}`, "last_open_at", true},
		{`{"field":"signup_at","op":"before","value":"2026-01-01"}`, "signup_at", false},
		{`{"field":"opened","op":"any_of_last","value":3}`, "deliveries event.email.open", false},
		{`{"field":"clicked","op":"campaign","value":3}`, "deliveries event.email.click", false},
		{`{"field":"event.purchase","op":"count_gte","value":{"n":1,"within":"30d"}}`, "event.purchase", true},
		{`{"field":"event.purchase","op":"count_lt","value":{"n":1,"since_campaign":4}}`, "deliveries event.purchase", false},
		{`{"not":{"any":[{"field":"attr.renewal","op":"within_last","value":"1y"},{"field":"status","op":"eq","value":"subscribed"}]}}`, "attributes status", true},
	} {
		n, err := segments.Parse([]byte(tc.def))
		if err != nil {
			t.Fatal(err)
		}
		c := &segments.Compiler{Now: now, Fields: compilerFields()}
		expr, err := c.Compile(n)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(expr.Reads, " "); got != tc.reads || expr.TimeRelative != tc.timeRelative {
			t.Errorf("%s reads %q (time relative %v), want %q (%v)", tc.def, got, expr.TimeRelative, tc.reads, tc.timeRelative)
		}
	}
}

// TestContactsChangedRefreshesTheSegmentsThatReadTheChange wires the
// contact store's OnChange to ContactsChanged, as the application does,
// and checks that edits, events, new and deleted contacts move members
// without a refresh, and only in the segments that read what changed.
func TestContactsChangedRefreshesTheSegmentsThatReadTheChange(t *testing.T) {
	clk := testenv.NewClock(now)
	w := newWorld(t, clk.Now, map[string]contacts.FieldType{"vip": contacts.FieldBool}, townPeople)
	var (
		svc   *segments.Service
		mu    sync.Mutex
		calls []error
	)
	w.store = contacts.NewStore(w.g, contacts.Options{Now: clk.Now, OnChange: func(ctx context.Context, ids []int64, fields []string) {
		err := svc.ContactsChanged(ctx, ids, fields)
		mu.Lock()
		calls = append(calls, err)
		mu.Unlock()
	}})
	svc = segments.NewService(w.g, w.store, clk.Now, nil)
	ctx := context.Background()

	parisians := createSegment(t, svc, "parisians", `{"field":"city","op":"eq","value":"paris"}`)
	spenders := createSegment(t, svc, "spenders", `{"field":"total_spent","op":"gte","value":10}`)
	buyers := createSegment(t, svc, "buyers", `{"field":"event.purchase","op":"count_gte","value":{"n":1,"within":"30d"}}`)
	vips := createSegment(t, svc, "vips", `{"field":"attr.vip","op":"eq","value":true}`)
	everyone := createSegment(t, svc, "everyone", `{"all":[]}`)
	newcomers := createSegment(t, svc, "newcomers", `{"field":"signup_at","op":"within_last","value":"1d"}`)
	checkSegment(t, svc, parisians.ID, "amy")
	checkSegment(t, svc, newcomers.ID, "amy ben cat dov eli")

	// Two days later nobody is a newcomer, but only a refresh of that
	// segment would tell; changing cities must not re-evaluate it.
	clk.Add(48 * time.Hour)
	setCity(t, w, "ben", "Paris")
	setCity(t, w, "amy", "Lyon")
	checkSegment(t, svc, parisians.ID, "ben")
	checkSegment(t, svc, newcomers.ID, "amy ben cat dov eli")

	// A purchase moves the roll-up and the event segments.
	w.record(t, ev{who: "cat", typ: contacts.EventPurchase, at: clk.Now().Add(-time.Hour), amount: 1500})
	checkSegment(t, svc, spenders.ID, "cat")
	checkSegment(t, svc, buyers.ID, "cat")

	// Attributes.
	yes := map[string]any{"vip": true}
	if _, err := w.store.Update(ctx, w.id(t, "dov"), contacts.Input{Attributes: yes}); err != nil {
		t.Fatal(err)
	}
	checkSegment(t, svc, vips.ID, "dov")

	// A new contact is evaluated against every segment, a deleted one
	// leaves all of its segments.
	c, _, err := w.store.Upsert(ctx, contacts.Input{Email: str("fox@example.com"), City: str("PARIS"), Attributes: yes})
	if err != nil {
		t.Fatal(err)
	}
	w.ids["fox"], w.names[c.ID] = c.ID, "fox"
	checkSegment(t, svc, parisians.ID, "ben fox")
	checkSegment(t, svc, vips.ID, "dov fox")
	checkSegment(t, svc, everyone.ID, "amy ben cat dov eli fox")
	checkSegment(t, svc, newcomers.ID, "amy ben cat dov eli fox")
	if err := w.store.Delete(ctx, w.id(t, "cat")); err != nil {
		t.Fatal(err)
	}
	checkSegment(t, svc, spenders.ID, "")
	checkSegment(t, svc, buyers.ID, "")
	checkSegment(t, svc, everyone.ID, "amy ben dov eli fox")
	checkSegment(t, svc, newcomers.ID, "amy ben dov eli fox")

	mu.Lock()
	defer mu.Unlock()
	if len(calls) == 0 {
		t.Fatal("OnChange was never called")
	}
	for _, err := range calls {
		if err != nil {
			t.Errorf("ContactsChanged: %v", err)
		}
	}
}

// countingFields is a FieldSource that counts its reads.
type countingFields struct {
	segments.FieldSource
	mu    sync.Mutex
	reads int
}

func (c *countingFields) Fields(ctx context.Context) (map[string]contacts.CustomField, error) {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return c.FieldSource.Fields(ctx)
}

func (c *countingFields) take() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.reads
	c.reads = 0
	return n
}

// TestRefreshesReadTheCustomFieldsOncePerCall: ContactsChanged runs on
// every event batch, over every segment reading the change and in chunks
// of contacts; reading the custom fields per segment and chunk would add
// as many queries to each batch.
func TestRefreshesReadTheCustomFieldsOncePerCall(t *testing.T) {
	clk := testenv.NewClock(now)
	w := newWorld(t, clk.Now, map[string]contacts.FieldType{"vip": contacts.FieldBool}, townPeople)
	fields := &countingFields{FieldSource: w.store}
	svc := segments.NewService(w.g, fields, clk.Now, nil)
	ctx := context.Background()
	parisians := createSegment(t, svc, "parisians", `{"field":"city","op":"eq","value":"paris"}`)
	createSegment(t, svc, "vips", `{"field":"attr.vip","op":"eq","value":true}`)
	createSegment(t, svc, "everyone", `{"all":[]}`)

	// More contacts than one chunk, so that each segment takes several.
	var ids []int64
	for _, id := range w.ids {
		ids = append(ids, id)
	}
	for id := int64(1); len(ids) < 1200; id++ {
		ids = append(ids, 1_000_000+id)
	}
	steps := []struct {
		name string
		run  func() error
	}{
		{"ContactsChanged", func() error { return svc.ContactsChanged(ctx, ids, []string{"created"}) }},
		{"RefreshContacts", func() error { _, err := svc.RefreshContacts(ctx, parisians.ID, ids); return err }},
		{"RefreshStale", func() error {
			clk.Add(48 * time.Hour)
			n, err := svc.RefreshStale(ctx, time.Hour)
			if err == nil && n != 3 {
				err = fmt.Errorf("refreshed %d segments, want 3", n)
			}
			return err
		}},
	}
	fields.take()
	for _, s := range steps {
		if err := s.run(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if n := fields.take(); n != 1 {
			t.Errorf("%s read the custom fields %d times, want 1", s.name, n)
		}
	}
	checkSegment(t, svc, parisians.ID, "amy")
}
