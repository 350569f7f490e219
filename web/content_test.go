package web

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/testenv"
	"herald/segments"
	"herald/templates"
	"herald/tracking"
)

// recordingQueue keeps the send batches a launch enqueues, so a test can
// run them as the worker would.
type recordingQueue struct {
	mu      sync.Mutex
	batches [][]int64
}

func (q *recordingQueue) EnqueueLaunch(context.Context, int64, time.Time) error { return nil }

func (q *recordingQueue) EnqueueSend(_ context.Context, _ int64, _ int, ids []int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.batches = append(q.batches, ids)
	return nil
}

// capturingMailer keeps what the sender sends.
type capturingMailer struct {
	mu   sync.Mutex
	msgs []campaigns.Message
}

func (m *capturingMailer) Send(_ context.Context, msg *campaigns.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, *msg)
	return nil
}

// contentFixture is newFixture with a queue whose batches the test sends.
func contentFixture(t *testing.T) (*fixture, *recordingQueue) {
	t.Helper()
	g := testenv.DB(t, migrateAll)
	cs := contacts.NewStore(g, contacts.Options{})
	ss := segments.NewService(g, cs, nil, nil)
	signer, _ := tracking.NewSigner([]byte("web test secret, long enough"))
	q := &recordingQueue{}
	camps := campaigns.NewService(g, cs, ss, q, signer, campaigns.Config{BaseURL: "https://h.example", Log: testenv.Logger()})
	h := &hits{}
	sum := sha256.Sum256([]byte(testKey))
	pw, _ := bcrypt.GenerateFromPassword([]byte("secret pw"), bcrypt.MinCost)
	srv, err := New(Deps{Contacts: cs, Segments: ss, Campaigns: camps, Signer: signer, Hits: h, Log: testenv.Logger()},
		Config{APIKeySHA256: sum[:], AdminEmail: "admin@example.com", AdminPasswordBcrypt: pw, SessionKey: []byte("0123456789abcdef0123456789abcdef"), BaseURL: "https://h.example"})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, h: srv.Handler(), hits: h, signer: signer, contacts: cs, camps: camps}, q
}

var apiAuth = map[string]string{"Authorization": "Bearer " + testKey}

var webViewURLRe = regexp.MustCompile(`https://h\.example/v/([A-Za-z0-9_.=-]+)`)

func TestWebViewShowsTheMessageTheContactWasSentAndRefusesOtherTokens(t *testing.T) {
	f, q := contentFixture(t)
	ctx := context.Background()
	email, name := "noa@example.com", `Noa <b>`
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
	cn, subj, from := "Spring", "Hi {{.FirstName}}", "news@shop.example.com"
	html := `<html><body><p>Shalom {{.FirstName}}</p><a href="https://shop.example.com/spring">Spring sale</a> <a href="{{.WebViewURL}}">View in browser</a></body></html>`
	ids := []int64{seg.ID}
	c, err := f.camps.Create(ctx, campaigns.Input{Name: &cn, Subject: &subj, HTMLBody: &html, FromEmail: &from, SegmentIDs: &ids})
	if err != nil {
		t.Fatal(err)
	}
	if c, err = f.camps.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.camps.Launch(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	m := &capturingMailer{}
	sender := campaigns.NewSender(f.camps, m, nil)
	for _, batch := range q.batches {
		if err := sender.SendBatch(ctx, c.ID, batch, false); err != nil && !errors.Is(err, campaigns.ErrRetryLater) {
			t.Fatal(err)
		}
	}
	if len(m.msgs) != 1 {
		t.Fatalf("sent %d messages, want 1", len(m.msgs))
	}
	sent := m.msgs[0].HTML
	match := webViewURLRe.FindStringSubmatch(sent)
	if match == nil {
		t.Fatalf("the sent message has no web-view link:\n%s", sent)
	}
	token := match[1]

	w := f.do("GET", "/v/"+token, "", nil)
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("web view: %d %s\n%s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	page := w.Body.String()
	if page != sent {
		t.Errorf("the web view differs from the message sent:\n got %s\nwant %s", page, sent)
	}
	if !strings.Contains(page, "Shalom Noa &lt;b&gt;") || strings.Contains(page, "<b>") {
		t.Errorf("the contact's name is not there escaped:\n%s", page)
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	// Its links are the contact's tracked links and lead where the
	// marketer pointed them.
	click := regexp.MustCompile(`href="https://h\.example(/t/c/[^"]+)"`).FindStringSubmatch(page)
	if click == nil {
		t.Fatalf("no tracked link in the web view:\n%s", page)
	}
	if r := f.do("GET", click[1], "", map[string]string{"User-Agent": "Mozilla/5.0"}); r.Code != http.StatusFound || r.Header().Get("Location") != "https://shop.example.com/spring" {
		t.Errorf("the web view's link: %d to %q", r.Code, r.Header().Get("Location"))
	}

	other, _ := tracking.NewSigner([]byte("somebody else's secret, long enough"))
	// A character in the middle: the last one may hold only padding bits.
	mid := len(token) / 2
	flip := byte('A')
	if token[mid] == 'A' {
		flip = 'B'
	}
	tampered := token[:mid] + string(flip) + token[mid+1:]
	tests := []struct {
		name, token string
	}{
		{"a tampered token", tampered},
		{"a click token", f.signer.Sign(tracking.Token{Kind: tracking.Click, CampaignID: c.ID, ContactID: ct.ID, LinkID: 1})},
		{"a token signed with another secret", other.Sign(tracking.Token{Kind: tracking.View, CampaignID: c.ID, ContactID: ct.ID})},
		{"a campaign that does not exist", f.signer.Sign(tracking.Token{Kind: tracking.View, CampaignID: c.ID + 100, ContactID: ct.ID})},
		{"a contact that does not exist", f.signer.Sign(tracking.Token{Kind: tracking.View, CampaignID: c.ID, ContactID: ct.ID + 100})},
		{"garbage", "not-a-token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do("GET", "/v/"+tc.token, "", nil)
			if w.Code != http.StatusNotFound {
				t.Fatalf("%d, want 404", w.Code)
			}
			if strings.Contains(w.Body.String(), "Shalom") {
				t.Fatalf("the message shows for a bad token: %s", w.Body)
			}
		})
	}
}

func TestTemplatesListsTheSevenStartersWithTheirKeys(t *testing.T) {
	f := newFixture(t)
	w := f.do("GET", "/api/templates", "", apiAuth)
	if w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var body struct {
		Data []struct {
			Key         string   `json:"key"`
			Name        string   `json:"name"`
			Description string   `json:"description"`
			Subject     string   `json:"subject"`
			HTML        string   `json:"html_body"`
			CouponPools []string `json:"coupon_pools"`
		} `json:"data"`
		Next *string `json:"next"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{"welcome", "birthday", "anniversary", "winback", "lapsed", "reengage", "viewed"}
	var keys []string
	for _, s := range body.Data {
		keys = append(keys, s.Key)
	}
	if strings.Join(keys, ",") != strings.Join(wantKeys, ",") {
		t.Fatalf("keys = %v, want %v", keys, wantKeys)
	}
	for _, s := range body.Data {
		st, _ := templates.StarterByKey(s.Key)
		if s.Name != st.Name || s.Description != st.Description || s.Subject != st.Subject || s.HTML != st.HTML || s.Name == "" || s.Description == "" {
			t.Errorf("%s is not the starter as the library has it", s.Key)
		}
		if s.CouponPools == nil || strings.Join(s.CouponPools, ",") != strings.Join(st.CouponPools, ",") {
			t.Errorf("%s coupon_pools = %v, want %v", s.Key, s.CouponPools, st.CouponPools)
		}
	}
	if body.Next == nil || *body.Next != "" {
		t.Errorf("next = %v, want an empty cursor", body.Next)
	}
	if w := f.do("GET", "/api/templates/winback", "", apiAuth); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"key":"winback"`) {
		t.Errorf("one starter: %d %s", w.Code, w.Body)
	}
	if w := f.do("GET", "/api/templates/nope", "", apiAuth); w.Code != http.StatusNotFound {
		t.Errorf("an unknown starter: %d, want 404", w.Code)
	}
}

func TestCampaignStartsFromAStarterTemplate(t *testing.T) {
	f := newFixture(t)
	birthday, _ := templates.StarterByKey("birthday")
	tests := []struct {
		name        string
		body        string
		code        int
		wantName    string
		wantSubject string
		path        string // of the error
	}{
		{"everything from the starter", `{"template": "birthday", "from_email": "hello@shop.example.com"}`, 201, birthday.Name, birthday.Subject, ""},
		{"the marketer's own name and subject win", `{"template": "birthday", "name": "May birthdays", "subject": "Happy birthday, {{.FirstName | default \"you\"}}", "from_email": "hello@shop.example.com"}`, 201, "May birthdays", `Happy birthday, {{.FirstName | default "you"}}`, ""},
		{"an unknown starter", `{"template": "birthdya", "from_email": "hello@shop.example.com"}`, 400, "", "", "template"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do("POST", "/api/campaigns", tc.body, apiAuth)
			if w.Code != tc.code {
				t.Fatalf("%d, want %d: %s", w.Code, tc.code, w.Body)
			}
			if tc.code != 201 {
				var e struct {
					Error struct{ Message, Path string } `json:"error"`
				}
				if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Path != tc.path || !strings.Contains(e.Error.Message, "GET /api/templates") {
					t.Fatalf("error = %s, want one at %q pointing to GET /api/templates", w.Body, tc.path)
				}
				return
			}
			var got struct {
				ID       int64  `json:"id"`
				Name     string `json:"name"`
				Subject  string `json:"subject"`
				HTMLBody string `json:"html_body"`
				Status   string `json:"status"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got.Name != tc.wantName || got.Subject != tc.wantSubject || got.HTMLBody != birthday.HTML || got.Status != "draft" {
				t.Fatalf("campaign = %q / %q / %d bytes of HTML / %s, want %q / %q / the birthday starter's", got.Name, got.Subject, len(got.HTMLBody), got.Status, tc.wantName, tc.wantSubject)
			}
			// The starter's content renders for a contact.
			pv := f.do("POST", fmt.Sprintf("/api/campaigns/%d/preview", got.ID), `{}`, apiAuth)
			if pv.Code != http.StatusOK || !strings.Contains(pv.Body.String(), "Claim my gift") {
				t.Fatalf("preview: %d %.300s", pv.Code, pv.Body)
			}
		})
	}
}
