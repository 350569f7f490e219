package segments_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"herald/contacts"
	"herald/internal/errs"
	"herald/internal/testenv"
	"herald/segments"
)

var clubPeople = []person{
	{email: "amy@example.com", city: "Paris", attrs: map[string]any{"vip": true, "plan": "pro"}},
	{email: "ben@example.com", city: "London", attrs: map[string]any{"vip": false}},
	{email: "cat@example.com", city: "London", attrs: map[string]any{"vip": true}},
	{email: "dov@example.com", city: "Berlin"},
}

var clubFields = map[string]contacts.FieldType{"vip": contacts.FieldBool, "plan": contacts.FieldText}

func fieldID(t *testing.T, w *world, name string) int64 {
	t.Helper()
	fs, err := w.store.Fields(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f, ok := fs[name]
	if !ok {
		t.Fatalf("no custom field %s", name)
	}
	return f.ID
}

// TestDeletingAFieldInUseIsRefused checks that a custom field read by a
// segment, however deep in its tree, cannot be deleted while it is: the
// error is a conflict naming the segments, and the field stays.
func TestDeletingAFieldInUseIsRefused(t *testing.T) {
	w := newWorld(t, fixedClock(now), clubFields, clubPeople)
	svc := segments.NewService(w.g, w.store, fixedClock(now), nil)
	ctx := context.Background()
	vips := createSegment(t, svc, "VIPs", `{"all":[{"field":"city","op":"is_set"},{"any":[{"not":{"field":"attr.vip","op":"eq","value":false}}]}]}`)
	alsoVIPs := createSegment(t, svc, "VIPs in London", `{"all":[{"field":"city","op":"eq","value":"London"},{"field":"attr.vip","op":"eq","value":true}]}`)
	anyVIP := createSegment(t, svc, "VIP status known", `{"not":{"field":"attr.vip","op":"is_not_set"}}`)
	createSegment(t, svc, "Pro plan", `{"field":"attr.plan","op":"eq","value":"pro"}`)
	createSegment(t, svc, "Londoners", `{"field":"city","op":"eq","value":"London"}`)

	err := w.store.DeleteField(ctx, fieldID(t, w, "vip"), svc)
	if !errors.Is(err, errs.ErrConflict) {
		t.Fatalf("deleting vip: %v, want a conflict", err)
	}
	msg := errs.Message(err)
	for _, want := range []string{"custom field vip", fmt.Sprintf(`segment %d "VIPs"`, vips.ID), fmt.Sprintf(`segment %d "VIPs in London"`, alsoVIPs.ID), fmt.Sprintf(`segment %d "VIP status known"`, anyVIP.ID)} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not name %s", msg, want)
		}
	}
	if strings.Contains(msg, "Pro plan") || strings.Contains(msg, "Londoners") {
		t.Errorf("message %q names segments that do not use vip", msg)
	}
	if _, err := svc.Refresh(ctx, vips.ID); err != nil {
		t.Errorf("after the refused delete, refreshing VIPs: %v", err)
	}

	// Once no segment reads it any more, the field goes.
	for _, id := range []int64{vips.ID, anyVIP.ID} {
		if err := svc.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Update(ctx, alsoVIPs.ID, segments.Input{Definition: []byte(`{"field":"city","op":"eq","value":"London"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := w.store.DeleteField(ctx, fieldID(t, w, "vip"), svc); err != nil {
		t.Fatalf("deleting vip once unused: %v", err)
	}
	fs, err := w.store.Fields(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fs["vip"]; ok {
		t.Errorf("vip is still defined")
	}
	if _, ok := fs["plan"]; !ok {
		t.Errorf("plan was deleted too")
	}
}

// TestSegmentsWithBrokenDefinitionsAreSkipped checks what happens to a
// segment whose custom field is gone anyway (deleted before deletes were
// checked, or between the check and the delete): refreshing it is a
// conflict that names it, and the incremental and periodic refreshes
// skip it, report it apart from other failures, and still refresh every
// other segment.
func TestSegmentsWithBrokenDefinitionsAreSkipped(t *testing.T) {
	clk := testenv.NewClock(now)
	w := newWorld(t, clk.Now, clubFields, clubPeople)
	svc := segments.NewService(w.g, w.store, clk.Now, nil)
	ctx := context.Background()
	// The broken segment comes first, so that a refresh stopping at it
	// would leave the others alone.
	vips := createSegment(t, svc, "VIPs", `{"any":[{"field":"city","op":"eq","value":"Rome"},{"field":"attr.vip","op":"eq","value":true}]}`)
	londoners := createSegment(t, svc, "Londoners", `{"field":"city","op":"eq","value":"London"}`)
	romans := createSegment(t, svc, "Romans", `{"field":"city","op":"eq","value":"Rome"}`)
	checkSegment(t, svc, vips.ID, "amy cat")
	// No users given: the unchecked delete of older versions.
	if err := w.store.DeleteField(ctx, fieldID(t, w, "vip")); err != nil {
		t.Fatal(err)
	}

	_, err := svc.Refresh(ctx, vips.ID)
	if !errors.Is(err, errs.ErrConflict) {
		t.Fatalf("Refresh of the broken segment: %v, want a conflict", err)
	}
	if _, invalid := errs.AsInvalid(err); invalid {
		t.Errorf("Refresh of the broken segment: %v is an InvalidError, a 400 blaming the request", err)
	}
	var de *segments.DefinitionError
	if !errors.As(err, &de) || de.SegmentID != vips.ID || de.Name != "VIPs" || invalidPath(t, de.Reason) != "any[1].field" {
		t.Fatalf("Refresh of the broken segment: %#v, want a DefinitionError of segment %d at any[1].field", err, vips.ID)
	}
	if msg := errs.Message(err); !strings.Contains(msg, fmt.Sprintf(`segment %d "VIPs"`, vips.ID)) || !strings.Contains(msg, `any[1].field`) || strings.HasPrefix(msg, "segments:") {
		t.Errorf("message %q: want the segment, the path of the rule, and no package prefix", msg)
	}

	// A contact change reaches every segment but the broken one.
	setCity(t, w, "dov", "London")
	err = svc.ContactsChanged(ctx, []int64{w.id(t, "dov")}, []string{"city"})
	broken, rest := segments.BrokenSegments(err)
	if rest != nil || len(broken) != 1 || broken[0].SegmentID != vips.ID {
		t.Fatalf("ContactsChanged: %v; want only segment %d reported broken", err, vips.ID)
	}
	checkSegment(t, svc, londoners.ID, "ben cat dov")
	checkSegment(t, svc, vips.ID, "amy cat")

	// So does the periodic refresh.
	setCity(t, w, "amy", "Rome")
	clk.Add(25 * time.Hour)
	n, err := svc.RefreshStale(ctx, 24*time.Hour)
	broken, rest = segments.BrokenSegments(err)
	if rest != nil || len(broken) != 1 || broken[0].SegmentID != vips.ID {
		t.Fatalf("RefreshStale: %v; want only segment %d reported broken", err, vips.ID)
	}
	if n != 2 {
		t.Errorf("RefreshStale refreshed %d segments, want 2", n)
	}
	checkSegment(t, svc, romans.ID, "amy")
	checkSegment(t, svc, vips.ID, "amy cat")

	// Editing the definition mends the segment.
	if _, err := svc.Update(ctx, vips.ID, segments.Input{Definition: []byte(`{"field":"city","op":"eq","value":"Rome"}`)}); err != nil {
		t.Fatal(err)
	}
	checkSegment(t, svc, vips.ID, "amy")
	if err := svc.ContactsChanged(ctx, []int64{w.id(t, "amy")}, []string{"city"}); err != nil {
		t.Errorf("ContactsChanged after the edit: %v", err)
	}
}

// TestBrokenSegmentsKeepsOtherFailures checks that BrokenSegments tells
// the skipped segments from failures worth a retry, however joined or
// wrapped.
func TestBrokenSegmentsKeepsOtherFailures(t *testing.T) {
	w := newWorld(t, fixedClock(now), clubFields, clubPeople)
	svc := segments.NewService(w.g, w.store, fixedClock(now), nil)
	ctx := context.Background()
	seg := createSegment(t, svc, "VIPs", `{"field":"attr.vip","op":"eq","value":true}`)
	if err := w.store.DeleteField(ctx, fieldID(t, w, "vip")); err != nil {
		t.Fatal(err)
	}
	_, defErr := svc.Refresh(ctx, seg.ID)
	other := errors.New("segments: refresh 7: connection reset")
	for _, tc := range []struct {
		name       string
		err        error
		broken     int
		restIs     error
		restIsNone bool
	}{
		{name: "nil", err: nil, restIsNone: true},
		{name: "a broken segment", err: defErr, broken: 1, restIsNone: true},
		{name: "another failure", err: other, restIs: other},
		{name: "both joined", err: errors.Join(defErr, other), broken: 1, restIs: other},
		{name: "joined twice", err: errors.Join(errors.Join(defErr, defErr), other), broken: 2, restIs: other},
	} {
		t.Run(tc.name, func(t *testing.T) {
			broken, rest := segments.BrokenSegments(tc.err)
			if len(broken) != tc.broken {
				t.Errorf("%d broken, want %d", len(broken), tc.broken)
			}
			if tc.restIsNone != (rest == nil) || (tc.restIs != nil && !errors.Is(rest, tc.restIs)) {
				t.Errorf("rest %v, want %v", rest, tc.restIs)
			}
		})
	}
}
