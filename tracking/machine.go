package tracking

import (
	"context"
	"strings"
)

// Verdict says whether a hit was made by a machine, and why.
type Verdict struct {
	Machine bool
	Reason  string
}

// Classifier tells opens and clicks made by people from those made by
// privacy proxies and link scanners.
type Classifier struct {
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

// NewClassifier returns a Classifier; extra adds user-agent fragments.
func NewClassifier(extra []string) *Classifier {
	c := &Classifier{scannerAgents: append([]string(nil), knownScanners...)}
	for _, e := range extra {
		// A blank fragment is in every user agent: skip it, or every
		// person would count as a machine.
		if e = strings.ToLower(strings.TrimSpace(e)); e != "" {
			c.scannerAgents = append(c.scannerAgents, e)
		}
	}
	return c
}

// Machines classifies a batch of hits.
func (c *Classifier) Machines(_ context.Context, hits []Hit) []Verdict {
	out := make([]Verdict, len(hits))
	for k, h := range hits {
		out[k] = c.one(h)
	}
	return out
}

func (c *Classifier) one(h Hit) Verdict {
	if h.Method == "HEAD" {
		return Verdict{true, "head request"}
	}
	ua := strings.ToLower(h.UserAgent)
	if ua == "" {
		return Verdict{true, "no user agent"}
	}
	for _, s := range c.scannerAgents {
		if strings.Contains(ua, s) {
			return Verdict{true, "scanner user agent"}
		}
	}
	return Verdict{}
}
