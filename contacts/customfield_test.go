package contacts_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"herald/contacts"
	"herald/internal/errs"
)

// usersOf is a contacts.FieldUsers over a fixed table of field name to
// users, or failing with err.
type usersOf struct {
	by  map[string][]string
	err error
}

func (u usersOf) UsingField(_ context.Context, name string) ([]string, error) {
	return u.by[name], u.err
}

// TestDeleteFieldInUseIsAConflict checks that a field that anything still
// reads stays, with a conflict that names every reader (up to ten, then
// how many more), and that a field nothing reads goes.
func TestDeleteFieldInUseIsAConflict(t *testing.T) {
	ctx := context.Background()
	var many []string
	for i := 1; i <= 12; i++ {
		many = append(many, fmt.Sprintf("segment %d", i))
	}
	segmentsUse := usersOf{by: map[string][]string{"vip": {`segment 3 "VIPs"`}, "points": many}}
	flowsUse := usersOf{by: map[string][]string{"vip": {`automation 2 "Welcome"`}}}
	for _, tc := range []struct {
		name     string
		field    string
		users    []contacts.FieldUsers
		want     error
		contains []string
		lacks    []string
	}{
		{name: "used by a segment", field: "vip", users: []contacts.FieldUsers{segmentsUse}, want: errs.ErrConflict,
			contains: []string{"custom field vip", `segment 3 "VIPs"`}},
		{name: "used by two kinds of users", field: "vip", users: []contacts.FieldUsers{segmentsUse, flowsUse}, want: errs.ErrConflict,
			contains: []string{`segment 3 "VIPs"`, `automation 2 "Welcome"`}},
		{name: "used by many", field: "points", users: []contacts.FieldUsers{segmentsUse}, want: errs.ErrConflict,
			contains: []string{"segment 1,", "segment 10 and 2 more"}, lacks: []string{"segment 11"}},
		{name: "the users cannot be asked", field: "vip", users: []contacts.FieldUsers{usersOf{err: errors.New("connection reset")}}},
		{name: "an unknown field", field: "nope", users: []contacts.FieldUsers{segmentsUse}, want: errs.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t, contacts.Options{})
			ids := map[string]int64{"nope": 999}
			for _, n := range []string{"vip", "points", "plan"} {
				f, err := s.CreateField(ctx, n, contacts.FieldText)
				if err != nil {
					t.Fatal(err)
				}
				ids[n] = f.ID
			}
			err := s.DeleteField(ctx, ids[tc.field], tc.users...)
			if err == nil {
				t.Fatalf("DeleteField(%s) deleted it", tc.field)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("DeleteField(%s): %v, want %v", tc.field, err, tc.want)
			}
			if tc.want == nil && (errors.Is(err, errs.ErrConflict) || errors.Is(err, errs.ErrNotFound)) {
				t.Fatalf("DeleteField(%s): %v, want an internal error", tc.field, err)
			}
			msg := errs.Message(err)
			for _, want := range tc.contains {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
			for _, lack := range tc.lacks {
				if strings.Contains(msg, lack) {
					t.Errorf("message %q has %q", msg, lack)
				}
			}
			fs, err := s.Fields(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) != 3 {
				t.Errorf("%d fields left, want all 3", len(fs))
			}
		})
	}

	s, _ := newStore(t, contacts.Options{})
	f, err := s.CreateField(ctx, "plan", contacts.FieldText)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteField(ctx, f.ID, segmentsUse, flowsUse); err != nil {
		t.Fatalf("deleting a field nothing uses: %v", err)
	}
	if fs, _ := s.ListFields(ctx); len(fs) != 0 {
		t.Errorf("fields after the delete: %+v", fs)
	}
}
