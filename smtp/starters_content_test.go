package smtp

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/campaigntest"
	"herald/internal/smtptest"
	"herald/internal/testenv"
	"herald/templates"
)

// The starters as recipients' filters see them: every starter is sent
// through the real path (a campaign made from it, its launch, the sender,
// this package's MIME writer and DKIM signing, an SMTP server) and the
// message that arrives is checked from outside, by SpamAssassin's local
// rules and by dkimpy. Both are Debian packages (spamassassin,
// python3-dkim); where one is missing its check skips, unless
// HERALD_REQUIRE_SPAMASSASSIN or HERALD_REQUIRE_DKIMPY asks for it (CI).

const (
	starterDKIMDomain   = "shop.example.com"
	starterDKIMSelector = "herald"
)

// sentStarters sends one campaign per starter to one contact and returns
// the messages as received, by starter key, and the DKIM key's TXT record.
func sentStarters(t *testing.T) (map[string][]byte, string) {
	t.Helper()
	ctx := context.Background()
	w := campaigntest.NewWorld(t)
	svc := campaigns.NewService(w.DB, w.Contacts, w.Segments, w.Q, nil, campaigns.Config{
		BaseURL: "https://news.shop.example.com", MessageIDDomain: "news.shop.example.com", Log: testenv.Logger(),
	})
	w.Svc = svc
	email, first, last, birthday := "ada.lovelace@example.net", "ada", "Lovelace", "1990-12-10"
	if _, _, err := w.Contacts.Upsert(ctx, contacts.Input{Email: &email, FirstName: &first, LastName: &last, Birthday: &birthday}); err != nil {
		t.Fatal(err)
	}
	seg := w.Segment(t, "Ada", map[string]any{"field": "email", "op": "eq", "value": email})
	for _, pool := range []string{"WINBACK10", "WINBACK20"} {
		codes := make([]string, 10)
		for i := range codes {
			codes[i] = fmt.Sprintf("%s-7Q%02dK", pool, i)
		}
		if _, _, err := svc.AddCoupons(ctx, pool, codes); err != nil {
			t.Fatal(err)
		}
	}
	keyFile, record := dkimKey(t, "rsa")
	srv := smtptest.Start(t, smtptest.Options{})
	m := newMailer(t, Config{DKIM: DKIMConfig{Domain: starterDKIMDomain, Selector: starterDKIMSelector, KeyFile: keyFile}}, srv.URL())
	sender := campaigns.NewSender(svc, m, nil)
	out := map[string][]byte{}
	for _, st := range templates.Starters() {
		key, from, fromName := st.Key, "news@"+starterDKIMDomain, "Example Shop"
		ids := []int64{seg}
		c, err := svc.Create(ctx, campaigns.Input{Template: &key, FromEmail: &from, FromName: &fromName, SegmentIDs: &ids})
		if err != nil {
			t.Fatalf("starter %s: %v", key, err)
		}
		before := srv.Total()
		if _, err := svc.Send(ctx, c.ID, nil); err != nil {
			t.Fatalf("starter %s: %v", key, err)
		}
		w.Drain(t, c.ID, sender)
		msgs := srv.Messages()
		if len(msgs) != before+1 {
			t.Fatalf("starter %s: %d messages arrived, want 1", key, len(msgs)-before)
		}
		out[key] = msgs[len(msgs)-1].Raw
	}
	if dir := os.Getenv("HERALD_STARTER_MESSAGES_DIR"); dir != "" {
		for key, raw := range out {
			if err := os.WriteFile(filepath.Join(dir, key+".eml"), raw, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out, record
}

// tool returns the path of a checker, skipping the test without it
// unless the environment variable require says it must be there.
func tool(t *testing.T, name, require string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv(require) == "1" {
			t.Fatalf("%s is not installed and %s=1 (Debian: apt-get install spamassassin python3-dkim)", name, require)
		}
		t.Skipf("%s is not installed (Debian: apt-get install spamassassin python3-dkim); set %s=1 to require it", name, require)
	}
	return p
}

// spamRule is one line of SpamAssassin's report: " 0.7 HTML_FONT_LOW_CONTRAST ...".
var spamRule = regexp.MustCompile(`(?m)^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s`)

// spamScore runs SpamAssassin's local rules over a message and returns
// its score and the rules that hit with their points.
func spamScore(t *testing.T, bin string, raw []byte) (float64, map[string]float64) {
	t.Helper()
	cmd := exec.Command(bin, "-L", "-t")
	cmd.Stdin = bytes.NewReader(raw)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("spamassassin -L -t: %v\n%s", err, stderr.String())
	}
	status := regexp.MustCompile(`X-Spam-Status: \w+, score=(-?[\d.]+)`).FindSubmatch(out)
	if status == nil {
		t.Fatalf("no X-Spam-Status in the output of spamassassin:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(status[1]), 64)
	rules := map[string]float64{}
	if i := bytes.Index(out, []byte("Content analysis details:")); i >= 0 {
		for _, m := range spamRule.FindAllSubmatch(out[i:], -1) {
			pts, _ := strconv.ParseFloat(string(m[1]), 64)
			rules[string(m[2])] = pts
		}
	}
	return score, rules
}

// TestStartersScoreZeroWithSpamAssassin: no starter trips any of
// SpamAssassin's local rules that count against a message.
func TestStartersScoreZeroWithSpamAssassin(t *testing.T) {
	bin := tool(t, "spamassassin", "HERALD_REQUIRE_SPAMASSASSIN")
	msgs, _ := sentStarters(t)
	if len(msgs) != len(templates.Starters()) || len(msgs) == 0 {
		t.Fatalf("%d messages for %d starters", len(msgs), len(templates.Starters()))
	}
	for key, raw := range msgs {
		t.Run(key, func(t *testing.T) {
			t.Parallel() // about a second each, mostly SpamAssassin loading its rules
			score, rules := spamScore(t, bin, raw)
			var hits []string
			for name, pts := range rules {
				if pts > 0 {
					hits = append(hits, fmt.Sprintf("%s (%.1f)", name, pts))
				}
			}
			if score > 0 || len(hits) > 0 {
				t.Errorf("score %.1f, rules that count against it: %s", score, strings.Join(hits, ", "))
			}
		})
	}
}

// dkimpyVerify checks a message's DKIM signature with dkimpy, answering
// its DNS lookup of the key with the record given.
const dkimpyVerify = `
import sys, dkim
record, name = sys.argv[1].encode(), sys.argv[2].encode()
def dns(n, timeout=5):
    return record if n.rstrip(b".") == name else None
print("verified" if dkim.verify(sys.stdin.buffer.read(), dnsfunc=dns) else "failed")
`

// interpreter is the program a script's #! line names (dkimverify's
// Python, which has the dkim module whatever python3 comes first on PATH).
func interpreter(t *testing.T, script string) string {
	t.Helper()
	b, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(strings.TrimPrefix(line, "#!"))
	if !strings.HasPrefix(line, "#!") || len(fields) == 0 {
		t.Fatalf("%s does not start with #!", script)
	}
	if filepath.Base(fields[0]) == "env" && len(fields) > 1 {
		return fields[1]
	}
	return fields[0]
}

// signedHeaders returns the h= tag of a message's DKIM-Signature.
func signedHeaders(t *testing.T, raw []byte) []string {
	t.Helper()
	head := strings.ReplaceAll(headerOf(raw), "\r\n ", " ")
	for _, line := range strings.Split(head, "\r\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || !strings.EqualFold(name, "DKIM-Signature") {
			continue
		}
		for _, tag := range strings.Split(value, ";") {
			k, v, _ := strings.Cut(tag, "=")
			if strings.TrimSpace(k) == "h" {
				return strings.Split(strings.ReplaceAll(v, " ", ""), ":")
			}
		}
	}
	t.Fatalf("no DKIM-Signature h= tag in\n%s", head)
	return nil
}

// TestBirthdayStarterDKIMVerifiesInDKIMPy: the birthday starter's
// signature verifies in dkimpy and covers both List-Unsubscribe headers
// and Feedback-ID.
func TestBirthdayStarterDKIMVerifiesInDKIMPy(t *testing.T) {
	python := interpreter(t, tool(t, "dkimverify", "HERALD_REQUIRE_DKIMPY"))
	msgs, record := sentStarters(t)
	raw := msgs["birthday"]
	tests := []struct {
		name   string
		raw    []byte
		verify string
	}{
		{"as sent", raw, "verified"},
		{"with its one-click header removed", bytes.Replace(raw, []byte("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"), nil, 1), "failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(python, "-c", dkimpyVerify, record, starterDKIMSelector+"._domainkey."+starterDKIMDomain)
			cmd.Stdin = bytes.NewReader(tt.raw)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("dkimpy: %v\n%s", err, stderr.String())
			}
			if got := strings.TrimSpace(string(out)); got != tt.verify {
				t.Fatalf("dkimpy: %s, want %s\n%s", got, tt.verify, headerOf(tt.raw))
			}
		})
	}
	signed := signedHeaders(t, raw)
	for _, want := range []string{"From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post", "Feedback-ID"} {
		if !containsFold(signed, want) {
			t.Errorf("h= %v does not sign %s", signed, want)
		}
	}
}
