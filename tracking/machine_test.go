package tracking

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"
)

const (
	chromeUA  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	safariUA  = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
	firefoxUA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	outlookUA = "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 10.0; Microsoft Outlook 16.0.17928; ms-office; MSOffice 16)"
)

// fakeSendLog is a SendLog with explicit send times and stored clicks.
type fakeSendLog struct {
	sent   map[Recipient][]time.Time
	clicks []PastClick
	err    error
	asked  [][]Recipient // the recipients of each SentTimes call
}

func (f *fakeSendLog) SentTimes(_ context.Context, rs []Recipient) (map[Recipient][]time.Time, error) {
	f.asked = append(f.asked, rs)
	out := map[Recipient][]time.Time{}
	for _, r := range rs {
		if ts, ok := f.sent[r]; ok {
			out[r] = ts
		}
	}
	return out, f.err
}

func (f *fakeSendLog) Clicks(_ context.Context, rs []Recipient, from, to time.Time) ([]PastClick, error) {
	want := map[Recipient]bool{}
	for _, r := range rs {
		want[r] = true
	}
	var out []PastClick
	for _, c := range f.clicks {
		if want[c.Recipient] && !c.At.Before(from) && !c.At.After(to) {
			out = append(out, c)
		}
	}
	return out, f.err
}

var (
	sentAt = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	ann    = Recipient{CampaignID: 7, ContactID: 1}
	bob    = Recipient{CampaignID: 7, ContactID: 2}
)

// at makes a hit by ann at sentAt+d with a browser's user agent.
func at(kind Kind, link int64, d time.Duration) Hit {
	return Hit{Kind: kind, CampaignID: ann.CampaignID, ContactID: ann.ContactID, LinkID: link, At: sentAt.Add(d), UserAgent: chromeUA, Method: "GET"}
}

func with(h Hit, f func(*Hit)) Hit { f(&h); return h }

func TestClassifierJudgesEachHit(t *testing.T) {
	c := NewClassifier(ClassifierConfig{ExtraAgents: []string{"AcmeGuard"}}, &fakeSendLog{sent: map[Recipient][]time.Time{ann: {sentAt}}})
	hour := time.Hour
	for _, tc := range []struct {
		name   string
		hit    Hit
		reason string // empty: a person
	}{
		{"Chrome an hour after sending", at(Click, 1, hour), ""},
		{"Safari on an iPhone", with(at(Open, 0, hour), func(h *Hit) { h.UserAgent = safariUA }), ""},
		{"Firefox", with(at(Open, 0, hour), func(h *Hit) { h.UserAgent = firefoxUA }), ""},
		{"Outlook", with(at(Open, 0, hour), func(h *Hit) { h.UserAgent = outlookUA }), ""},
		{"a POST from a browser", with(at(Click, 1, hour), func(h *Hit) { h.Method = "POST" }), ""},
		{"HEAD request from a browser", with(at(Click, 1, hour), func(h *Hit) { h.Method = "HEAD" }), ReasonHead},
		{"empty user agent", with(at(Click, 1, hour), func(h *Hit) { h.UserAgent = "" }), ReasonNoAgent},
		{"blank user agent", with(at(Open, 0, hour), func(h *Hit) { h.UserAgent = "  " }), ReasonNoAgent},
		{"Barracuda", with(at(Click, 1, hour), func(h *Hit) { h.UserAgent = "Mozilla/5.0 Barracuda Sentinel" }), ReasonScannerAgent},
		{"Microsoft Safe Links", with(at(Click, 1, hour), func(h *Hit) { h.UserAgent = "Mozilla/5.0 SafeLinks/1.0" }), ReasonScannerAgent},
		{"Proofpoint URL Defense", with(at(Click, 1, hour), func(h *Hit) { h.UserAgent = "urldefense.proofpoint.com" }), ReasonScannerAgent},
		{"curl", with(at(Click, 1, hour), func(h *Hit) { h.UserAgent = "curl/8.5.0" }), ReasonScannerAgent},
		{"python requests", with(at(Click, 1, hour), func(h *Hit) { h.UserAgent = "python-requests/2.32.3" }), ReasonScannerAgent},
		{"Go client", with(at(Click, 1, hour), func(h *Hit) { h.UserAgent = "Go-http-client/1.1" }), ReasonScannerAgent},
		{"headless Chrome", with(at(Click, 1, hour), func(h *Hit) { h.UserAgent = "Mozilla/5.0 HeadlessChrome/120.0.0.0 Safari/537.36" }), ReasonScannerAgent},
		{"Googlebot", with(at(Click, 1, hour), func(h *Hit) {
			h.UserAgent = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
		}), ReasonScannerAgent},
		{"Slack unfurling", with(at(Click, 1, hour), func(h *Hit) { h.UserAgent = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)" }), ReasonScannerAgent},
		{"an extra fragment, in any case", with(at(Click, 1, hour), func(h *Hit) { h.UserAgent = "acmeguard/3 scanner" }), ReasonScannerAgent},
		{"a click from a scanner network", with(at(Click, 1, hour), func(h *Hit) { h.Net = NetScanner }), ReasonScannerNet},
		{"an open from a scanner network", with(at(Open, 0, hour), func(h *Hit) { h.Net = NetScanner }), ReasonScannerNet},
		{"an open from Apple's proxy", with(at(Open, 0, hour), func(h *Hit) { h.Net = NetAppleProxy }), ReasonAppleProxy},
		{"an open with the proxy's bare user agent", with(at(Open, 0, hour), func(h *Hit) { h.UserAgent = "Mozilla/5.0" }), ReasonProxyAgent},
		{"a click from Apple's network is a person's", with(at(Click, 1, hour), func(h *Hit) { h.Net = NetAppleProxy }), ""},
		{"an open 3 s after sending", at(Open, 0, 3*time.Second), ReasonJustSent},
		{"a click 9.9 s after sending", at(Click, 1, 9900*time.Millisecond), ReasonJustSent},
		{"a click 10 s after sending", at(Click, 1, 10*time.Second), ""},
		{"a click a little before sending (clocks disagree)", at(Click, 1, -20*time.Second), ReasonJustSent},
		{"a click long before sending is of an earlier message", at(Click, 1, -2*time.Hour), ""},
		{"a click 2 s after sending a contact never sent to", with(at(Click, 1, 2*time.Second), func(h *Hit) { h.ContactID = bob.ContactID }), ""},
		{"the method wins over the timing", with(at(Click, 1, time.Second), func(h *Hit) { h.Method = "HEAD" }), ReasonHead},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := c.Classify(context.Background(), []Hit{tc.hit}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(v) != 1 {
				t.Fatalf("%d verdicts for 1 hit", len(v))
			}
			if want := (Verdict{tc.reason != "", tc.reason}); v[0] != want {
				t.Errorf("verdict = %+v, want %+v", v[0], want)
			}
		})
	}
}

func TestClassifierUsesTheLatestSendBeforeTheHit(t *testing.T) {
	// An automation sent the campaign to ann last year and again today.
	log := &fakeSendLog{sent: map[Recipient][]time.Time{ann: {sentAt.AddDate(-1, 0, 0), sentAt}}}
	c := NewClassifier(ClassifierConfig{}, log)
	for _, tc := range []struct {
		name    string
		d       time.Duration
		machine bool
	}{
		{"seconds after last year's send", -365*24*time.Hour + 2*time.Second, true},
		{"a month after last year's send", -335 * 24 * time.Hour, false},
		{"seconds after today's send", 2 * time.Second, true},
		{"a minute after today's send", time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := c.Classify(context.Background(), []Hit{at(Click, 0, tc.d)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if v[0].Machine != tc.machine {
				t.Errorf("verdict = %+v, want machine=%v", v[0], tc.machine)
			}
		})
	}
}

func TestClassifierFindsBurstsOfLinks(t *testing.T) {
	ms := time.Millisecond
	later := time.Hour // long after sending, so only the burst rule can speak
	for _, tc := range []struct {
		name    string
		cfg     ClassifierConfig
		batch   []Hit
		held    []Hit
		stored  []PastClick
		machine []bool // per hit of batch
	}{
		{
			name:    "three links within a second",
			batch:   []Hit{at(Click, 0, later), at(Click, 1, later+300*ms), at(Click, 2, later+600*ms)},
			machine: []bool{true, true, true},
		},
		{
			name:    "two links 1.9 s apart",
			batch:   []Hit{at(Click, 0, later), at(Click, 1, later+1900*ms)},
			machine: []bool{true, true},
		},
		{
			name:    "two links 2.1 s apart",
			batch:   []Hit{at(Click, 0, later), at(Click, 1, later+2100*ms)},
			machine: []bool{false, false},
		},
		{
			name:    "one link clicked twice at once (a double click)",
			batch:   []Hit{at(Click, 3, later), at(Click, 3, later+150*ms)},
			machine: []bool{false, false},
		},
		{
			name:    "a chain of links each 1.5 s apart",
			batch:   []Hit{at(Click, 0, later), at(Click, 1, later+1500*ms), at(Click, 2, later+3000*ms), at(Click, 3, later+9*time.Second)},
			machine: []bool{true, true, true, false},
		},
		{
			name:    "two contacts clicking different links at once",
			batch:   []Hit{at(Click, 0, later), with(at(Click, 1, later+100*ms), func(h *Hit) { h.ContactID = bob.ContactID })},
			machine: []bool{false, false},
		},
		{
			name:    "an open and a click at once",
			batch:   []Hit{at(Open, 0, later), at(Click, 1, later+100*ms)},
			machine: []bool{false, false},
		},
		{
			name:    "the rest of a burst whose first click is stored",
			batch:   []Hit{at(Click, 1, later+500*ms)},
			stored:  []PastClick{{Recipient: ann, LinkID: 0, At: sentAt.Add(later)}},
			machine: []bool{true},
		},
		{
			name:    "the start of a burst whose rest is held back",
			batch:   []Hit{at(Click, 0, later)},
			held:    []Hit{at(Click, 1, later+800*ms)},
			machine: []bool{true},
		},
		{
			name:    "a stored click of another campaign",
			batch:   []Hit{at(Click, 1, later+500*ms)},
			stored:  []PastClick{{Recipient: Recipient{CampaignID: 8, ContactID: ann.ContactID}, LinkID: 0, At: sentAt.Add(later)}},
			machine: []bool{false},
		},
		{
			name:    "three links needed: two are not a burst",
			cfg:     ClassifierConfig{BurstLinks: 3},
			batch:   []Hit{at(Click, 0, later), at(Click, 1, later+500*ms)},
			machine: []bool{false, false},
		},
		{
			name:    "three links needed: three are",
			cfg:     ClassifierConfig{BurstLinks: 3},
			batch:   []Hit{at(Click, 0, later), at(Click, 1, later+500*ms), at(Click, 2, later+900*ms)},
			machine: []bool{true, true, true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := &fakeSendLog{sent: map[Recipient][]time.Time{ann: {sentAt}, bob: {sentAt}}, clicks: tc.stored}
			c := NewClassifier(tc.cfg, log)
			v, err := c.Classify(context.Background(), tc.batch, tc.held)
			if err != nil {
				t.Fatal(err)
			}
			for k := range tc.batch {
				if v[k].Machine != tc.machine[k] {
					t.Errorf("hit %d (link %d at +%s): %+v, want machine=%v", k, tc.batch[k].LinkID, tc.batch[k].At.Sub(sentAt.Add(later)), v[k], tc.machine[k])
				}
				if v[k].Machine && v[k].Reason != ReasonBurst {
					t.Errorf("hit %d: reason %q, want %q", k, v[k].Reason, ReasonBurst)
				}
			}
		})
	}
}

func TestClassifierLooksUpSendTimesOncePerBatch(t *testing.T) {
	log := &fakeSendLog{sent: map[Recipient][]time.Time{ann: {sentAt}}}
	c := NewClassifier(ClassifierConfig{}, log)
	hits := []Hit{at(Open, 0, time.Hour), at(Click, 1, time.Hour), with(at(Open, 0, time.Hour), func(h *Hit) { h.ContactID = 2 }), with(at(Open, 0, time.Hour), func(h *Hit) { h.Method = "HEAD" })}
	if _, err := c.Classify(context.Background(), hits, nil); err != nil {
		t.Fatal(err)
	}
	if len(log.asked) != 1 || len(log.asked[0]) != 2 {
		t.Fatalf("SentTimes asked %v; want one call for the two recipients not already judged", log.asked)
	}
}

func TestClassifierReportsLookupFailures(t *testing.T) {
	c := NewClassifier(ClassifierConfig{}, &fakeSendLog{err: errors.New("database is down")})
	if _, err := c.Classify(context.Background(), []Hit{at(Click, 1, time.Hour)}, nil); err == nil {
		t.Fatal("a failed lookup was not reported")
	}
}

func TestClassifierKeepsTheOrderOfABatch(t *testing.T) {
	c := NewClassifier(ClassifierConfig{}, nil)
	hits := []Hit{{UserAgent: chromeUA}, {UserAgent: ""}, {UserAgent: firefoxUA, Method: "HEAD"}, {UserAgent: safariUA}}
	want := []bool{false, true, true, false}
	v, err := c.Classify(context.Background(), hits, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range hits {
		if v[i].Machine != want[i] {
			t.Errorf("hit %d: machine = %v, want %v", i, v[i].Machine, want[i])
		}
	}
}

func TestClassifierIgnoresBlankExtraFragments(t *testing.T) {
	// A configured list such as "acme,,  " must not turn every person
	// into a machine.
	c := NewClassifier(ClassifierConfig{ExtraAgents: []string{"", "  ", "acme"}}, nil)
	v, err := c.Classify(context.Background(), []Hit{{Method: "GET", UserAgent: chromeUA}, {Method: "GET", UserAgent: "ACME link check"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v[0].Machine {
		t.Errorf("a browser was classified as a machine: %s", v[0].Reason)
	}
	if !v[1].Machine {
		t.Error("the extra fragment did not match")
	}
}

func TestNetworksClassifyAddresses(t *testing.T) {
	n, err := NewNetworks(DefaultAppleNetworks+", 2620:149::/32", "203.0.113.0/24,198.51.100.7, 17.1.2.0/24")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr string
		want NetClass
	}{
		{"17.0.0.1", NetAppleProxy},
		{"17.255.255.255", NetAppleProxy},
		{"::ffff:17.58.1.2", NetAppleProxy},
		{"2620:149:a:b::1", NetAppleProxy},
		{"16.255.255.255", NetOther},
		{"18.0.0.0", NetOther},
		{"203.0.113.9", NetScanner},
		{"198.51.100.7", NetScanner},
		{"198.51.100.8", NetOther},
		{"17.1.2.3", NetScanner}, // a scanner network inside Apple's wins
		{"2001:db8::1", NetOther},
		{"127.0.0.1", NetOther},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			if got := n.Class(netip.MustParseAddr(tc.addr)); got != tc.want {
				t.Errorf("Class(%s) = %q, want %q", tc.addr, got, tc.want)
			}
		})
	}
	if got := (*Networks)(nil).Class(netip.MustParseAddr("17.0.0.1")); got != NetOther {
		t.Errorf("nil Networks classify as %q", got)
	}
}

func TestNetworksMergeOverlappingRanges(t *testing.T) {
	n, err := NewNetworks("10.0.0.0/16,10.0.128.0/17,10.0.0.0/8,192.168.1.0/24,192.168.1.128/25", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(n.apple) != 2 {
		t.Errorf("%d ranges after merging, want 2: %v", len(n.apple), n.apple)
	}
	for _, a := range []string{"10.0.0.1", "10.200.0.1", "10.255.255.255", "192.168.1.200"} {
		if n.Class(netip.MustParseAddr(a)) != NetAppleProxy {
			t.Errorf("%s is not in the merged ranges", a)
		}
	}
}

func TestNetworksRefuseWhatIsNotARange(t *testing.T) {
	for _, list := range []string{"17.0.0.0/33", "apple", "17.0.0.0/8;18.0.0.0/8", "300.1.1.1"} {
		if _, err := NewNetworks(list, ""); err == nil {
			t.Errorf("NewNetworks(%q) accepted it", list)
		}
		if _, err := NewNetworks("", list); err == nil {
			t.Errorf("NewNetworks(scanner %q) accepted it", list)
		}
	}
	if n, err := NewNetworks(" , ", ""); err != nil || n.Class(netip.MustParseAddr("17.0.0.1")) != NetOther {
		t.Errorf("an empty list: %v", err)
	}
}
