package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"herald/tracking"
)

func TestWebViewIsLimitedPerTokenAndPerAddress(t *testing.T) {
	f := newFixture(t)
	c, ct := f.sentCampaign(t)
	view := func(token, remote string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/v/"+token, nil)
		req.RemoteAddr = remote
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, req)
		return w
	}
	real := f.signer.Sign(tracking.Token{Kind: tracking.View, CampaignID: c.ID, ContactID: ct.ID})

	// Valid tokens of campaigns that are gone cost a lookup each: they
	// count against the address too.
	for i := range viewPerAddress {
		gone := f.signer.Sign(tracking.Token{Kind: tracking.View, CampaignID: c.ID + 1000 + int64(i), ContactID: ct.ID})
		if w := view(gone, "198.51.100.7:4000"); w.Code != http.StatusNotFound {
			t.Fatalf("request %d: %d", i+1, w.Code)
		}
	}
	w := view(real, "198.51.100.7:4000")
	retry, _ := strconv.Atoi(w.Header().Get("Retry-After"))
	if w.Code != http.StatusTooManyRequests || retry < 1 || retry > 61 {
		t.Fatalf("one request over the address's limit: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	for i := range viewPerToken {
		if w := view(real, fmt.Sprintf("203.0.113.%d:4000", i%3+1)); w.Code != http.StatusOK {
			t.Fatalf("view %d of the token from other addresses: %d", i+1, w.Code)
		}
	}
	if w := view(real, "192.0.2.50:4000"); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("one view over the token's limit from a new address: %d", w.Code)
	}
}

func TestWindowLimiterStartsAgainAfterItsWindowAndStaysBounded(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	l := newWindowLimiter(time.Minute, 3)
	l.now = func() time.Time { return now }
	for i := range 2 {
		if ok, _ := l.allow("a", 2); !ok {
			t.Fatalf("request %d refused", i+1)
		}
	}
	if ok, retry := l.allow("a", 2); ok || retry != time.Minute {
		t.Fatalf("third request: %v, retry %v", ok, retry)
	}
	now = now.Add(time.Minute)
	if ok, _ := l.allow("a", 2); !ok {
		t.Fatal("refused in a new window")
	}
	for _, k := range []string{"b", "c", "d", "e"} {
		l.allow(k, 2)
	}
	if len(l.counts) > 3 {
		t.Fatalf("%d keys kept, at most 3", len(l.counts))
	}
}

func TestIPv6ClientsAreCountedByTheir64(t *testing.T) {
	a, b := netip.MustParseAddr("2001:db8:1:2::1"), netip.MustParseAddr("2001:db8:1:2:ffff::9")
	if addrKey(a) != addrKey(b) || addrKey(a) == addrKey(netip.MustParseAddr("2001:db8:1:3::1")) {
		t.Fatal("addresses of one /64 must share a key, and only they")
	}
}
