package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

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

// record makes a hit durable. A failure is logged and counted but never
// breaks the image or the redirect the recipient is waiting for.
func (s *Server) record(c *gin.Context, h tracking.Hit) {
	h.At = time.Now().UTC()
	h.UserAgent = truncateUA(c.Request.UserAgent())
	h.Method = c.Request.Method
	if err := s.d.Hits.Add(c.Request.Context(), h); err != nil {
		s.d.Metrics.Inc("herald_tracking_hits_lost_total", metrics.Labels{"kind": string(h.Kind)})
		s.log.Error("web: could not store a tracking hit", "kind", string(h.Kind), "err", err)
		return
	}
	s.d.Metrics.Inc("herald_tracking_hits_total", metrics.Labels{"kind": string(h.Kind)})
}

func truncateUA(ua string) string {
	if len(ua) > 300 {
		return ua[:300]
	}
	return ua
}

func (s *Server) trackOpen(c *gin.Context) {
	tok, err := s.d.Signer.Verify(strings.TrimSuffix(c.Param("token"), ".gif"), tracking.Open)
	if err != nil {
		c.Status(http.StatusNotFound)
		return
	}
	s.record(c, tracking.Hit{Kind: tracking.Open, CampaignID: tok.CampaignID, ContactID: tok.ContactID})
	noStore(c)
	c.Data(http.StatusOK, "image/gif", transparentGIF)
}

// trackClick redirects only to a URL stored for that campaign's link, so a
// token can never send anyone elsewhere.
func (s *Server) trackClick(c *gin.Context) {
	tok, err := s.d.Signer.Verify(c.Param("token"), tracking.Click)
	if err != nil {
		c.String(http.StatusNotFound, "This link is not valid.")
		return
	}
	url, err := s.linkURL(c.Request.Context(), tok.CampaignID, tok.LinkID)
	if err != nil {
		if errors.Is(err, errs.ErrNotFound) {
			c.String(http.StatusNotFound, "This link is not valid.")
			return
		}
		s.log.Error("web: look up link", "err", err)
		c.String(http.StatusServiceUnavailable, "Please try again in a moment.")
		return
	}
	s.record(c, tracking.Hit{Kind: tracking.Click, CampaignID: tok.CampaignID, ContactID: tok.ContactID, LinkID: tok.LinkID})
	noStore(c)
	c.Redirect(http.StatusFound, url)
}

// linkCache keeps campaign links in memory; they never change once a
// campaign is sent, so entries need no expiry, only a size bound.
type linkCache struct {
	mu  sync.RWMutex
	max int
	m   map[[2]int64]string
}

func newLinkCache(max int) *linkCache { return &linkCache{max: max, m: map[[2]int64]string{}} }

func (s *Server) linkURL(ctx context.Context, campaignID, idx int64) (string, error) {
	k := [2]int64{campaignID, idx}
	s.links.mu.RLock()
	u, ok := s.links.m[k]
	s.links.mu.RUnlock()
	if ok {
		return u, nil
	}
	u, err := s.d.Campaigns.LinkURL(ctx, campaignID, idx)
	if err != nil {
		return "", err
	}
	s.links.mu.Lock()
	if len(s.links.m) >= s.links.max {
		s.links.m = map[[2]int64]string{}
	}
	s.links.m[k] = u
	s.links.mu.Unlock()
	return u, nil
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
	changed, err := s.d.Contacts.SetStatus(ctx, ct.ID, contacts.Unsubscribed)
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

func (s *Server) resubscribePost(c *gin.Context) {
	_, ct, ok := s.unsubscribeToken(c)
	if !ok {
		return
	}
	if ct.Status == contacts.Unsubscribed {
		if _, err := s.d.Contacts.SetStatus(c.Request.Context(), ct.ID, contacts.Subscribed); err != nil {
			s.log.Error("web: resubscribe", "err", err)
			s.render(c, http.StatusServiceUnavailable, "unsubscribe", gin.H{"Title": "Unsubscribe", "Later": true})
			return
		}
	}
	action := strings.TrimSuffix(c.Request.URL.Path, "/resubscribe")
	s.render(c, http.StatusOK, "unsubscribe", gin.H{"Title": "Subscribed", "Email": maskEmail(ct.Email), "Resubscribed": ct.Status == contacts.Unsubscribed, "Blocked": ct.Status != contacts.Unsubscribed && ct.Status != contacts.Subscribed, "Action": action})
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
