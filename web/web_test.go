package web

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"

	"herald/automations"
	"herald/campaigns"
	"herald/contacts"
	"herald/internal/login"
	"herald/internal/testenv"
	"herald/outbox"
	"herald/privacy"
	"herald/reports"
	"herald/segments"
	"herald/tracking"
)

func init() { gin.SetMode(gin.TestMode) }

type hits struct {
	mu  sync.Mutex
	got []tracking.Hit
}

func (h *hits) Add(_ context.Context, hit tracking.Hit) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, hit)
	return nil
}

type nopQueue struct{}

func (nopQueue) EnqueueLaunch(context.Context, int64, time.Time) error  { return nil }
func (nopQueue) EnqueueSend(context.Context, int64, int, []int64) error { return nil }
func migrateAll(g *gorm.DB) error {
	for _, m := range []func(*gorm.DB) error{login.Migrate, contacts.Migrate, segments.Migrate, campaigns.Migrate, automations.Migrate, outbox.Migrate} {
		if err := m(g); err != nil {
			return err
		}
	}
	return nil
}

type fixture struct {
	srv      *Server
	h        http.Handler
	hits     *hits
	signer   *tracking.Signer
	contacts *contacts.Store
	camps    *campaigns.Service
	reps     *reports.Service
	autos    *automations.Service
	outbox   *outbox.Store
	db       *gorm.DB
}

const (
	testKey          = "key-for-tests"
	testMetricsToken = "metrics-token-for-tests"
)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, nil)
}

// newFixtureWith is newFixture with a Config changed by edit first.
func newFixtureWith(t *testing.T, edit func(*Config)) *fixture {
	t.Helper()
	g := testenv.DB(t, migrateAll)
	cs := contacts.NewStore(g, contacts.Options{})
	ss := segments.NewService(g, cs, nil, nil)
	signer, _ := tracking.NewSigner([]byte("web test secret, long enough"))
	camps := campaigns.NewService(g, cs, ss, nopQueue{}, signer, campaigns.Config{BaseURL: "https://h.example", Log: testenv.Logger()})
	reps := reports.New(g, camps, cs, reports.Config{})
	autos := automations.NewService(g, cs, ss, camps, reps, automations.Config{Log: testenv.Logger()})
	ob := outbox.NewStore(g)
	h := &hits{}
	sum := sha256.Sum256([]byte(testKey))
	pw, _ := bcrypt.GenerateFromPassword([]byte("secret pw"), bcrypt.MinCost)
	cfg := Config{APIKeySHA256: sum[:], AdminEmail: "admin@example.com", AdminPasswordBcrypt: pw, SessionKey: []byte("0123456789abcdef0123456789abcdef"), BaseURL: "https://h.example", MetricsToken: testMetricsToken}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := New(Deps{Contacts: cs, Segments: ss, Campaigns: camps, Reports: reps, Automations: autos, Signer: signer, Hits: h, Outbox: ob, Log: testenv.Logger(), Sessions: login.NewSessions(g, login.DefaultTTL), Privacy: privacy.NewService(g)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, h: srv.Handler(), hits: h, signer: signer, contacts: cs, camps: camps, reps: reps, autos: autos, outbox: ob, db: g}
}

func (f *fixture) do(method, target, body string, headers map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" && headers["Content-Type"] == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, req)
	return w
}

func TestEveryAPIRouteRequiresAuthentication(t *testing.T) {
	f := newFixture(t)
	routes := f.srv.engine.Routes()
	n := 0
	for _, r := range routes {
		if !strings.HasPrefix(r.Path, "/api/") {
			continue
		}
		n++
		path := strings.ReplaceAll(r.Path, ":id", "1")
		for _, auth := range []string{"", "Bearer wrong-key", "Basic YWRtaW46YWRtaW4="} {
			w := f.do(r.Method, path, `{}`, map[string]string{"Authorization": auth})
			if w.Code != http.StatusUnauthorized {
				t.Errorf("%s %s with %q: %d, want 401", r.Method, r.Path, auth, w.Code)
			}
		}
	}
	if n < 25 {
		t.Fatalf("only %d API routes found", n)
	}
}

func TestAPIKeyOpensTheAPI(t *testing.T) {
	f := newFixture(t)
	w := f.do("GET", "/api/contacts", "", map[string]string{"Authorization": "Bearer " + testKey})
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"data":[]`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

// login returns the session cookie and the CSRF token of the pages.
func (f *fixture) login(t *testing.T) (*http.Cookie, string) {
	t.Helper()
	w := f.do("POST", "/login", url.Values{"email": {"Admin@Example.com"}, "password": {"secret pw"}}.Encode(),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("login: %d", w.Code)
	}
	var cookie *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == sessionCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly {
		t.Fatalf("no http-only session cookie: %+v", w.Result().Cookies())
	}
	page := f.do("GET", "/campaigns", "", map[string]string{"Cookie": cookie.String()})
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(page.Body.String())
	if page.Code != 200 || m == nil {
		t.Fatalf("campaigns page: %d", page.Code)
	}
	return cookie, m[1]
}

func TestSessionUsesTheAPIOnlyWithItsCSRFToken(t *testing.T) {
	f := newFixture(t)
	cookie, csrf := f.login(t)
	body := `{"email": "s@example.com"}`
	tests := []struct {
		name    string
		method  string
		path    string
		headers map[string]string
		code    int
	}{
		{"read with the session", "GET", "/api/contacts", map[string]string{"Cookie": cookie.String()}, 200},
		{"write without the token", "POST", "/api/contacts", map[string]string{"Cookie": cookie.String()}, 403},
		{"write with a wrong token", "POST", "/api/contacts", map[string]string{"Cookie": cookie.String(), csrfHeader: "nope"}, 403},
		{"write with the token", "POST", "/api/contacts", map[string]string{"Cookie": cookie.String(), csrfHeader: csrf}, 201},
		{"forged cookie", "GET", "/api/contacts", map[string]string{"Cookie": sessionCookie + "=" + strings.Replace(cookie.Value, "a", "b", 1) + "x"}, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := ""
			if tc.method == "POST" {
				b = body
			}
			if w := f.do(tc.method, tc.path, b, tc.headers); w.Code != tc.code {
				t.Fatalf("%d, want %d: %s", w.Code, tc.code, w.Body)
			}
		})
	}
}

func TestLoginRefusesWrongPasswordAndPagesNeedASession(t *testing.T) {
	f := newFixture(t)
	w := f.do("POST", "/login", url.Values{"email": {"admin@example.com"}, "password": {"guess"}}.Encode(),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if w.Code != http.StatusUnauthorized || len(w.Result().Cookies()) != 0 {
		t.Fatalf("wrong password: %d, cookies %v", w.Code, w.Result().Cookies())
	}
	for _, p := range []string{"/campaigns", "/outbox", "/outbox/1", "/campaigns/1", "/dashboard", "/contacts", "/contacts/1", "/settings", "/settings/fields", "/automations"} {
		if w := f.do("GET", p, "", nil); w.Code != http.StatusFound || w.Header().Get("Location") != "/login?next="+url.QueryEscape(p) {
			t.Errorf("%s without a session: %d to %q", p, w.Code, w.Header().Get("Location"))
		}
	}
}

func (f *fixture) sentCampaign(t *testing.T) (campaigns.Campaign, contacts.Contact) {
	t.Helper()
	ctx := context.Background()
	email, name := "noa@example.com", "Noa"
	ct, _, err := f.contacts.Upsert(ctx, contacts.Input{Email: &email, FirstName: &name})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(map[string]any{"field": "email", "op": "eq", "value": email})
	segName := "one"
	seg, err := f.srv.d.Segments.Create(ctx, segments.Input{Name: &segName, Definition: raw})
	if err != nil {
		t.Fatal(err)
	}
	cn, subj, html, from := "c", "Hi", `<a href="https://shop.example.com/a">a</a><a href="https://shop.example.com/b">b</a>`, "x@shop.example.com"
	ids := []int64{seg.ID}
	c, err := f.camps.Create(ctx, campaigns.Input{Name: &cn, Subject: &subj, HTMLBody: &html, FromEmail: &from, SegmentIDs: &ids})
	if err != nil {
		t.Fatal(err)
	}
	if c, err = f.camps.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	return c, ct
}

func TestTrackingEndpointsAnswerOnlySignedTokensOfTheirKind(t *testing.T) {
	f := newFixture(t)
	c, ct := f.sentCampaign(t)
	sign := func(k tracking.Kind, link int64) string {
		return f.signer.Sign(tracking.Token{Kind: k, CampaignID: c.ID, ContactID: ct.ID, LinkID: link})
	}
	other, _ := tracking.NewSigner([]byte("somebody else's secret, long enough"))
	tests := []struct {
		name     string
		method   string
		path     string
		code     int
		location string
		hit      tracking.Kind
	}{
		{"open pixel", "GET", "/t/o/" + sign(tracking.Open, 0), 200, "", tracking.Open},
		{"open pixel by HEAD", "HEAD", "/t/o/" + sign(tracking.Open, 0), 200, "", tracking.Open},
		{"click to link 2", "GET", "/t/c/" + sign(tracking.Click, 2), 302, "https://shop.example.com/b", tracking.Click},
		{"click to a link the campaign does not have", "GET", "/t/c/" + sign(tracking.Click, 3), 404, "", 0},
		{"click token used as an open", "GET", "/t/o/" + sign(tracking.Click, 1), 404, "", 0},
		{"open token used as a click", "GET", "/t/c/" + sign(tracking.Open, 0), 404, "", 0},
		{"token signed with another secret", "GET", "/t/c/" + other.Sign(tracking.Token{Kind: tracking.Click, CampaignID: c.ID, ContactID: ct.ID, LinkID: 1}), 404, "", 0},
		{"garbage", "GET", "/t/c/not-a-token", 404, "", 0},
		{"a URL instead of a token", "GET", "/t/c/https:%2F%2Fevil.example", 404, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.hits.got)
			w := f.do(tc.method, tc.path, "", map[string]string{"User-Agent": "Mozilla/5.0"})
			if w.Code != tc.code || w.Header().Get("Location") != tc.location {
				t.Fatalf("%d to %q, want %d to %q", w.Code, w.Header().Get("Location"), tc.code, tc.location)
			}
			recorded := len(f.hits.got) - before
			if tc.hit == 0 && recorded != 0 || tc.hit != 0 && (recorded != 1 || f.hits.got[before].Kind != tc.hit) {
				t.Fatalf("recorded %d hits (%+v)", recorded, f.hits.got[before:])
			}
			if tc.hit != 0 && (f.hits.got[before].ContactID != ct.ID || f.hits.got[before].CampaignID != c.ID) {
				t.Fatalf("hit = %+v", f.hits.got[before])
			}
		})
	}
}

func TestUnsubscribePageAndOneClick(t *testing.T) {
	f := newFixture(t)
	c, ct := f.sentCampaign(t)
	tok := f.signer.Sign(tracking.Token{Kind: tracking.Unsubscribe, CampaignID: c.ID, ContactID: ct.ID})
	ctx := context.Background()

	w := f.do("GET", "/u/"+tok, "", nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "n•••@example.com") || !strings.Contains(w.Body.String(), `<form method="post"`) {
		t.Fatalf("page: %d\n%s", w.Code, w.Body)
	}
	if got, _ := f.contacts.Get(ctx, ct.ID); got.Status != contacts.Subscribed {
		t.Fatal("showing the page unsubscribed the contact")
	}
	w = f.do("POST", "/u/"+tok, "List-Unsubscribe=One-Click", map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if w.Code != 200 {
		t.Fatalf("one-click: %d", w.Code)
	}
	if got, _ := f.contacts.Get(ctx, ct.ID); got.Status != contacts.Unsubscribed {
		t.Fatalf("status = %s", got.Status)
	}
	// A second one-click changes nothing and still answers 200.
	if w := f.do("POST", "/u/"+tok, "List-Unsubscribe=One-Click", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); w.Code != 200 {
		t.Fatalf("second one-click: %d", w.Code)
	}
	// The never-expiring unsubscribe link only asks for a confirmation
	// email; the contact stays unsubscribed until its link is used.
	m := &capturingMailer{}
	f.srv.d.Mailer = m
	w = f.do("POST", "/u/"+tok+"/resubscribe", "", nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "Check your inbox") || len(m.msgs) != 1 || m.msgs[0].To != ct.Email {
		t.Fatalf("resubscribe: %d, %d messages\n%s", w.Code, len(m.msgs), w.Body)
	}
	if got, _ := f.contacts.Get(ctx, ct.ID); got.Status != contacts.Unsubscribed {
		t.Fatalf("status after asking to resubscribe = %s", got.Status)
	}
	if w := f.do("POST", "/u/"+tok+"/resubscribe", "", nil); w.Code != http.StatusTooManyRequests || len(m.msgs) != 1 {
		t.Fatalf("a second request at once: %d, %d messages", w.Code, len(m.msgs))
	}
	link := regexp.MustCompile(`https://h\.example(/r/[A-Za-z0-9_-]+)`).FindStringSubmatch(m.msgs[0].Text)
	if link == nil {
		t.Fatalf("no confirmation link in:\n%s", m.msgs[0].Text)
	}
	if w := f.do("GET", link[1], "", nil); w.Code != 200 || !strings.Contains(w.Body.String(), "Yes, subscribe me again") {
		t.Fatalf("confirmation page: %d\n%s", w.Code, w.Body)
	}
	if got, _ := f.contacts.Get(ctx, ct.ID); got.Status != contacts.Unsubscribed {
		t.Fatal("opening the confirmation link (as a scanner would) subscribed the contact")
	}
	expired := f.signer.Sign(tracking.Token{Kind: tracking.Resubscribe, CampaignID: c.ID, ContactID: ct.ID, Expires: time.Now().Add(-time.Minute).Unix()})
	if w := f.do("POST", "/r/"+expired, "", nil); w.Code != http.StatusGone {
		t.Fatalf("an expired confirmation link: %d", w.Code)
	}
	if w := f.do("POST", "/r/"+tok, "", nil); w.Code != http.StatusNotFound {
		t.Fatalf("the unsubscribe token used as a confirmation: %d", w.Code)
	}
	if got, _ := f.contacts.Get(ctx, ct.ID); got.Status != contacts.Unsubscribed {
		t.Fatalf("status after refused confirmations = %s", got.Status)
	}
	w = f.do("POST", link[1], "", nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "subscribed again") {
		t.Fatalf("confirm: %d\n%s", w.Code, w.Body)
	}
	if got, _ := f.contacts.Get(ctx, ct.ID); got.Status != contacts.Subscribed {
		t.Fatalf("status after confirming = %s", got.Status)
	}
	evs, _ := f.contacts.Events(ctx, ct.ID, 20)
	if evs[0].Type != contacts.EventStatus || evs[0].Properties["by"] != "person" || evs[0].Properties["to"] != "subscribed" {
		t.Fatalf("the latest event is %+v, want the person's resubscription", evs[0])
	}
	if w := f.do("POST", "/u/"+tok[:len(tok)-2]+"xx", "", nil); w.Code != 404 {
		t.Fatalf("tampered unsubscribe token: %d", w.Code)
	}
	st, _ := f.reps.Stats(ctx, c.ID)
	if st.Unsubscribed != 1 {
		t.Fatalf("unsubscribed = %d", st.Unsubscribed)
	}
}

func TestOutboxPageShowsTheCapturedMessageEscaped(t *testing.T) {
	f := newFixture(t)
	cookie, _ := f.login(t)
	raw := "From: a@example.com\r\nTo: b@example.com\r\nSubject: =?UTF-8?B?16nXnNeV150=?=\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n<p>Hello <script>alert(1)</script></p>\r\n"
	if err := f.outbox.Save(context.Background(), "a@example.com", []string{"b@example.com"}, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	list := f.do("GET", "/outbox", "", map[string]string{"Cookie": cookie.String()})
	if list.Code != 200 || !strings.Contains(list.Body.String(), "שלום") {
		t.Fatalf("outbox list: %d\n%s", list.Code, list.Body)
	}
	w := f.do("GET", "/outbox/1", "", map[string]string{"Cookie": cookie.String()})
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, `<iframe class="message" sandbox=`) {
		t.Fatalf("message page: %d\n%s", w.Code, body)
	}
	if strings.Contains(body, "<script>alert(1)</script>") {
		t.Fatal("the message's script reached the page unescaped")
	}
}

// A captured campaign message's page lists the headers a deliverability
// check looks at, Feedback-ID among them, spelled as the standards do.
func TestOutboxPageListsTheDeliverabilityHeaders(t *testing.T) {
	f := newFixture(t)
	cookie, _ := f.login(t)
	raw := "From: a@example.com\r\nTo: b@example.com\r\nSubject: Hi\r\nMessage-Id: <herald.1.2@example.com>\r\n" +
		"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nFeedback-ID: 1:campaign:example.com:herald\r\nContent-Type: text/plain\r\n\r\nHi\r\n"
	if err := f.outbox.Save(context.Background(), "a@example.com", []string{"b@example.com"}, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	body := f.do("GET", "/outbox/1", "", map[string]string{"Cookie": cookie.String()}).Body.String()
	for _, want := range []string{
		`<dt>Message-ID</dt><dd class="mono">&lt;herald.1.2@example.com&gt;</dd>`,
		`<dt>List-Unsubscribe-Post</dt><dd class="mono">List-Unsubscribe=One-Click</dd>`,
		`<dt>Feedback-ID</dt><dd class="mono">1:campaign:example.com:herald</dd>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the message page lacks %s", want)
		}
	}
}

func TestHealthIsPublicAndMetricsNeedTheirToken(t *testing.T) {
	f := newFixture(t)
	if w := f.do("GET", "/healthz", "", nil); w.Code != 200 {
		t.Fatalf("healthz: %d", w.Code)
	}
	f.do("GET", "/api/contacts", "", nil)
	for _, auth := range []string{"", "Bearer wrong", "Bearer " + testKey} {
		if w := f.do("GET", "/metrics", "", map[string]string{"Authorization": auth}); w.Code != http.StatusUnauthorized || strings.Contains(w.Body.String(), "herald_") {
			t.Errorf("metrics with %q: %d\n%s", auth, w.Code, w.Body)
		}
	}
	w := f.do("GET", "/metrics", "", map[string]string{"Authorization": "Bearer " + testMetricsToken})
	if w.Code != 200 || !strings.Contains(w.Body.String(), `herald_http_requests_total{code="401",route="/api/contacts"} 1`) {
		t.Fatalf("metrics: %d\n%s", w.Code, w.Body)
	}
}

func TestMetricsWithoutATokenAreServedOnlyOnTheirOwnAddress(t *testing.T) {
	for _, tc := range []struct {
		name     string
		separate bool
	}{{"no token, no address of their own", false}, {"an address of their own", true}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixtureWith(t, func(c *Config) { c.MetricsToken, c.MetricsSeparate = "", tc.separate })
			if w := f.do("GET", "/metrics", "", nil); w.Code != http.StatusNotFound || strings.Contains(w.Body.String(), "herald_") {
				t.Fatalf("public /metrics: %d\n%s", w.Code, w.Body)
			}
			w := httptest.NewRecorder()
			f.srv.MetricsHandler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
			if w.Code != 200 || !strings.Contains(w.Body.String(), "herald_http_requests_total") {
				t.Fatalf("own address: %d\n%s", w.Code, w.Body)
			}
		})
	}
}
