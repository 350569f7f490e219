package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"herald/internal/login"
	"herald/internal/testenv"
)

func TestLoginThrottleBelievesForwardedAddressesOnlyFromTrustedProxies(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureWith(t, func(c *Config) { c.TrustedProxies = trusted })
	opt, err := redis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	f.srv.d.Throttle = login.NewThrottle(rdb)

	attempt := func(peer, xff string) int {
		vals := url.Values{"email": {"admin@example.com"}, "password": {"guess"}}
		req := httptest.NewRequest("POST", "/login", strings.NewReader(vals.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = peer
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, req)
		return w.Code
	}
	for i := range loginPerAddress {
		if code := attempt("10.0.0.1:5000", "198.51.100.1"); code != http.StatusUnauthorized {
			t.Fatalf("attempt %d through the proxy: %d", i+1, code)
		}
	}
	if code := attempt("10.0.0.1:5000", "198.51.100.1"); code != http.StatusTooManyRequests {
		t.Fatalf("one attempt too many from the forwarded client: %d, want 429", code)
	}
	if code := attempt("10.0.0.1:5000", "198.51.100.2"); code != http.StatusUnauthorized {
		t.Fatalf("another client behind the same proxy: %d, want its own count", code)
	}
	// A peer that is no trusted proxy cannot escape its count by writing
	// a new X-Forwarded-For each time.
	for i := range loginPerAddress + 1 {
		code := attempt("203.0.113.7:5000", "192.0.2."+string(rune('a'+i)))
		if want := http.StatusUnauthorized; i == loginPerAddress {
			if code != http.StatusTooManyRequests {
				t.Fatalf("attempt %d from an untrusted peer with a forged header: %d, want 429", i+1, code)
			}
		} else if code != want {
			t.Fatalf("attempt %d from an untrusted peer: %d", i+1, code)
		}
	}
}

func TestParseTrustedProxiesNamesWhatItCannotRead(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		bad  bool
	}{
		{"", 0, false},
		{"10.0.0.0/8, 172.16.0.1 ,fd00::/8", 3, false},
		{"10.0.0.0/33", 0, true},
		{"proxy.internal", 0, true},
	} {
		got, err := ParseTrustedProxies(tc.in)
		if (err != nil) != tc.bad || len(got) != tc.want {
			t.Errorf("%q: %v, %v", tc.in, got, err)
		}
	}
}

func TestLoginSaysTryLaterWhenTheThrottleCannotCount(t *testing.T) {
	f := newFixture(t)
	// Nothing listens on port 1: every count fails, as with Redis down.
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	f.srv.d.Throttle = login.NewThrottle(rdb)
	vals := url.Values{"email": {"admin@example.com"}, "password": {"secret pw"}}
	w := f.do("POST", "/login", vals.Encode(), form(vals, nil))
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "not possible just now") || w.Header().Get("Set-Cookie") != "" {
		t.Fatalf("login with the throttle down: %d %q", w.Code, w.Header().Get("Set-Cookie"))
	}
}
