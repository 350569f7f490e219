package login

import (
	"context"
	"testing"
	"time"

	"herald/internal/testenv"
)

func TestSessionsLiveUntilEndedExpiredOrAllEnded(t *testing.T) {
	ctx := context.Background()
	g := testenv.DB(t, Migrate)
	clock := testenv.NewClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	s := NewSessions(g, time.Hour)
	s.now = clock.Now

	a, err := s.Start(ctx, "admin@example.com")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Start(ctx, "admin@example.com")
	check := func(token string) bool {
		t.Helper()
		_, ok, err := s.Check(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !check(a) || !check(b) || check("not a token") || check("") {
		t.Fatal("fresh sessions or a made-up token misjudged")
	}
	// Use keeps a session alive past its first hour.
	clock.Add(50 * time.Minute)
	if !check(a) {
		t.Fatal("a used session expired early")
	}
	clock.Add(50 * time.Minute)
	if !check(a) {
		t.Fatal("a session used 50 minutes ago expired")
	}
	if check(b) {
		t.Fatal("an unused session outlived its hour")
	}
	if err := s.End(ctx, a); err != nil || check(a) {
		t.Fatalf("ended session still valid (err %v)", err)
	}
	c, _ := s.Start(ctx, "admin@example.com")
	d, _ := s.Start(ctx, "admin@example.com")
	if err := s.EndAll(ctx); err != nil || check(c) || check(d) {
		t.Fatalf("sessions survive EndAll (err %v)", err)
	}
	var stored []Session
	g.Find(&stored)
	for _, st := range stored {
		if st.ID == c || st.ID == a {
			t.Fatal("a token is stored in clear")
		}
	}
}
