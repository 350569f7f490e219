package contacts_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"gorm.io/gorm"

	"herald/contacts"
	"herald/internal/errs"
	"herald/internal/testenv"
)

// newStore opens a fresh database (SQLite, or a PostgreSQL schema when
// HERALD_TEST_DATABASE_URL is set) with the contacts tables.
func newStore(t *testing.T, opts contacts.Options) (*contacts.Store, *gorm.DB) {
	t.Helper()
	g := testenv.DB(t, contacts.Migrate)
	return contacts.NewStore(g, opts), g
}

func ptr[T any](v T) *T { return &v }

// mustUpsert creates or updates a contact and fails the test on error.
func mustUpsert(t *testing.T, s *contacts.Store, in contacts.Input) contacts.Contact {
	t.Helper()
	c, _, err := s.Upsert(context.Background(), in)
	if err != nil {
		t.Fatalf("Upsert(%v): %v", deref(in.Email), err)
	}
	return c
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// wantInvalid asserts that err is an *errs.InvalidError about path.
func wantInvalid(t *testing.T, err error, path string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want an invalid %q", path)
	}
	var ie *errs.InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("got %T %v, want an *errs.InvalidError about %q", err, err, path)
	}
	if ie.Path != path {
		t.Fatalf("got an invalid %q (%v), want one about %q", ie.Path, err, path)
	}
}

// day is a fixed moment well in the past, on a whole second, so that every
// engine stores and returns it exactly.
var day = time.Date(2025, 3, 10, 9, 30, 0, 0, time.UTC)

func sameTimePtr(got *time.Time, want time.Time) bool {
	return got != nil && got.Equal(want)
}

func fmtTime(p *time.Time) string {
	if p == nil {
		return "<nil>"
	}
	return p.UTC().Format(time.RFC3339Nano)
}
