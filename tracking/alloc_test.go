//go:build !race

// The race detector makes sync.Pool drop items at random, so allocation
// counts only hold without it.

package tracking

import (
	"testing"
	"time"
)

func TestTheRequestPathDoesNotAllocate(t *testing.T) {
	s := newSigner(t, "0123456789abcdef0123456789abcdef")
	text := s.Sign(Token{Kind: Click, CampaignID: 12, ContactID: 3456789, LinkID: 3})
	s.Verify(text, Click) // fill the pool
	if n := testing.AllocsPerRun(100, func() {
		if _, err := s.Verify(text, Click); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Verify allocates %.0f times per call", n)
	}
	h := Hit{Kind: Click, CampaignID: 12, ContactID: 3456789, LinkID: 3, At: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), UserAgent: chromeUA, Method: "GET", Net: NetAppleProxy}
	buf := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { buf = h.appendJSON(buf[:0]) }); n != 0 {
		t.Errorf("encoding a hit allocates %.0f times", n)
	}
}
