package web

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/testenv"
	"herald/segments"
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
	trusted, err := ParseTrustedProxies("127.0.0.1, 10.0.0.0/8, 192.168.0.0/16, ::ffff:172.16.0.0/112")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureWith(t, func(c *Config) { c.TrustedProxies = trusted })
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
		{"a private peer that is not a trusted proxy is not believed", "172.17.0.1:4000", []string{"17.1.2.3"}, tracking.NetOther},
		{"a loopback peer outside the trusted list is not believed", "127.0.0.2:4000", []string{"17.1.2.3"}, tracking.NetOther},
		{"a chain of trusted proxies is walked past", "10.0.0.5:4000", []string{"198.51.100.1, 17.1.2.3, 192.168.1.9"}, tracking.NetAppleProxy},
		{"a trusted range written IPv4-mapped", "172.16.3.4:4000", []string{"203.0.113.9"}, tracking.NetScanner},
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
	w := f.do("GET", "/metrics", "", map[string]string{"Authorization": "Bearer " + testMetricsToken})
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
	m := f.do("GET", "/metrics", "", map[string]string{"Authorization": "Bearer " + testMetricsToken})
	if !strings.Contains(m.Body.String(), `herald_tracking_hits_lost_total{kind="c"} 1`) {
		t.Errorf("the lost hit is not counted:\n%s", m.Body)
	}
}

// newTrackFixture is newFixture with its database, to add links directly
// and to close it as an outage would.
func newTrackFixture(t *testing.T) (*fixture, *gorm.DB) {
	t.Helper()
	g := testenv.DB(t, migrateAll)
	cs := contacts.NewStore(g, contacts.Options{})
	ss := segments.NewService(g, cs, nil, nil)
	signer, _ := tracking.NewSigner([]byte("web test secret, long enough"))
	camps := campaigns.NewService(g, cs, ss, nopQueue{}, signer, campaigns.Config{BaseURL: "https://h.example", Log: testenv.Logger()})
	h := &hits{}
	sum := sha256.Sum256([]byte(testKey))
	srv, err := New(Deps{Contacts: cs, Segments: ss, Campaigns: camps, Signer: signer, Hits: h, Log: testenv.Logger()},
		Config{APIKeySHA256: sum[:], AdminEmail: "admin@example.com", SessionKey: []byte("0123456789abcdef0123456789abcdef"), BaseURL: "https://h.example"})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, h: srv.Handler(), hits: h, signer: signer, contacts: cs, camps: camps}, g
}

// linkedCampaign makes a draft campaign with n links, /NAME/1 to /NAME/n.
func linkedCampaign(t *testing.T, f *fixture, g *gorm.DB, name string, n int) int64 {
	t.Helper()
	subj, html, from := "Hi", "<p>hi</p>", "x@shop.example.com"
	c, err := f.camps.Create(context.Background(), campaigns.Input{Name: &name, Subject: &subj, HTMLBody: &html, FromEmail: &from})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if err := g.Create(&campaigns.Link{CampaignID: c.ID, Idx: i, URL: linkURL(name, i)}).Error; err != nil {
			t.Fatal(err)
		}
	}
	return c.ID
}

func linkURL(name string, i int) string {
	return fmt.Sprintf("https://shop.example.com/%s/%d", name, i)
}

// click requests a click on link idx of a campaign and returns the status
// and where it redirects.
func (f *fixture) click(campaignID, idx int64) (int, string) {
	tok := f.signer.Sign(tracking.Token{Kind: tracking.Click, CampaignID: campaignID, ContactID: 1, LinkID: idx})
	w := f.do("GET", "/t/c/"+tok, "", map[string]string{"User-Agent": "Mozilla/5.0"})
	return w.Code, w.Header().Get("Location")
}

func closeDB(t *testing.T, g *gorm.DB) {
	t.Helper()
	sqlDB, err := g.DB()
	if err != nil {
		t.Fatal(err)
	}
	sqlDB.Close()
}

func TestAClickCachesEveryLinkOfItsCampaignAndRedirectsWhileTheDatabaseIsDown(t *testing.T) {
	f, g := newTrackFixture(t)
	// A still clock: the cached campaign stays fresh however slow the test.
	fixed := time.Now()
	f.srv.links.now = func() time.Time { return fixed }
	shop := linkedCampaign(t, f, g, "shop", 3)
	other := linkedCampaign(t, f, g, "other", 1)
	if code, loc := f.click(shop, 1); code != 302 || loc != linkURL("shop", 1) {
		t.Fatalf("first click: %d to %q", code, loc)
	}
	closeDB(t, g)
	for _, tc := range []struct {
		name     string
		campaign int64
		link     int64
		code     int
		location string
	}{
		{"the clicked link", shop, 1, 302, linkURL("shop", 1)},
		{"another link of the campaign, never clicked", shop, 2, 302, linkURL("shop", 2)},
		{"its last link", shop, 3, 302, linkURL("shop", 3)},
		{"a link the campaign does not have", shop, 4, 404, ""},
		{"a campaign not cached yet", other, 1, 503, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.hits.got)
			code, loc := f.click(tc.campaign, tc.link)
			if code != tc.code || loc != tc.location {
				t.Fatalf("%d to %q, want %d to %q", code, loc, tc.code, tc.location)
			}
			// A signed click is kept even when it cannot be redirected now.
			if wantHit := tc.code != 404; (len(f.hits.got) == before+1) != wantHit {
				t.Errorf("%d hits recorded, want a hit: %v", len(f.hits.got)-before, wantHit)
			}
		})
	}
}

func TestTheLinkCacheEvictsTheCampaignUsedLeastRecently(t *testing.T) {
	f, g := newTrackFixture(t)
	f.srv.links = newLinkCache(4, campaignLinkLoader(f.camps))
	a := linkedCampaign(t, f, g, "a", 2)
	b := linkedCampaign(t, f, g, "b", 2)
	c := linkedCampaign(t, f, g, "c", 2)
	// a and b fill the cache; a is used again; c's load must evict b.
	for _, k := range []struct{ campaign, link int64 }{{a, 1}, {b, 1}, {a, 2}, {c, 1}} {
		if code, _ := f.click(k.campaign, k.link); code != 302 {
			t.Fatalf("click %v: %d", k, code)
		}
	}
	closeDB(t, g)
	for _, tc := range []struct {
		name     string
		campaign int64
		link     int64
		code     int
	}{
		{"a, used most recently before c", a, 1, 302},
		{"a's other link", a, 2, 302},
		{"c, loaded last", c, 1, 302},
		{"c's other link", c, 2, 302},
		{"b, evicted", b, 1, 503},
		{"b's other link, evicted too", b, 2, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, _ := f.click(tc.campaign, tc.link); code != tc.code {
				t.Errorf("%d, want %d", code, tc.code)
			}
		})
	}
}

func TestConcurrentFirstClicksOfACampaignShareOneQuery(t *testing.T) {
	f, g := newTrackFixture(t)
	id := linkedCampaign(t, f, g, "busy", 3)
	var loads atomic.Int32
	release := make(chan struct{})
	real := campaignLinkLoader(f.camps)
	f.srv.links = newLinkCache(100, func(ctx context.Context, campaignID int64) (map[int64]string, error) {
		loads.Add(1)
		<-release
		return real(ctx, campaignID)
	})
	const clicks = 20
	codes := make(chan int, clicks)
	var started sync.WaitGroup
	for i := range clicks {
		started.Add(1)
		go func() {
			started.Done()
			code, _ := f.click(id, int64(1+i%3))
			codes <- code
		}()
	}
	started.Wait()
	// Let every request reach the cache before the query answers.
	deadline := time.Now().Add(5 * time.Second)
	for loads.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	for range clicks {
		if code := <-codes; code != 302 {
			t.Errorf("a click answered %d", code)
		}
	}
	if n := loads.Load(); n != 1 {
		t.Errorf("%d queries for one campaign's links, want 1", n)
	}
}

func TestTheLinkCacheFollowsLinksThatChange(t *testing.T) {
	f, g := newTrackFixture(t)
	now := time.Now()
	var clockMu sync.Mutex
	f.srv.links.now = func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	advance := func(d time.Duration) { clockMu.Lock(); now = now.Add(d); clockMu.Unlock() }
	id := linkedCampaign(t, f, g, "flow", 1)
	if code, _ := f.click(id, 1); code != 302 {
		t.Fatal(code)
	}
	// An automation step edited: a link added, the first one changed.
	if err := g.Create(&campaigns.Link{CampaignID: id, Idx: 2, URL: linkURL("flow", 2)}).Error; err != nil {
		t.Fatal(err)
	}
	if err := g.Model(&campaigns.Link{}).Where("campaign_id = ? AND idx = 1", id).Update("url", "https://shop.example.com/new").Error; err != nil {
		t.Fatal(err)
	}
	if code, _ := f.click(id, 2); code != 404 {
		t.Errorf("a new link right after the load: %d, want 404 (not looked up again at once)", code)
	}
	advance(2 * retryMissing)
	if code, loc := f.click(id, 2); code != 302 || loc != linkURL("flow", 2) {
		t.Errorf("a new link a while later: %d to %q", code, loc)
	}
	advance(2 * refreshAfter)
	// The old entry answers while it is reloaded in the background.
	if code, loc := f.click(id, 1); code != 302 || (loc != linkURL("flow", 1) && loc != "https://shop.example.com/new") {
		t.Fatalf("an old entry: %d to %q", code, loc)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, loc := f.click(id, 1); loc == "https://shop.example.com/new" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the changed link was never reloaded")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
