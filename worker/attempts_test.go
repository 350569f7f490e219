package worker

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/redis/go-redis/v9"

	"herald/campaigns"
	"herald/internal/smtptest"
	"herald/internal/testenv"
)

func newAttempts(t *testing.T) *Attempts {
	t.Helper()
	opt, err := redis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	return NewAttempts(rdb)
}

func TestAttemptsRecordWhatAClaimCommittedAndWhatWasAccepted(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name          string
		commits       [][2]int64 // (id, accepted) per Commit
		wantCommitted []int64
		wantAccepted  []int64
	}{
		{"nothing committed", nil, nil, nil},
		{"first message in flight", [][2]int64{{11, 0}}, []int64{11}, nil},
		{"each commit carries the previous acceptance", [][2]int64{{11, 0}, {12, 11}, {13, 12}}, []int64{13}, []int64{11, 12}},
		{"a refused message is not accepted", [][2]int64{{11, 0}, {12, 0}, {13, 12}}, []int64{11, 13}, []int64{12}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAttempts(t)
			if err := a.Open(ctx, "claim1"); err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.commits {
				if err := a.Commit(ctx, "claim1", c[0], c[1]); err != nil {
					t.Fatal(err)
				}
			}
			committed, accepted, found, err := a.Revoke(ctx, "claim1")
			if err != nil || !found {
				t.Fatalf("Revoke: found %v, %v", found, err)
			}
			slices.Sort(committed)
			slices.Sort(accepted)
			if !slices.Equal(committed, tc.wantCommitted) || !slices.Equal(accepted, tc.wantAccepted) {
				t.Errorf("committed %v, accepted %v; want %v, %v", committed, accepted, tc.wantCommitted, tc.wantAccepted)
			}
		})
	}
}

func TestAttemptsRefuseCommitsOnceRevokedClosedOrLost(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		end  func(a *Attempts) error
	}{
		{"revoked by the sweep", func(a *Attempts) error { _, _, _, err := a.Revoke(ctx, "c"); return err }},
		{"closed", func(a *Attempts) error { return a.Close(ctx, "c") }},
		{"lost with Redis's data", func(a *Attempts) error { return a.rdb.FlushDB(ctx).Err() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAttempts(t)
			if err := a.Open(ctx, "c"); err != nil {
				t.Fatal(err)
			}
			if err := tc.end(a); err != nil {
				t.Fatal(err)
			}
			if err := a.Commit(ctx, "c", 5, 0); !errors.Is(err, campaigns.ErrClaimRevoked) {
				t.Errorf("Commit after the record ended: %v, want ErrClaimRevoked", err)
			}
		})
	}
	t.Run("no record at all is not found", func(t *testing.T) {
		a := newAttempts(t)
		if _, _, found, err := a.Revoke(ctx, "never-opened"); err != nil || found {
			t.Errorf("Revoke of a claim never opened: found %v, %v", found, err)
		}
	})
}

// A message whose Commit fails is not completed: the server sees the
// transaction dropped before the end of its data and accepts nothing.
func TestMailerDoesNotCompleteAMessageWhoseCommitFails(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	m := newMailer(t, MailerConfig{PoolSize: 1}, srv.URL())
	ctx := context.Background()

	committed := 0
	ok := message(1, "a@example.test")
	ok.Commit = func() error { committed++; return nil }
	if err := m.Send(ctx, ok); err != nil {
		t.Fatal(err)
	}
	refused := message(2, "b@example.test")
	refused.Commit = func() error { return campaigns.ErrClaimRevoked }
	if err := m.Send(ctx, refused); !errors.Is(err, campaigns.ErrClaimRevoked) {
		t.Fatalf("Send with a failing Commit: %v, want ErrClaimRevoked", err)
	}
	// The connection was dropped mid-DATA; the next message goes on a new one.
	if err := m.Send(ctx, message(3, "c@example.test")); err != nil {
		t.Fatal(err)
	}
	if committed != 1 {
		t.Errorf("Commit called %d times, want 1", committed)
	}
	for rcpt, want := range map[string]int{"a@example.test": 1, "b@example.test": 0, "c@example.test": 1} {
		if got := srv.CountFor(rcpt); got != want {
			t.Errorf("%s: the server accepted %d messages, want %d", rcpt, got, want)
		}
	}
}
