package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/redis/go-redis/v9"

	"herald/campaigns"
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
		{"closed with others", func(a *Attempts) error { return a.Close(ctx, "b", "c") }},
		{"dropped by the next claim's Open", func(a *Attempts) error {
			if err := a.Open(ctx, "d", "c"); err != nil {
				return err
			}
			if err := a.Commit(ctx, "d", 6, 0); err != nil {
				return fmt.Errorf("Commit on the claim just opened: %w", err)
			}
			return nil
		}},
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
