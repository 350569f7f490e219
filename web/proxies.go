package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"
)

// ParseTrustedProxies reads HERALD_TRUSTED_PROXIES: CIDR ranges or single
// addresses, separated by commas. Empty trusts no proxy.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("web: %q is not an address or CIDR range such as 10.0.0.0/8", f)
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("web: %q is not a CIDR range such as 10.0.0.0/8", f)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the address of the client that made the request: the
// peer's, unless the peer is a trusted proxy (HERALD_TRUSTED_PROXIES), in
// which case X-Forwarded-For is read from the right, past the trusted
// proxies, to the first address none of them is. Whatever lies left of
// that was written by the client and is never believed. With no trusted
// proxies the header is ignored. The address is classified or counted,
// never stored.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := ap.Addr().Unmap()
	if len(s.cfg.TrustedProxies) == 0 || !s.trusted(addr) {
		return addr
	}
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		hops := strings.Split(xff[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(hops[j]))
			if err != nil {
				// A trusted proxy wrote garbage: the last address known
				// for sure is that proxy's.
				return addr
			}
			addr = hop.Unmap()
			if !s.trusted(addr) {
				return addr
			}
		}
	}
	return addr
}

// metricsHandler serves /metrics when a token is set (as a bearer token)
// or on its own listen address; on the public address without a token
// it does not exist, since the counts describe the business.
func (s *Server) metricsHandler(c *gin.Context) {
	if s.cfg.MetricsSeparate || s.cfg.MetricsToken == "" {
		c.String(http.StatusNotFound, "Not found")
		return
	}
	s.serveMetrics(c.Writer, c.Request)
}

// MetricsHandler is /metrics for a listen address of its own
// (HERALD_METRICS_ADDR); with a token set it asks for it there too.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", s.serveMetrics)
	return mux
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if s.cfg.MetricsToken != "" {
		got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		a, b := sha256.Sum256([]byte(strings.TrimSpace(got))), sha256.Sum256([]byte(s.cfg.MetricsToken))
		if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="herald metrics"`)
			http.Error(w, "This needs the metrics token (HERALD_METRICS_TOKEN) as a bearer token.", http.StatusUnauthorized)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	s.tstats.flush(s.d.Metrics)
	s.d.Metrics.Write(w)
}
