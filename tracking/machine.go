package tracking

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Verdict says whether a hit was made by a machine, and why.
type Verdict struct {
	Machine bool
	Reason  string
}

// Reasons a hit is a machine's, stored as the event's machine_reason.
const (
	ReasonHead         = "head request"
	ReasonNoAgent      = "no user agent"
	ReasonScannerAgent = "scanner user agent"
	ReasonScannerNet   = "scanner network"
	ReasonAppleProxy   = "apple privacy proxy"
	ReasonProxyAgent   = "privacy proxy user agent"
	ReasonJustSent     = "seconds after sending"
	ReasonBurst        = "burst of links"
)

// Recipient is one contact's copy of one campaign.
type Recipient struct {
	CampaignID int64
	ContactID  int64
}

// PastClick is a click already stored.
type PastClick struct {
	Recipient
	LinkID int64
	At     time.Time
}

// SendLog answers what the classifier needs to know about the messages
// behind a batch of hits, in one query per batch rather than per request
// (campaigns.Service implements it).
type SendLog interface {
	// SentTimes returns when each recipient's messages were sent, in
	// ascending order (an automation can send one campaign to a contact
	// more than once). Recipients never sent to are absent.
	SentTimes(ctx context.Context, rs []Recipient) (map[Recipient][]time.Time, error)
	// Clicks returns the stored clicks of the recipients between from and
	// to, inclusive.
	Clicks(ctx context.Context, rs []Recipient, from, to time.Time) ([]PastClick, error)
}

// ClassifierConfig tunes the Classifier; zero values take the defaults.
type ClassifierConfig struct {
	// ExtraAgents are user-agent fragments of scanners, added to the
	// built-in list (matched without regard to case).
	ExtraAgents []string
	// JustSent: a hit this soon after its message was sent is a machine's
	// (10 s). No person has read the message yet; Apple's proxy and
	// security gateways fetch at delivery.
	JustSent time.Duration
	// BurstWindow and BurstLinks: a contact clicking BurstLinks distinct
	// links of one message within BurstWindow is a scanner following every
	// link (2 s, 2 links). A person's click opens a page; they cannot click
	// another link of the message that fast.
	BurstWindow time.Duration
	BurstLinks  int
	// ClockSkew is how far the web servers' and workers' clocks may
	// disagree: a hit that seems to come before its message was sent, by
	// up to this much, is taken as just after it (1 min).
	ClockSkew time.Duration
}

// Classifier tells opens and clicks made by people from those made by
// privacy proxies and link scanners.
type Classifier struct {
	cfg           ClassifierConfig
	log           SendLog
	scannerAgents []string
}

// knownScanners are user-agent fragments of link scanners and prefetchers
// that fetch links and images without a person behind them.
var knownScanners = []string{
	"barracuda", "mimecast", "proofpoint", "symantec", "messagelabs", "trendmicro",
	"fireeye", "forcepoint", "sophos", "bitdefender", "cisco", "ironport", "zscaler",
	"safelinks", "urldefense", "linkscanner", "python-requests", "go-http-client",
	"curl/", "wget/", "headlesschrome", "phantomjs", "slackbot", "facebookexternalhit",
	"bot/", "crawler", "spider",
}

// proxyAgent is the whole user agent Apple's Mail Privacy Protection
// proxy sends; no browser or mail client sends just this.
const proxyAgent = "Mozilla/5.0"

// NewClassifier returns a Classifier. log may be nil: then the timing and
// burst rules see only the batch at hand.
func NewClassifier(cfg ClassifierConfig, log SendLog) *Classifier {
	if cfg.JustSent <= 0 {
		cfg.JustSent = 10 * time.Second
	}
	if cfg.BurstWindow <= 0 {
		cfg.BurstWindow = 2 * time.Second
	}
	if cfg.BurstLinks < 2 {
		cfg.BurstLinks = 2
	}
	if cfg.ClockSkew <= 0 {
		cfg.ClockSkew = time.Minute
	}
	c := &Classifier{cfg: cfg, log: log, scannerAgents: slices.Clone(knownScanners)}
	for _, e := range cfg.ExtraAgents {
		// A blank fragment is in every user agent: skip it, or every
		// person would count as a machine.
		if e = strings.ToLower(strings.TrimSpace(e)); e != "" {
			c.scannerAgents = append(c.scannerAgents, e)
		}
	}
	return c
}

// BurstWindow is how long a burst of clicks lasts at most; the consumer
// holds clicks back this long so that a burst is judged as a whole.
func (c *Classifier) BurstWindow() time.Duration { return c.cfg.BurstWindow }

// Classify judges a batch of hits. context holds other hits not yet stored
// (held back by the consumer): they are judged later, but their clicks
// count towards the bursts of this batch.
func (c *Classifier) Classify(ctx context.Context, hits, context []Hit) ([]Verdict, error) {
	out := make([]Verdict, len(hits))
	var rs []Recipient
	seen := map[Recipient]bool{}
	var from, to time.Time
	for k, h := range hits {
		out[k] = c.byRequest(h)
		if out[k].Machine {
			continue
		}
		r := Recipient{h.CampaignID, h.ContactID}
		if !seen[r] {
			seen[r] = true
			rs = append(rs, r)
		}
		if from.IsZero() || h.At.Before(from) {
			from = h.At
		}
		if h.At.After(to) {
			to = h.At
		}
	}
	if len(rs) == 0 {
		return out, nil
	}
	var sent map[Recipient][]time.Time
	var past []PastClick
	if c.log != nil {
		var err error
		if sent, err = c.log.SentTimes(ctx, rs); err != nil {
			return nil, fmt.Errorf("tracking: classify: %w", err)
		}
		// Earlier clicks matter only to the recipients clicking now.
		var clickers []Recipient
		clicked := map[Recipient]bool{}
		for k, h := range hits {
			r := Recipient{h.CampaignID, h.ContactID}
			if h.Kind == Click && !out[k].Machine && !clicked[r] {
				clicked[r] = true
				clickers = append(clickers, r)
			}
		}
		if len(clickers) > 0 {
			if past, err = c.log.Clicks(ctx, clickers, from.Add(-c.cfg.BurstWindow), to.Add(c.cfg.BurstWindow)); err != nil {
				return nil, fmt.Errorf("tracking: classify: %w", err)
			}
		}
	}
	// Every click known of each recipient: stored, in this batch, held.
	clicks := map[Recipient][]PastClick{}
	for _, p := range past {
		clicks[p.Recipient] = append(clicks[p.Recipient], p)
	}
	for _, set := range [][]Hit{hits, context} {
		for _, h := range set {
			r := Recipient{h.CampaignID, h.ContactID}
			if h.Kind == Click && seen[r] {
				clicks[r] = append(clicks[r], PastClick{Recipient: r, LinkID: h.LinkID, At: h.At})
			}
		}
	}
	for _, cs := range clicks {
		slices.SortFunc(cs, func(a, b PastClick) int { return a.At.Compare(b.At) })
	}
	for k, h := range hits {
		if out[k].Machine {
			continue
		}
		r := Recipient{h.CampaignID, h.ContactID}
		if at, ok := c.sentBefore(sent[r], h.At); ok && h.At.Sub(at) < c.cfg.JustSent {
			out[k] = Verdict{true, ReasonJustSent}
			continue
		}
		if h.Kind == Click && c.inBurst(clicks[r], h.At) {
			out[k] = Verdict{true, ReasonBurst}
		}
	}
	return out, nil
}

// byRequest judges what the request itself shows: its method, user agent
// and network.
func (c *Classifier) byRequest(h Hit) Verdict {
	if h.Method == "HEAD" {
		return Verdict{true, ReasonHead}
	}
	if strings.TrimSpace(h.UserAgent) == "" {
		return Verdict{true, ReasonNoAgent}
	}
	ua := strings.ToLower(h.UserAgent)
	for _, s := range c.scannerAgents {
		if strings.Contains(ua, s) {
			return Verdict{true, ReasonScannerAgent}
		}
	}
	if h.Net == NetScanner {
		return Verdict{true, ReasonScannerNet}
	}
	if h.Kind == Open {
		if h.Net == NetAppleProxy {
			return Verdict{true, ReasonAppleProxy}
		}
		if h.UserAgent == proxyAgent {
			return Verdict{true, ReasonProxyAgent}
		}
	}
	return Verdict{}
}

// sentBefore returns the latest send at or before at (give or take the
// clock skew): the message the hit came from.
func (c *Classifier) sentBefore(sent []time.Time, at time.Time) (time.Time, bool) {
	limit := at.Add(c.cfg.ClockSkew)
	for i := len(sent) - 1; i >= 0; i-- {
		if !sent[i].After(limit) {
			return sent[i], true
		}
	}
	return time.Time{}, false
}

// inBurst reports whether a window of BurstWindow holding the click at at
// also holds clicks on enough distinct links. clicks are sorted by time.
func (c *Classifier) inBurst(clicks []PastClick, at time.Time) bool {
	w := c.cfg.BurstWindow
	for i, start := range clicks {
		if start.At.Before(at.Add(-w)) {
			continue
		}
		if start.At.After(at) {
			break
		}
		// The window [start, start+w] holds at; count its links.
		links := map[int64]bool{}
		for _, x := range clicks[i:] {
			if x.At.After(start.At.Add(w)) {
				break
			}
			links[x.LinkID] = true
			if len(links) >= c.cfg.BurstLinks {
				return true
			}
		}
	}
	return false
}
