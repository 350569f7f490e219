package web

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"herald/tracking"
)

func TestTrackingAnswersCarryTheSecurityAndCacheHeaders(t *testing.T) {
	f := newFixture(t)
	c, ct := f.sentCampaign(t)
	open := f.signer.Sign(tracking.Token{Kind: tracking.Open, CampaignID: c.ID, ContactID: ct.ID})
	click := f.signer.Sign(tracking.Token{Kind: tracking.Click, CampaignID: c.ID, ContactID: ct.ID, LinkID: 2})
	for _, tc := range []struct {
		name, method, path string
		code               int
		contentType        string
		body               string
		noStore            bool
	}{
		{"open pixel", "GET", "/t/o/" + open + ".gif", 200, "image/gif", string(transparentGIF), true},
		{"open pixel without .gif", "GET", "/t/o/" + open, 200, "image/gif", string(transparentGIF), true},
		{"open pixel by HEAD", "HEAD", "/t/o/" + open, 200, "image/gif", "", true},
		{"click", "GET", "/t/c/" + click, 302, "", "", true},
		{"click by HEAD", "HEAD", "/t/c/" + click, 302, "", "", true},
		{"invalid click", "GET", "/t/c/" + click + "x", 404, "text/plain; charset=utf-8", "This link is not valid.", false},
		{"invalid open", "GET", "/t/o/nope", 404, "", "", false},
		{"a token with a slash", "GET", "/t/c/" + click + "/more", 404, "text/plain; charset=utf-8", "Not found", false},
		{"no token", "GET", "/t/c/", 404, "text/plain; charset=utf-8", "Not found", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do(tc.method, tc.path, "", map[string]string{"User-Agent": "Mozilla/5.0 (X11)"})
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d", w.Code, tc.code)
			}
			h := w.Header()
			if h.Get("Content-Type") != tc.contentType {
				t.Errorf("Content-Type %q, want %q", h.Get("Content-Type"), tc.contentType)
			}
			if w.Body.String() != tc.body {
				t.Errorf("body %q, want %q", w.Body, tc.body)
			}
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Frame-Options") != "SAMEORIGIN" {
				t.Errorf("security headers missing: %v", h)
			}
			if got := strings.HasPrefix(h.Get("Cache-Control"), "no-store"); got != tc.noStore {
				t.Errorf("Cache-Control %q, want no-store=%v", h.Get("Cache-Control"), tc.noStore)
			}
			if tc.code == 302 && h.Get("Location") != "https://shop.example.com/b" {
				t.Errorf("Location %q", h.Get("Location"))
			}
		})
	}
}

func TestTrackingHitsCarryTheNetworkClassNotTheAddress(t *testing.T) {
	f := newFixture(t)
	nets, err := tracking.NewNetworks(tracking.DefaultAppleNetworks, "203.0.113.0/24")
	if err != nil {
		t.Fatal(err)
	}
	f.srv.d.Networks = nets
	c, ct := f.sentCampaign(t)
	open := "/t/o/" + f.signer.Sign(tracking.Token{Kind: tracking.Open, CampaignID: c.ID, ContactID: ct.ID})
	for _, tc := range []struct {
		name   string
		remote string
		xff    []string
		want   tracking.NetClass
	}{
		{"Apple's proxy, directly", "17.58.100.3:4431", nil, tracking.NetAppleProxy},
		{"Apple's proxy over IPv6-mapped IPv4", "[::ffff:17.58.100.3]:4431", nil, tracking.NetAppleProxy},
		{"a scanner, directly", "203.0.113.40:5000", nil, tracking.NetScanner},
		{"a person, directly", "198.51.100.20:5000", nil, tracking.NetOther},
		{"Apple's proxy behind a local reverse proxy", "127.0.0.1:4000", []string{"17.1.2.3"}, tracking.NetAppleProxy},
		{"the proxy's address is the last one", "10.0.0.5:4000", []string{"198.51.100.1, 17.1.2.3"}, tracking.NetAppleProxy},
		{"a client's forged address on the left is ignored", "10.0.0.5:4000", []string{"17.1.2.3, 198.51.100.20"}, tracking.NetOther},
		{"several header lines: the last counts", "192.168.1.2:4000", []string{"17.1.2.3", "203.0.113.9"}, tracking.NetScanner},
		{"a public peer's X-Forwarded-For is not believed", "198.51.100.20:5000", []string{"17.1.2.3"}, tracking.NetOther},
		{"an unparsable forwarded address", "127.0.0.1:4000", []string{"unknown"}, tracking.NetOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", open, nil)
			req.RemoteAddr = tc.remote
			req.Header.Set("User-Agent", "Mozilla/5.0")
			for _, v := range tc.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			before := len(f.hits.got)
			w := httptest.NewRecorder()
			f.h.ServeHTTP(w, req)
			if w.Code != 200 || len(f.hits.got) != before+1 {
				t.Fatalf("status %d, %d hits", w.Code, len(f.hits.got)-before)
			}
			if got := f.hits.got[before].Net; got != tc.want {
				t.Errorf("network class %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTrackingRequestsAreCountedInMetrics(t *testing.T) {
	f := newFixture(t)
	c, ct := f.sentCampaign(t)
	click := "/t/c/" + f.signer.Sign(tracking.Token{Kind: tracking.Click, CampaignID: c.ID, ContactID: ct.ID, LinkID: 1})
	open := "/t/o/" + f.signer.Sign(tracking.Token{Kind: tracking.Open, CampaignID: c.ID, ContactID: ct.ID}) + ".gif"
	for _, p := range []string{click, click, click, open, "/t/c/forged", open} {
		f.do("GET", p, "", map[string]string{"User-Agent": "Mozilla/5.0 (X11)"})
	}
	w := f.do("GET", "/metrics", "", nil)
	for _, line := range []string{
		`herald_http_requests_total{code="302",route="/t/c/:token"} 3`,
		`herald_http_requests_total{code="404",route="/t/c/:token"} 1`,
		`herald_http_requests_total{code="200",route="/t/o/:token"} 2`,
		`herald_http_request_seconds_count{route="/t/c/:token"} 4`,
		`herald_tracking_hits_total{kind="c"} 3`,
		`herald_tracking_hits_total{kind="o"} 2`,
	} {
		if !strings.Contains(w.Body.String(), line+"\n") {
			t.Errorf("metrics lack %s:\n%s", line, w.Body)
		}
	}
}

// failingHits refuses every hit, as Redis does when it is down.
type failingHits struct{}

func (failingHits) Add(context.Context, tracking.Hit) error { return errors.New("redis is down") }

func TestATrackingHitThatCannotBeStoredStillRedirects(t *testing.T) {
	f := newFixture(t)
	f.srv.d.Hits = failingHits{}
	c, ct := f.sentCampaign(t)
	w := f.do("GET", "/t/c/"+f.signer.Sign(tracking.Token{Kind: tracking.Click, CampaignID: c.ID, ContactID: ct.ID, LinkID: 1}), "", nil)
	if w.Code != 302 || w.Header().Get("Location") != "https://shop.example.com/a" {
		t.Fatalf("%d to %q; the recipient must still get where they were going", w.Code, w.Header().Get("Location"))
	}
	m := f.do("GET", "/metrics", "", nil)
	if !strings.Contains(m.Body.String(), `herald_tracking_hits_lost_total{kind="c"} 1`) {
		t.Errorf("the lost hit is not counted:\n%s", m.Body)
	}
}
