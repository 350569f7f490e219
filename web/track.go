package web

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/errs"
	"herald/internal/metrics"
	"herald/tracking"
)

// transparentGIF is the 1x1 open pixel.
var transparentGIF = []byte{
	0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
}

func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store, no-cache, must-revalidate, private, max-age=0")
	c.Header("Pragma", "no-cache")
	c.Header("Expires", "0")
}

// The tracking endpoints answer every image and link in every message
// sent, so they are served before gin's router and middleware: the work
// per request is verifying the token, finding the link (cached) and one
// share of a Redis write; metrics are counted in atomics and handed to the
// registry in bulk. Every other path goes to gin.

// serveHTTP is the site's handler.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if len(p) > 5 && p[0] == '/' && p[1] == 't' && p[2] == '/' && p[4] == '/' && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		if tok := p[5:]; strings.IndexByte(tok, '/') < 0 {
			switch p[3] {
			case 'o':
				s.serveOpen(w, r, tok)
				return
			case 'c':
				s.serveClick(w, r, tok)
				return
			}
		}
	}
	s.engine.ServeHTTP(w, r)
}

// Header values shared by every tracking answer; the capacity of each is
// its length, so that an append elsewhere copies instead of writing into
// the shared array.
var (
	hdrNoStore     = []string{"no-store, no-cache, must-revalidate, private, max-age=0"}[:1:1]
	hdrNoCache     = []string{"no-cache"}[:1:1]
	hdrZero        = []string{"0"}[:1:1]
	hdrNosniff     = []string{"nosniff"}[:1:1]
	hdrNoReferrer  = []string{"no-referrer"}[:1:1]
	hdrSameOrigin  = []string{"SAMEORIGIN"}[:1:1]
	hdrGIF         = []string{"image/gif"}[:1:1]
	hdrGIFLength   = []string{"43"}[:1:1]
	hdrTextPlain   = []string{"text/plain; charset=utf-8"}[:1:1]
	msgInvalidLink = []byte("This link is not valid.")
	msgTryLater    = []byte("Please try again in a moment.")
)

// trackHeaders sets what securityHeaders and noStore set on gin's routes.
func trackHeaders(h http.Header, cache bool) {
	h["X-Content-Type-Options"] = hdrNosniff
	h["Referrer-Policy"] = hdrNoReferrer
	h["X-Frame-Options"] = hdrSameOrigin
	if cache {
		h["Cache-Control"] = hdrNoStore
		h["Pragma"] = hdrNoCache
		h["Expires"] = hdrZero
	}
}

func (s *Server) serveOpen(w http.ResponseWriter, r *http.Request, token string) {
	start := time.Now()
	defer s.recoverTracking(w)
	h := w.Header()
	tok, err := s.d.Signer.Verify(strings.TrimSuffix(token, ".gif"), tracking.Open)
	if err != nil {
		trackHeaders(h, false)
		w.WriteHeader(http.StatusNotFound)
		s.tstats.done(s, routeOpen, codeNotFound, start)
		return
	}
	s.record(r, tracking.Hit{Kind: tracking.Open, CampaignID: tok.CampaignID, ContactID: tok.ContactID, At: start})
	trackHeaders(h, true)
	h["Content-Type"] = hdrGIF
	h["Content-Length"] = hdrGIFLength
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(transparentGIF)
	}
	s.tstats.done(s, routeOpen, codeOK, start)
}

// serveClick redirects only to a URL stored for that campaign's link, so a
// token can never send anyone elsewhere.
func (s *Server) serveClick(w http.ResponseWriter, r *http.Request, token string) {
	start := time.Now()
	defer s.recoverTracking(w)
	h := w.Header()
	tok, err := s.d.Signer.Verify(token, tracking.Click)
	if err != nil {
		s.invalidLink(w, start)
		return
	}
	url, err := s.links.url(r.Context(), tok.CampaignID, tok.LinkID)
	if errors.Is(err, errs.ErrNotFound) {
		s.invalidLink(w, start)
		return
	}
	// The click, signed by Herald, is real: it is kept even when the link
	// cannot be looked up.
	s.record(r, tracking.Hit{Kind: tracking.Click, CampaignID: tok.CampaignID, ContactID: tok.ContactID, LinkID: tok.LinkID, At: start})
	if err != nil {
		// The database is down and the campaign's links are not cached:
		// the recipient is asked to try again.
		s.log.Error("web: look up link", "err", err)
		trackHeaders(h, false)
		h["Content-Type"] = hdrTextPlain
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write(msgTryLater)
		s.tstats.done(s, routeClick, codeUnavailable, start)
		return
	}
	trackHeaders(h, true)
	// Only absolute http(s) URLs become campaign links (see
	// templates.trackable), so the URL goes out as it is, without the
	// relative-path handling of http.Redirect.
	h["Location"] = []string{url}
	w.WriteHeader(http.StatusFound)
	s.tstats.done(s, routeClick, codeFound, start)
}

func (s *Server) invalidLink(w http.ResponseWriter, start time.Time) {
	h := w.Header()
	trackHeaders(h, false)
	h["Content-Type"] = hdrTextPlain
	w.WriteHeader(http.StatusNotFound)
	w.Write(msgInvalidLink)
	s.tstats.done(s, routeClick, codeNotFound, start)
}

// recoverTracking does for the tracking endpoints what gin's recoverer
// middleware does for the rest.
func (s *Server) recoverTracking(w http.ResponseWriter) {
	if rec := recover(); rec != nil {
		s.log.Error("web: panic", "route", "tracking", "panic", fmt.Sprint(rec))
		w.WriteHeader(http.StatusInternalServerError)
	}
}

// trackOpen and trackClick serve the same endpoints for gin, where a
// request reaches gin's engine directly.
func (s *Server) trackOpen(c *gin.Context) { s.serveOpen(c.Writer, c.Request, c.Param("token")) }

func (s *Server) trackClick(c *gin.Context) { s.serveClick(c.Writer, c.Request, c.Param("token")) }

// record makes a hit durable. A failure is logged and counted but never
// breaks the image or the redirect the recipient is waiting for.
func (s *Server) record(r *http.Request, h tracking.Hit) {
	h.At = h.At.UTC()
	h.UserAgent = truncateUA(r.UserAgent())
	h.Method = r.Method
	h.Net = s.d.Networks.Class(s.clientAddr(r))
	kind := kindOpen
	if h.Kind == tracking.Click {
		kind = kindClick
	}
	if err := s.d.Hits.Add(r.Context(), h); err != nil {
		s.tstats.lost[kind].Add(1)
		s.log.Error("web: could not store a tracking hit", "kind", string(h.Kind), "err", err)
		return
	}
	s.tstats.hits[kind].Add(1)
}

func truncateUA(ua string) string {
	if len(ua) > 300 {
		return ua[:300]
	}
	return ua
}

// Indexes of the tracking routes, answers and kinds in trackStats.
const (
	routeOpen = iota
	routeClick
	nRoutes
)

const (
	codeOK = iota
	codeFound
	codeNotFound
	codeUnavailable
	nCodes
)

const (
	kindOpen = iota
	kindClick
	nKinds
)

var (
	trackRoutes = [nRoutes]string{"/t/o/:token", "/t/c/:token"}
	trackCodes  = [nCodes]string{"200", "302", "404", "503"}
	trackKinds  = [nKinds]string{string(tracking.Open), string(tracking.Click)}
)

// trackStats counts the tracking endpoints' requests in atomics; every
// second, and whenever /metrics is read, the counts move to the registry
// under the names and labels the other routes use.
type trackStats struct {
	requests  [nRoutes][nCodes]atomic.Int64
	nanos     [nRoutes]atomic.Int64
	hits      [nKinds]atomic.Int64
	lost      [nKinds]atomic.Int64
	lastFlush atomic.Int64 // unix nanoseconds
	flushing  sync.Mutex
}

func (t *trackStats) done(s *Server, route, code int, start time.Time) {
	now := time.Now()
	t.requests[route][code].Add(1)
	t.nanos[route].Add(int64(now.Sub(start)))
	if last := t.lastFlush.Load(); now.UnixNano()-last > int64(time.Second) && t.lastFlush.CompareAndSwap(last, now.UnixNano()) {
		t.flush(s.d.Metrics)
	}
}

// flush moves the counts to reg.
func (t *trackStats) flush(reg *metrics.Registry) {
	t.flushing.Lock()
	defer t.flushing.Unlock()
	for r := range nRoutes {
		var n int64
		for c := range nCodes {
			if k := t.requests[r][c].Swap(0); k > 0 {
				n += k
				reg.Add("herald_http_requests_total", metrics.Labels{"route": trackRoutes[r], "code": trackCodes[c]}, float64(k))
			}
		}
		// A request counted above but whose time is not added yet is
		// summed at the next flush: the summary catches up.
		if ns := t.nanos[r].Swap(0); n > 0 || ns > 0 {
			reg.ObserveMany("herald_http_request_seconds", metrics.Labels{"route": trackRoutes[r]}, float64(n), time.Duration(ns).Seconds())
		}
	}
	for k := range nKinds {
		if n := t.hits[k].Swap(0); n > 0 {
			reg.Add("herald_tracking_hits_total", metrics.Labels{"kind": trackKinds[k]}, float64(n))
		}
		if n := t.lost[k].Swap(0); n > 0 {
			reg.Add("herald_tracking_hits_lost_total", metrics.Labels{"kind": trackKinds[k]}, float64(n))
		}
	}
}

// linkCache keeps campaigns' links in memory, so that a click is answered
// without the database, and still redirects while the database is down. A
// miss loads all of the campaign's links in one query (a message's other
// links are clicked next), concurrent misses of one campaign share that
// query, and when the cache is full the campaign used least recently is
// evicted, not the whole cache. Links change only when a scheduled
// campaign is sent again or an automation step edited, so an entry older
// than refreshAfter is reloaded in the background while it goes on
// answering; a link index it lacks is looked up again at most every
// retryMissing.
type linkCache struct {
	load func(ctx context.Context, campaignID int64) (map[int64]string, error)
	max  int // links held at most (a campaign with more is held alone)
	now  func() time.Time

	mu      sync.RWMutex
	n       int // links held
	m       map[int64]*campaignLinks
	loading map[int64]*linkLoad
	// clock orders uses for eviction: a load takes the next value, a hit
	// the current one, so an entry hit since the last load outranks it.
	clock atomic.Int64
}

// campaignLinks is one campaign's links; urls is never changed once made.
type campaignLinks struct {
	urls       map[int64]string
	loadedAt   time.Time
	used       atomic.Int64
	refreshing atomic.Bool // a background reload is under way
}

// linkLoad is a query for a campaign's links that other misses wait for.
type linkLoad struct {
	done chan struct{}
	e    *campaignLinks
	err  error
}

const (
	// linkCacheSize is how many campaign links the click endpoint keeps
	// in memory: about a megabyte of URLs.
	linkCacheSize = 10000
	refreshAfter  = 10 * time.Minute
	retryMissing  = time.Second
	loadTimeout   = 5 * time.Second
)

func newLinkCache(max int, load func(ctx context.Context, campaignID int64) (map[int64]string, error)) *linkCache {
	return &linkCache{load: load, max: max, now: time.Now, m: map[int64]*campaignLinks{}, loading: map[int64]*linkLoad{}}
}

// campaignLinkLoader reads a campaign's links for the cache.
func campaignLinkLoader(cs *campaigns.Service) func(ctx context.Context, id int64) (map[int64]string, error) {
	return func(ctx context.Context, id int64) (map[int64]string, error) {
		ls, err := cs.Links(ctx, id)
		if err != nil {
			return nil, err
		}
		out := make(map[int64]string, len(ls))
		for _, l := range ls {
			out[int64(l.Idx)] = l.URL
		}
		return out, nil
	}
}

// url returns the URL of link idx of a campaign: errs.ErrNotFound when the
// campaign has no such link, another error when it cannot be known now.
func (c *linkCache) url(ctx context.Context, campaignID, idx int64) (string, error) {
	c.mu.RLock()
	e := c.m[campaignID]
	c.mu.RUnlock()
	if e != nil {
		if now := c.clock.Load(); e.used.Load() != now {
			e.used.Store(now)
		}
		u, ok := e.urls[idx]
		age := c.now().Sub(e.loadedAt)
		if ok {
			if age > refreshAfter && e.refreshing.CompareAndSwap(false, true) {
				go func() {
					if _, err := c.loadShared(context.Background(), campaignID); err != nil {
						e.refreshing.Store(false) // the next hit tries again
					}
				}()
			}
			return u, nil
		}
		if age < retryMissing {
			return "", errs.NotFound("link", idx)
		}
	}
	e, err := c.loadShared(ctx, campaignID)
	if err != nil {
		return "", err
	}
	if u, ok := e.urls[idx]; ok {
		return u, nil
	}
	return "", errs.NotFound("link", idx)
}

// loadShared loads a campaign's links, or waits for the load in progress.
// The query does not end with the request that started it: the others
// waiting for it would fail too.
func (c *linkCache) loadShared(ctx context.Context, campaignID int64) (*campaignLinks, error) {
	c.mu.Lock()
	if l, ok := c.loading[campaignID]; ok {
		c.mu.Unlock()
		select {
		case <-l.done:
			return l.e, l.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l := &linkLoad{done: make(chan struct{})}
	c.loading[campaignID] = l
	c.mu.Unlock()

	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
	urls, err := c.load(qctx, campaignID)
	cancel()
	c.mu.Lock()
	delete(c.loading, campaignID)
	if err == nil {
		l.e = &campaignLinks{urls: urls, loadedAt: c.now()}
		l.e.used.Store(c.clock.Add(1) - 1)
		c.putLocked(campaignID, l.e)
	}
	l.err = err
	c.mu.Unlock()
	close(l.done)
	return l.e, l.err
}

// putLocked stores e, evicting the campaigns used least recently until the
// links fit. Eviction looks at every campaign, but only on a miss.
func (c *linkCache) putLocked(campaignID int64, e *campaignLinks) {
	if old, ok := c.m[campaignID]; ok {
		c.n -= len(old.urls)
		delete(c.m, campaignID)
	}
	for c.n+len(e.urls) > c.max && len(c.m) > 0 {
		var victim int64
		oldest := int64(math.MaxInt64)
		for id, o := range c.m {
			if u := o.used.Load(); u < oldest {
				victim, oldest = id, u
			}
		}
		c.n -= len(c.m[victim].urls)
		delete(c.m, victim)
	}
	c.m[campaignID] = e
	c.n += len(e.urls)
}

// maskEmail shows enough of an address for its owner to recognise it.
func maskEmail(e string) string {
	at := strings.LastIndexByte(e, '@')
	if at <= 0 {
		return "your address"
	}
	local := []rune(e[:at])
	shown := string(local[0])
	if len(local) > 3 {
		shown += strings.Repeat("•", 3) + string(local[len(local)-1])
	} else {
		shown += strings.Repeat("•", 3)
	}
	return shown + e[at:]
}

func (s *Server) unsubscribeToken(c *gin.Context) (tracking.Token, contacts.Contact, bool) {
	if c.Param("token") == "preview" {
		s.render(c, http.StatusOK, "unsubscribe", gin.H{"Title": "Unsubscribe", "Preview": true})
		return tracking.Token{}, contacts.Contact{}, false
	}
	tok, err := s.d.Signer.Verify(c.Param("token"), tracking.Unsubscribe)
	if err != nil {
		s.render(c, http.StatusNotFound, "unsubscribe", gin.H{"Title": "Unsubscribe", "Invalid": true})
		return tok, contacts.Contact{}, false
	}
	ct, err := s.d.Contacts.Get(c.Request.Context(), tok.ContactID)
	if err != nil {
		if errors.Is(err, errs.ErrNotFound) {
			s.render(c, http.StatusOK, "unsubscribe", gin.H{"Title": "Unsubscribe", "Gone": true})
		} else {
			s.log.Error("web: unsubscribe lookup", "err", err)
			s.render(c, http.StatusServiceUnavailable, "unsubscribe", gin.H{"Title": "Unsubscribe", "Later": true})
		}
		return tok, contacts.Contact{}, false
	}
	return tok, ct, true
}

func (s *Server) unsubscribePage(c *gin.Context) {
	_, ct, ok := s.unsubscribeToken(c)
	if !ok {
		return
	}
	noStore(c)
	s.render(c, http.StatusOK, "unsubscribe", gin.H{
		"Title": "Unsubscribe", "Email": maskEmail(ct.Email), "Unsubscribed": ct.Status != contacts.Subscribed,
		"Action": c.Request.URL.Path,
	})
}

// unsubscribePost is both the page's button and RFC 8058 one-click: mail
// clients POST "List-Unsubscribe=One-Click" without cookies or a session.
func (s *Server) unsubscribePost(c *gin.Context) {
	tok, ct, ok := s.unsubscribeToken(c)
	if !ok {
		return
	}
	if err := s.unsubscribe(c.Request.Context(), tok, ct); err != nil {
		s.log.Error("web: unsubscribe", "err", err)
		s.render(c, http.StatusServiceUnavailable, "unsubscribe", gin.H{"Title": "Unsubscribe", "Later": true})
		return
	}
	if c.PostForm("List-Unsubscribe") == "One-Click" {
		c.String(http.StatusOK, "You are unsubscribed.")
		return
	}
	s.render(c, http.StatusOK, "unsubscribe", gin.H{"Title": "Unsubscribed", "Email": maskEmail(ct.Email), "Done": true, "Action": c.Request.URL.Path})
}

func (s *Server) unsubscribe(ctx context.Context, tok tracking.Token, ct contacts.Contact) error {
	if ct.Status != contacts.Subscribed {
		return nil // already unsubscribed, or bounced/complained: keep that record
	}
	changed, err := s.d.Contacts.SetStatusBy(ctx, ct.ID, contacts.Unsubscribed, "person", "from the unsubscribe link")
	if err != nil || !changed {
		return err
	}
	cid := tok.CampaignID
	_, err = s.d.Contacts.RecordEvents(ctx, []contacts.EventInput{{
		ContactID: ct.ID, Type: contacts.EventUnsubscribe, CampaignID: &cid,
		DedupeKey: fmt.Sprintf("unsub:%d:%d:%d", cid, ct.ID, time.Now().UnixNano()),
	}})
	return err
}

// resubscribeTTL is how long the link of a confirmation email works.
const resubscribeTTL = 24 * time.Hour

// resubscribePost is "subscribe me again" on the unsubscribe page. The
// unsubscribe link never expires and may be forwarded, so it does not
// subscribe anyone: it sends the address a confirmation email whose
// short-lived link does.
func (s *Server) resubscribePost(c *gin.Context) {
	tok, ct, ok := s.unsubscribeToken(c)
	if !ok {
		return
	}
	data := gin.H{"Title": "Subscribe again", "Email": maskEmail(ct.Email), "Action": strings.TrimSuffix(c.Request.URL.Path, "/resubscribe")}
	switch ct.Status {
	case contacts.Subscribed:
		data["Resubscribed"] = true
		s.render(c, http.StatusOK, "unsubscribe", data)
		return
	case contacts.Unsubscribed:
	default:
		data["Blocked"] = true
		s.render(c, http.StatusOK, "unsubscribe", data)
		return
	}
	// One confirmation email a minute per contact is plenty for a person
	// and stops the page from being used to flood their inbox.
	if ok, retry := s.views.allow(fmt.Sprintf("r:%d", ct.ID), 1); !ok {
		c.Header("Retry-After", strconv.Itoa(int(retry.Seconds())+1))
		data["ConfirmSent"] = true
		s.render(c, http.StatusTooManyRequests, "unsubscribe", data)
		return
	}
	link := s.cfg.BaseURL + "/r/" + s.d.Signer.Sign(tracking.Token{
		Kind: tracking.Resubscribe, CampaignID: tok.CampaignID, ContactID: ct.ID,
		Expires: time.Now().Add(resubscribeTTL).Unix(),
	})
	err := errors.New("web: no mailer")
	if s.d.Mailer != nil {
		var msg *campaigns.Message
		if msg, err = s.d.Campaigns.ResubscribeConfirmation(c.Request.Context(), tok.CampaignID, ct, link); err == nil {
			err = s.d.Mailer.Send(c.Request.Context(), msg)
		}
	}
	if err != nil {
		s.log.Error("web: resubscribe confirmation", "err", err)
		s.render(c, http.StatusServiceUnavailable, "unsubscribe", gin.H{"Title": "Subscribe again", "Later": true})
		return
	}
	data["ConfirmSent"] = true
	s.render(c, http.StatusOK, "unsubscribe", data)
}

// resubscribeToken reads the token of a confirmation link; an expired or
// invalid one answers the page itself.
func (s *Server) resubscribeToken(c *gin.Context) (contacts.Contact, bool) {
	noStore(c)
	tok, err := s.d.Signer.Verify(c.Param("token"), tracking.Resubscribe)
	if err != nil {
		s.render(c, http.StatusNotFound, "unsubscribe", gin.H{"Title": "Subscribe again", "Invalid": true})
		return contacts.Contact{}, false
	}
	if time.Now().Unix() > tok.Expires {
		s.render(c, http.StatusGone, "unsubscribe", gin.H{"Title": "Subscribe again", "Expired": true})
		return contacts.Contact{}, false
	}
	ct, err := s.d.Contacts.Get(c.Request.Context(), tok.ContactID)
	if err != nil {
		if errors.Is(err, errs.ErrNotFound) {
			s.render(c, http.StatusOK, "unsubscribe", gin.H{"Title": "Subscribe again", "Gone": true})
		} else {
			s.log.Error("web: resubscribe lookup", "err", err)
			s.render(c, http.StatusServiceUnavailable, "unsubscribe", gin.H{"Title": "Subscribe again", "Later": true})
		}
		return contacts.Contact{}, false
	}
	return ct, true
}

// confirmPage shows a button rather than subscribing on GET: mail
// scanners open links, people press buttons.
func (s *Server) confirmPage(c *gin.Context) {
	ct, ok := s.resubscribeToken(c)
	if !ok {
		return
	}
	data := gin.H{"Title": "Subscribe again", "Email": maskEmail(ct.Email), "Action": c.Request.URL.Path}
	switch ct.Status {
	case contacts.Subscribed:
		data["Resubscribed"] = true
	case contacts.Unsubscribed:
		data["Confirm"] = true
	default:
		data["Blocked"] = true
	}
	s.render(c, http.StatusOK, "unsubscribe", data)
}

func (s *Server) confirmPost(c *gin.Context) {
	ct, ok := s.resubscribeToken(c)
	if !ok {
		return
	}
	data := gin.H{"Title": "Subscribe again", "Email": maskEmail(ct.Email)}
	if ct.Status != contacts.Unsubscribed && ct.Status != contacts.Subscribed {
		data["Blocked"] = true
		s.render(c, http.StatusOK, "unsubscribe", data)
		return
	}
	if _, err := s.d.Contacts.Resubscribe(c.Request.Context(), ct.ID, "person", "confirmed from the link of a confirmation email"); err != nil {
		s.log.Error("web: resubscribe", "err", err)
		s.render(c, http.StatusServiceUnavailable, "unsubscribe", gin.H{"Title": "Subscribe again", "Later": true})
		return
	}
	data["Resubscribed"] = true
	s.render(c, http.StatusOK, "unsubscribe", data)
}

// webView shows the message as the contact received it.
func (s *Server) webView(c *gin.Context) {
	if c.Param("token") == "preview" {
		c.String(http.StatusOK, "This is the web view link of a preview.")
		return
	}
	tok, err := s.d.Signer.Verify(c.Param("token"), tracking.View)
	if err != nil {
		c.String(http.StatusNotFound, "This link is not valid.")
		return
	}
	// Counted after the signature check, which is cheap, and before the
	// render, which is not. The token's key is its contact and campaign,
	// which every spelling of a valid token shares.
	for _, lim := range []struct {
		key string
		max int
	}{{addrKey(s.clientAddr(c.Request)), viewPerAddress}, {fmt.Sprintf("t:%d:%d", tok.CampaignID, tok.ContactID), viewPerToken}} {
		if ok, retry := s.views.allow(lim.key, lim.max); !ok {
			c.Header("Retry-After", strconv.Itoa(int(retry.Seconds())+1))
			c.String(http.StatusTooManyRequests, "This page was asked for too often. Please try again in a minute.")
			return
		}
	}
	html, err := s.d.Campaigns.WebView(c.Request.Context(), tok.CampaignID, tok.ContactID)
	if err != nil {
		if errors.Is(err, errs.ErrNotFound) {
			c.String(http.StatusNotFound, "This message is no longer available.")
			return
		}
		s.log.Error("web: web view", "err", err)
		c.String(http.StatusServiceUnavailable, "Please try again in a moment.")
		return
	}
	noStore(c)
	c.Header("Content-Security-Policy", "script-src 'none'; object-src 'none'")
	c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(html))
}
