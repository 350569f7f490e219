package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"herald/internal/app"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"herald/campaigns"
	"herald/internal/testenv"
	"herald/outbox"
	"herald/worker"
)

func init() { gin.SetMode(gin.TestMode) }

// testApp is a whole Herald in the test process: web, worker, the embedded
// SMTP capture, on the test's database and Redis.
type testApp struct {
	*app.App
	t       *testing.T
	base    string
	key     string
	client  *http.Client
	stopped bool
	// printed is what Herald printed at its first start (generated
	// credentials).
	printed *bytes.Buffer
}

func startApp(t *testing.T) *testApp {
	t.Helper()
	return startAppWith(t, nil)
}

// startAppWith starts an app whose configuration tweak may change first.
func startAppWith(t *testing.T, tweak func(*app.Config)) *testApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	cfg := &app.Config{
		DatabaseURL: testenv.DatabaseURL(t), RedisURL: testenv.RedisURL(t),
		HTTPAddr: ln.Addr().String(), BaseURL: base, APIKey: "test-api-key",
		AdminEmail: "admin@example.com", AdminPassword: "correct horse",
		WorkerConcurrency: 4, SMTPPool: 4, EmbeddedSMTPAddr: "127.0.0.1:0", EmbeddedRedisAddr: "127.0.0.1:0",
	}
	if tweak != nil {
		tweak(cfg)
	}
	printed := &bytes.Buffer{}
	app, err := app.New(context.Background(), cfg, testenv.Logger(), printed, true, true, app.Options{
		WorkerConfig: worker.Config{RetryDelay: func(int) time.Duration { return 200 * time.Millisecond }, SweepEvery: time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(app.Web.Handler())
	go srv.Serve(ln)
	if err := app.Worker.Start(); err != nil {
		t.Fatal(err)
	}
	ta := &testApp{App: app, t: t, base: base, key: cfg.APIKey, printed: printed, client: &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	t.Cleanup(func() {
		srv.Close()
		app.Worker.Stop()
		app.Close()
	})
	return ta
}

// generatedPassword is the admin password Herald generated and printed.
func (a *testApp) generatedPassword(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`Admin login \(.*\): \S+ / (\S+)`).FindStringSubmatch(a.printed.String())
	if m == nil {
		t.Fatalf("no generated password in %q", a.printed.String())
	}
	return m[1]
}

// call makes an API request and decodes the JSON answer into out.
func (a *testApp) call(method, path string, body any, out any) int {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			r = strings.NewReader(s)
		} else {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		}
	}
	req, _ := http.NewRequest(method, a.base+path, r)
	req.Header.Set("Authorization", "Bearer "+a.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

func (a *testApp) get(url string) (*http.Response, []byte) {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("User-Agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15")
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// eventually waits for an asynchronous outcome (a worker sending, an event
// being written); it fails the test if the outcome never comes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type stats struct {
	Total, Sent, Queued, Failed int
	OpensUnique                 int `json:"opens_unique"`
	ClicksUnique                int `json:"clicks_unique"`
	Unsubscribed                int
}

// TestWalkthroughSendsPersonalisedCampaignAndCountsOpensAndClicks is the
// README's walk-through, through the HTTP API, end to end.
func TestWalkthroughSendsPersonalisedCampaignAndCountsOpensAndClicks(t *testing.T) {
	a := startApp(t)

	// Three contacts, two in the Netherlands, one of them without a name.
	var batch struct {
		Created int
		Data    []struct {
			Status  int
			Contact struct{ ID int64 }
		}
	}
	if code := a.call("POST", "/api/contacts", `[
		{"email": " Anna@Example.COM ", "first_name": "Anna", "country": "nl"},
		{"email": "bram@example.nl", "country": "NL"},
		{"email": "carla@example.es", "first_name": "Carla", "country": "ES"}
	]`, &batch); code != 200 || batch.Created != 3 {
		t.Fatalf("batch create: %d %+v", code, batch)
	}
	annaID := batch.Data[0].Contact.ID

	var seg struct {
		ID          int64
		MemberCount int `json:"member_count"`
	}
	if code := a.call("POST", "/api/segments", `{"name": "Netherlands", "definition": {"field": "country", "op": "eq", "value": "NL"}}`, &seg); code != 201 {
		t.Fatalf("create segment: %d", code)
	}
	if seg.MemberCount != 2 {
		t.Fatalf("segment has %d members, want 2", seg.MemberCount)
	}
	var preview struct {
		Count  int
		Sample []struct{ Email string }
	}
	a.call("POST", "/api/segments/preview", `{"definition": {"field": "country", "op": "eq", "value": "NL"}}`, &preview)
	if preview.Count != 2 || len(preview.Sample) != 2 || preview.Sample[0].Email != "anna@example.com" {
		t.Fatalf("preview = %+v", preview)
	}

	var camp struct {
		ID     int64
		Status string
	}
	code := a.call("POST", "/api/campaigns", map[string]any{
		"name":        "Birthday",
		"subject":     `Happy birthday, {{.FirstName | default "friend"}}!`,
		"html_body":   `<html><body><h1>Happy birthday, {{.FirstName | default "friend"}}!</h1><p><a href="https://shop.example.com/gift?code=BDAY">Your gift</a></p><p><a href="{{.UnsubscribeURL}}">Unsubscribe</a></p></body></html>`,
		"from_name":   "Herald Shop",
		"from_email":  "hello@shop.example.com",
		"segment_ids": []int64{seg.ID},
	}, &camp)
	if code != 201 || camp.Status != "draft" {
		t.Fatalf("create campaign: %d %+v", code, camp)
	}
	if code := a.call("POST", fmt.Sprintf("/api/campaigns/%d/send", camp.ID), nil, &camp); code != 202 {
		t.Fatalf("send: %d", code)
	}
	var st stats
	eventually(t, "both messages sent", func() bool {
		a.call("GET", fmt.Sprintf("/api/campaigns/%d/stats", camp.ID), nil, &st)
		return st.Sent == 2
	})
	eventually(t, "campaign marked sent", func() bool {
		a.call("GET", fmt.Sprintf("/api/campaigns/%d", camp.ID), nil, &camp)
		return camp.Status == "sent"
	})

	// What the SMTP capture received.
	msgs, _, err := a.Outbox.List(context.Background(), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Fatalf("outbox has %d messages, want 2", len(msgs))
	}
	bySubject := map[string]*outbox.Parsed{}
	for _, m := range msgs {
		full, err := a.Outbox.Get(context.Background(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		p, err := outbox.Parse([]byte(full.Raw))
		if err != nil {
			t.Fatal(err)
		}
		bySubject[p.Subject] = p
	}
	anna, bram := bySubject["Happy birthday, Anna!"], bySubject["Happy birthday, friend!"]
	if anna == nil || bram == nil {
		t.Fatalf("subjects = %v, want one personalised and one with the fallback", keys(bySubject))
	}
	if !strings.Contains(anna.To, "anna@example.com") || !strings.Contains(bram.To, "bram@example.nl") {
		t.Fatalf("recipients: %q, %q", anna.To, bram.To)
	}
	for _, p := range []*outbox.Parsed{anna, bram} {
		if p.Header.Get("Message-Id") == "" {
			t.Error("no Message-ID")
		}
		if lu := p.Header.Get("List-Unsubscribe"); !strings.HasPrefix(lu, "<"+a.base+"/u/") {
			t.Errorf("List-Unsubscribe = %q", lu)
		}
		if p.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
			t.Errorf("List-Unsubscribe-Post = %q", p.Header.Get("List-Unsubscribe-Post"))
		}
		if p.Text == "" || p.HTML == "" {
			t.Errorf("parts: %+v", p.Parts)
		}
		if strings.Contains(p.HTML, "shop.example.com") {
			t.Errorf("the shop link was not rewritten:\n%s", p.HTML)
		}
	}
	if !strings.Contains(anna.HTML, "<h1>Happy birthday, Anna!</h1>") || !strings.Contains(bram.HTML, "<h1>Happy birthday, friend!</h1>") {
		t.Fatalf("bodies not personalised:\n%s\n%s", anna.HTML, bram.HTML)
	}
	if !strings.Contains(anna.Text, "Your gift ("+a.base+"/t/c/") {
		t.Errorf("text part lacks the tracked link:\n%s", anna.Text)
	}

	pixel := regexp.MustCompile(`src="(` + regexp.QuoteMeta(a.base) + `/t/o/[^"]+)"`).FindStringSubmatch(anna.HTML)
	click := regexp.MustCompile(`href="(` + regexp.QuoteMeta(a.base) + `/t/c/[^"]+)"`).FindStringSubmatch(anna.HTML)
	unsub := regexp.MustCompile(`href="(` + regexp.QuoteMeta(a.base) + `/u/[^"]+)"`).FindStringSubmatch(anna.HTML)
	if pixel == nil || click == nil || unsub == nil {
		t.Fatalf("tracking URLs missing:\n%s", anna.HTML)
	}

	// A person reads the message a while after it arrives: opens and
	// clicks seconds after sending are scanners' and privacy proxies'.
	if err := a.DB.Model(&campaigns.Delivery{}).Where("campaign_id = ?", camp.ID).Update("sent_at", time.Now().Add(-time.Hour)).Error; err != nil {
		t.Fatal(err)
	}
	resp, body := a.get(pixel[1])
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/gif" || len(body) == 0 {
		t.Fatalf("pixel: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, _ = a.get(click[1])
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://shop.example.com/gift?code=BDAY" {
		t.Fatalf("click: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	tampered := click[1][:len(click[1])-3] + flip(click[1][len(click[1])-3:])
	if resp, _ := a.get(tampered); resp.StatusCode != http.StatusNotFound || resp.Header.Get("Location") != "" {
		t.Fatalf("tampered click: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	eventually(t, "the open and the click counted", func() bool {
		a.call("GET", fmt.Sprintf("/api/campaigns/%d/stats", camp.ID), nil, &st)
		return st.OpensUnique == 1 && st.ClicksUnique == 1
	})
	var contact struct {
		LastOpenAt  *time.Time `json:"last_open_at"`
		LastClickAt *time.Time `json:"last_click_at"`
		Status      string
	}
	a.call("GET", fmt.Sprintf("/api/contacts/%d", annaID), nil, &contact)
	if contact.LastOpenAt == nil || contact.LastClickAt == nil {
		t.Fatalf("roll-ups not updated: %+v", contact)
	}
	var events struct {
		Data []struct {
			Type       string
			CampaignID int64 `json:"campaign_id"`
			Machine    bool
		}
	}
	a.call("GET", fmt.Sprintf("/api/contacts/%d/events", annaID), nil, &events)
	types := map[string]bool{}
	for _, e := range events.Data {
		if e.CampaignID == camp.ID && !e.Machine {
			types[e.Type] = true
		}
	}
	if !types["email.open"] || !types["email.click"] {
		t.Fatalf("events = %+v", events.Data)
	}

	// RFC 8058 one-click unsubscribe: a bare POST, no cookie, no key.
	req, _ := http.NewRequest("POST", unsub[1], strings.NewReader("List-Unsubscribe=One-Click"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 200 {
		t.Fatalf("one-click unsubscribe: %d", r2.StatusCode)
	}
	a.call("GET", fmt.Sprintf("/api/contacts/%d", annaID), nil, &contact)
	if contact.Status != "unsubscribed" {
		t.Fatalf("status after unsubscribe = %q", contact.Status)
	}
	a.call("GET", fmt.Sprintf("/api/campaigns/%d/stats", camp.ID), nil, &st)
	if st.Unsubscribed != 1 {
		t.Fatalf("unsubscribed = %d", st.Unsubscribed)
	}

	// Changing her mind takes the confirmation email, sent through the
	// same SMTP server, and its button.
	post := func(url string) int {
		req, _ := http.NewRequest("POST", url, strings.NewReader(""))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if code := post(unsub[1] + "/resubscribe"); code != 200 {
		t.Fatalf("asking to subscribe again: %d", code)
	}
	a.call("GET", fmt.Sprintf("/api/contacts/%d", annaID), nil, &contact)
	if contact.Status != "unsubscribed" {
		t.Fatalf("status after asking = %q, want unsubscribed until she confirms", contact.Status)
	}
	msgs, _, err = a.Outbox.List(context.Background(), 0, 1)
	if err != nil || len(msgs) != 1 || msgs[0].Subject != "Confirm your subscription" {
		t.Fatalf("latest captured message %+v, %v", msgs, err)
	}
	full, err := a.Outbox.Get(context.Background(), msgs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	confirm, err := outbox.Parse([]byte(full.Raw))
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(regexp.QuoteMeta(a.base) + `/r/[A-Za-z0-9_-]+`).FindString(confirm.Text)
	if link == "" {
		t.Fatalf("no confirmation link in:\n%s", confirm.Text)
	}
	if code := post(link); code != 200 {
		t.Fatalf("confirming: %d", code)
	}
	a.call("GET", fmt.Sprintf("/api/contacts/%d", annaID), nil, &contact)
	if contact.Status != "subscribed" {
		t.Fatalf("status after confirming = %q", contact.Status)
	}
}

func keys(m map[string]*outbox.Parsed) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// flip changes a token's characters into others of the same alphabet.
func flip(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
	}
	return string(b)
}

// TestTemplateErrorsAndBadInputAnswer400WithPath checks the walk-through's
// failure modes: what a newcomer is told when they get something wrong.
func TestTemplateErrorsAndBadInputAnswer400WithPath(t *testing.T) {
	a := startApp(t)
	tests := []struct {
		name, method, path, body string
		code                     int
		errPath, msg             string
	}{
		{"invalid email", "POST", "/api/contacts", `{"email": "not-an-email"}`, 400, "email", "not a valid email address"},
		{"unknown contact field", "POST", "/api/contacts", `{"email": "a@example.com", "firstname": "A"}`, 400, "firstname", "unknown field"},
		{"bad item in a batch", "POST", "/api/contacts", `[{"email": "ok@example.com"}, {"email": "x@example.com", "country": "Nowhere"}]`, 200, "", ""},
		{"segment rule of the wrong type", "POST", "/api/segments", `{"name": "x", "definition": {"all": [{"field": "country", "op": "eq", "value": "NL"}, {"any": [{"field": "total_spent", "op": "gt", "value": "lots"}]}]}}`, 400, "all[1].any[0].value", "expected a number"},
		{"unknown segment field", "POST", "/api/segments/preview", `{"definition": {"field": "shoe", "op": "eq", "value": "x"}}`, 400, "field", "unknown field"},
		{"template syntax error", "POST", "/api/campaigns", `{"name": "x", "subject": "Hi", "from_email": "a@example.com", "html_body": "<p>\n{{.FirstName | }</p>"}`, 400, "html_body", "line 2, column 1"},
		{"unknown template field", "POST", "/api/campaigns", `{"name": "x", "subject": "Hi {{.FirstNmae}}", "from_email": "a@example.com", "html_body": "<p>x</p>"}`, 400, "subject", "did you mean FirstName"},
		{"missing record", "GET", "/api/contacts/999999", ``, 404, "", "not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out struct {
				Error struct{ Message, Path string }
				Data  []struct {
					Status int
					Error  struct{ Message, Path string }
				}
			}
			var body any
			if tc.body != "" {
				body = tc.body
			}
			code := a.call(tc.method, tc.path, body, &out)
			if code != tc.code {
				t.Fatalf("status %d, want %d (%+v)", code, tc.code, out)
			}
			if tc.name == "bad item in a batch" {
				if len(out.Data) != 2 || out.Data[0].Status != 201 || out.Data[1].Status != 400 || out.Data[1].Error.Path != "[1].country" {
					t.Fatalf("batch answer = %+v", out.Data)
				}
				return
			}
			if out.Error.Path != tc.errPath || !strings.Contains(out.Error.Message, tc.msg) {
				t.Fatalf("error = %+v, want path %q and message containing %q", out.Error, tc.errPath, tc.msg)
			}
		})
	}
}

// TestEventsAndEditsMoveContactsInAndOutOfSegments checks live membership:
// no refresh is asked for, yet segments follow purchases and edits.
func TestEventsAndEditsMoveContactsInAndOutOfSegments(t *testing.T) {
	a := startApp(t)
	var c struct{ ID int64 }
	if code := a.call("POST", "/api/contacts", `{"email": "dora@example.com", "country": "DE"}`, &c); code != 201 {
		t.Fatalf("create contact: %d", code)
	}
	type segment struct {
		ID          int64
		MemberCount int `json:"member_count"`
	}
	var big, nl segment
	a.call("POST", "/api/segments", `{"name": "Spent over 100", "definition": {"field": "total_spent", "op": "gt", "value": 100}}`, &big)
	a.call("POST", "/api/segments", `{"name": "NL", "definition": {"field": "country", "op": "eq", "value": "NL"}}`, &nl)
	if big.MemberCount != 0 || nl.MemberCount != 0 {
		t.Fatalf("segments start with members: %+v %+v", big, nl)
	}
	count := func(id int64) int {
		var s segment
		a.call("GET", fmt.Sprintf("/api/segments/%d", id), nil, &s)
		return s.MemberCount
	}
	if code := a.call("POST", "/api/events", `{"email": "dora@example.com", "type": "purchase", "amount": 150.5, "currency": "EUR", "order_id": "A-1"}`, nil); code != 201 {
		t.Fatalf("purchase: %d", code)
	}
	eventually(t, "the buyer entering the segment", func() bool { return count(big.ID) == 1 })
	if code := a.call("PATCH", fmt.Sprintf("/api/contacts/%d", c.ID), `{"country": "NL"}`, nil); code != 200 {
		t.Fatalf("patch: %d", code)
	}
	eventually(t, "the contact entering NL", func() bool { return count(nl.ID) == 1 })
	a.call("PATCH", fmt.Sprintf("/api/contacts/%d", c.ID), `{"country": "BE"}`, nil)
	eventually(t, "the contact leaving NL", func() bool { return count(nl.ID) == 0 })
	var members struct{ Data []struct{ Email string } }
	a.call("GET", fmt.Sprintf("/api/segments/%d/members", big.ID), nil, &members)
	if len(members.Data) != 1 || members.Data[0].Email != "dora@example.com" {
		t.Fatalf("members = %+v", members.Data)
	}
}
