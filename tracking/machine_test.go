package tracking

import (
	"context"
	"testing"
)

const (
	chromeUA  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	safariUA  = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
	firefoxUA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	outlookUA = "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 10.0; Microsoft Outlook 16.0.17928; ms-office; MSOffice 16)"
)

func TestClassifier(t *testing.T) {
	c := NewClassifier([]string{"AcmeGuard"})
	for _, tc := range []struct {
		name        string
		hit         Hit
		wantMachine bool
	}{
		{"Chrome", Hit{Method: "GET", UserAgent: chromeUA}, false},
		{"Safari on an iPhone", Hit{Method: "GET", UserAgent: safariUA}, false},
		{"Firefox", Hit{Method: "GET", UserAgent: firefoxUA}, false},
		{"Outlook", Hit{Method: "GET", UserAgent: outlookUA}, false},
		{"a POST from a browser", Hit{Method: "POST", UserAgent: chromeUA}, false},
		{"HEAD request from a browser", Hit{Method: "HEAD", UserAgent: chromeUA}, true},
		{"empty user agent", Hit{Method: "GET"}, true},
		{"Barracuda", Hit{Method: "GET", UserAgent: "Mozilla/5.0 Barracuda Sentinel"}, true},
		{"Microsoft Safe Links", Hit{Method: "GET", UserAgent: "Mozilla/5.0 SafeLinks/1.0"}, true},
		{"Proofpoint URL Defense", Hit{Method: "GET", UserAgent: "urldefense.proofpoint.com"}, true},
		{"curl", Hit{Method: "GET", UserAgent: "curl/8.5.0"}, true},
		{"python requests", Hit{Method: "GET", UserAgent: "python-requests/2.32.3"}, true},
		{"Go client", Hit{Method: "GET", UserAgent: "Go-http-client/1.1"}, true},
		{"headless Chrome", Hit{Method: "GET", UserAgent: "Mozilla/5.0 HeadlessChrome/120.0.0.0 Safari/537.36"}, true},
		{"Googlebot", Hit{Method: "GET", UserAgent: "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}, true},
		{"Slack unfurling", Hit{Method: "GET", UserAgent: "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"}, true},
		{"an extra fragment, in any case", Hit{Method: "GET", UserAgent: "acmeguard/3 scanner"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := c.Machines(context.Background(), []Hit{tc.hit})
			if len(v) != 1 {
				t.Fatalf("%d verdicts for 1 hit", len(v))
			}
			if v[0].Machine != tc.wantMachine {
				t.Errorf("machine = %v (%s), want %v", v[0].Machine, v[0].Reason, tc.wantMachine)
			}
			if v[0].Machine && v[0].Reason == "" {
				t.Error("a machine verdict without a reason")
			}
			if !v[0].Machine && v[0].Reason != "" {
				t.Errorf("a person with a reason %q", v[0].Reason)
			}
		})
	}
}

func TestClassifierKeepsTheOrderOfABatch(t *testing.T) {
	c := NewClassifier(nil)
	hits := []Hit{{UserAgent: chromeUA}, {UserAgent: ""}, {UserAgent: firefoxUA, Method: "HEAD"}, {UserAgent: safariUA}}
	want := []bool{false, true, true, false}
	v := c.Machines(context.Background(), hits)
	for i := range hits {
		if v[i].Machine != want[i] {
			t.Errorf("hit %d: machine = %v, want %v", i, v[i].Machine, want[i])
		}
	}
}

func TestClassifierIgnoresBlankExtraFragments(t *testing.T) {
	// A configured list such as "acme,,  " must not turn every person
	// into a machine.
	c := NewClassifier([]string{"", "  ", "acme"})
	v := c.Machines(context.Background(), []Hit{{Method: "GET", UserAgent: chromeUA}, {Method: "GET", UserAgent: "ACME link check"}})
	if v[0].Machine {
		t.Errorf("a browser was classified as a machine: %s", v[0].Reason)
	}
	if !v[1].Machine {
		t.Error("the extra fragment did not match")
	}
}
