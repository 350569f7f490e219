package web

import (
	"net/netip"
	"sync"
	"time"
)

// Limits of the public web view. A person reads a message a few times;
// these leave room for a family sharing a link and a shared office
// address, and stop one holder of a link from spending the server's CPU.
// The limits are per process, as the CPU they protect is.
const (
	viewWindow        = time.Minute
	viewPerToken      = 30
	viewPerAddress    = 120
	viewLimiterMaxKey = 100_000
)

// windowLimiter counts requests per key in fixed windows. It keeps at
// most maxKeys keys: when full, windows that have ended are dropped, and
// if none have, the oldest counts are forgotten rather than memory grown.
type windowLimiter struct {
	mu      sync.Mutex
	window  time.Duration
	maxKeys int
	now     func() time.Time
	counts  map[string]*windowCount
}

type windowCount struct {
	start time.Time
	n     int
}

func newWindowLimiter(window time.Duration, maxKeys int) *windowLimiter {
	return &windowLimiter{window: window, maxKeys: maxKeys, now: time.Now, counts: map[string]*windowCount{}}
}

// allow counts one request for key and reports whether it is within limit,
// and if not, how long until the window ends.
func (l *windowLimiter) allow(key string, limit int) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	wc, ok := l.counts[key]
	if !ok || now.Sub(wc.start) >= l.window {
		if !ok && len(l.counts) >= l.maxKeys {
			l.prune(now)
		}
		wc = &windowCount{start: now}
		l.counts[key] = wc
	}
	if wc.n >= limit {
		return false, wc.start.Add(l.window).Sub(now)
	}
	wc.n++
	return true, 0
}

func (l *windowLimiter) prune(now time.Time) {
	for k, wc := range l.counts {
		if now.Sub(wc.start) >= l.window {
			delete(l.counts, k)
		}
	}
	if len(l.counts) >= l.maxKeys {
		clear(l.counts)
	}
}

// addrKey is the limiter's key for a client address: an IPv6 client
// holds a whole /64, so that is what is counted.
func addrKey(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return "a:" + p.String()
	}
	return "a:" + a.String()
}
