package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"herald/contacts"
	"herald/internal/login"
	"herald/internal/settings"
	"herald/internal/testenv"
)

func form(vals url.Values, cookie *http.Cookie) map[string]string {
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	if cookie != nil {
		h["Cookie"] = cookie.String()
	}
	return h
}

func TestLoginGoesBackOnlyToPathsOfThisSite(t *testing.T) {
	tests := []struct {
		next, want string
	}{
		{"/contacts?q=ann", "/contacts?q=ann"},
		{"/segments/3", "/segments/3"},
		{"", "/dashboard"},
		{"//evil.example/x", "/dashboard"},
		{"/\\evil.example", "/dashboard"},
		{"https://evil.example/", "/dashboard"},
		{"javascript:alert(1)", "/dashboard"},
		{"/ok\r\nSet-Cookie: x=y", "/dashboard"},
	}
	f := newFixture(t)
	for _, tc := range tests {
		t.Run(tc.next, func(t *testing.T) {
			vals := url.Values{"email": {"admin@example.com"}, "password": {"secret pw"}, "next": {tc.next}}
			w := f.do("POST", "/login", vals.Encode(), form(vals, nil))
			if w.Code != http.StatusSeeOther || w.Header().Get("Location") != tc.want {
				t.Fatalf("%d to %q, want %q", w.Code, w.Header().Get("Location"), tc.want)
			}
		})
	}
}

func TestTimelineCursorRoundTripsAndIgnoresGarbage(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 30, 0, 123456789, time.UTC)
	for _, tc := range []timelineCursor{
		{At: at, EventID: 17, Delivery: math.MaxInt64},
		{At: at, EventID: math.MaxInt64, Delivery: 4},
	} {
		got := parseTimelineCursor(tc.String())
		if !got.At.Equal(tc.At) || got.EventID != tc.EventID || got.Delivery != tc.Delivery {
			t.Errorf("%s parsed as %+v, want %+v", tc, got, tc)
		}
	}
	for _, bad := range []string{"", "x", "1.2", "a.b.c", "-5.1.1", "0.1.1", "1.2.3.4"} {
		if got := parseTimelineCursor(bad); !got.At.IsZero() {
			t.Errorf("%q parsed as %+v, want the first page", bad, got)
		}
	}
}

func TestTimelinePagesThroughEventsAndDeliveriesSharingATime(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, ct := f.sentCampaign(t)
	if err := f.camps.Launch(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	// Thirty events at one single instant: the pages must neither repeat
	// nor skip any of them.
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	var ins []contacts.EventInput
	for range 30 {
		ins = append(ins, contacts.EventInput{ContactID: ct.ID, Type: "visit", OccurredAt: at})
	}
	if _, err := f.contacts.RecordEvents(ctx, ins); err != nil {
		t.Fatal(err)
	}
	cookie, _ := f.login(t)
	seen := map[string]int{}
	path := "/contacts/" + itoa(ct.ID)
	total := 0
	for page := 0; page < 5 && path != ""; page++ {
		w := f.do("GET", path, "", map[string]string{"Cookie": cookie.String()})
		if w.Code != 200 {
			t.Fatalf("%s: %d", path, w.Code)
		}
		body := w.Body.String()
		total += strings.Count(body, `<li class="visit">`) + strings.Count(body, `<li class="email">`)
		seen["email"] += strings.Count(body, `<li class="email">`)
		path = ""
		if i := strings.Index(body, `?before=`); i >= 0 {
			j := strings.IndexByte(body[i:], '#')
			path = "/contacts/" + itoa(ct.ID) + body[i:i+j]
		}
	}
	if total != 31 || seen["email"] != 1 {
		t.Fatalf("the timeline showed %d lines (%d deliveries), want 30 visits and 1 delivery", total, seen["email"])
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestFlashShowsOnlyHeraldsOwnSignedWords(t *testing.T) {
	f := newFixture(t)
	cookie, _ := f.login(t)
	forged := &http.Cookie{Name: flashCookie, Value: url.QueryEscape("Your account is locked, call +1 555")}
	w := f.do("GET", "/dashboard", "", map[string]string{"Cookie": cookie.String() + "; " + forged.String()})
	if strings.Contains(w.Body.String(), "account is locked") {
		t.Fatal("an unsigned flash cookie was shown")
	}
	signed := &http.Cookie{Name: flashCookie, Value: url.QueryEscape("Saved.") + "." + f.srv.sign("flash", url.QueryEscape("Saved."))}
	w = f.do("GET", "/dashboard", "", map[string]string{"Cookie": cookie.String() + "; " + signed.String()})
	if !strings.Contains(w.Body.String(), `<p class="flash" role="status">Saved.</p>`) {
		t.Fatal("a signed flash was not shown")
	}
}

func TestPagesRunOnlyHeraldsOwnScripts(t *testing.T) {
	f := newFixture(t)
	cookie, _ := f.login(t)
	for _, p := range []string{"/dashboard", "/contacts", "/settings", "/settings/fields", "/automations", "/login"} {
		h := map[string]string{"Cookie": cookie.String()}
		if p == "/login" {
			h = nil
		}
		w := f.do("GET", p, "", h)
		csp := w.Header().Get("Content-Security-Policy")
		if w.Code != 200 || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: %d, CSP %q", p, w.Code, csp)
		}
		if strings.Contains(w.Body.String(), " onclick=") || strings.Contains(w.Body.String(), "javascript:") {
			t.Errorf("%s has inline script handlers", p)
		}
	}
}

func TestStaticFilesAreServedButFoldersAreNotListed(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		path string
		code int
	}{
		{"/static/app.css", 200},
		{"/static/app.js", 200},
		{"/static/", 404},
		{"/static", http.StatusMovedPermanently}, // to /static/, which is not listed
		{"/static/../ui.go", 404},
		{"/static/nope.css", 404},
	} {
		if w := f.do("GET", tc.path, "", nil); w.Code != tc.code {
			t.Errorf("%s: %d, want %d", tc.path, w.Code, tc.code)
		}
	}
}

func TestContactFormKeepsWhatWasTypedAndNamesTheField(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.contacts.CreateField(ctx, "shoe_size", contacts.FieldNumber); err != nil {
		t.Fatal(err)
	}
	email := "dana@example.com"
	ct, _, err := f.contacts.Upsert(ctx, contacts.Input{Email: &email})
	if err != nil {
		t.Fatal(err)
	}
	cookie, csrf := f.login(t)
	tests := []struct {
		name      string
		vals      url.Values
		errorNear string // the input the error follows
		kept      string
	}{
		{"bad country", url.Values{"country": {"XX"}, "city": {"Lisboa"}}, `name="country"`, `value="Lisboa"`},
		{"bad email", url.Values{"email": {"not an email"}}, `name="email"`, `value="not an email"`},
		{"number field with words", url.Values{"attr.shoe_size": {"large"}, "first_name": {"Dana"}}, `name="attr.shoe_size"`, `value="Dana"`},
		{"bad birthday", url.Values{"birthday": {"31-02"}}, `name="birthday"`, `value="31-02"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.vals.Set("csrf_token", csrf)
			w := f.do("POST", "/contacts/"+itoa(ct.ID), tc.vals.Encode(), form(tc.vals, cookie))
			body := w.Body.String()
			if w.Code != http.StatusBadRequest {
				t.Fatalf("%d", w.Code)
			}
			i := strings.Index(body, tc.errorNear)
			if i < 0 || !strings.Contains(body[i:i+400], `class="field-error"`) {
				t.Errorf("no error beside %s", tc.errorNear)
			}
			if !strings.Contains(body, tc.kept) {
				t.Errorf("the typed %s was not kept", tc.kept)
			}
		})
	}
	got, _ := f.contacts.Get(ctx, ct.ID)
	if got.City != "" || got.FirstName != "" {
		t.Fatalf("a refused form changed the contact: %+v", got)
	}
}

func TestANewPasswordEndsEveryOtherSessionAndLogoutEndsItsOwn(t *testing.T) {
	f := newFixture(t)
	g := testenv.DB(t, settings.Migrate)
	st := settings.NewStore(g)
	ctx := context.Background()
	pw, _ := bcrypt.GenerateFromPassword([]byte("first password"), bcrypt.MinCost)
	sum := sha256.Sum256([]byte("key-1"))
	if err := st.Set(ctx, settings.KeyAdminPassword, string(pw)); err != nil {
		t.Fatal(err)
	}
	if err := st.Set(ctx, settings.KeyAPIKeyHash, hex.EncodeToString(sum[:])); err != nil {
		t.Fatal(err)
	}
	creds := settings.NewCredentials(st, nil, nil)
	f.srv.creds = creds

	loginAs := func(pass string) *http.Cookie {
		vals := url.Values{"email": {"admin@example.com"}, "password": {pass}}
		w := f.do("POST", "/login", vals.Encode(), form(vals, nil))
		for _, c := range w.Result().Cookies() {
			if c.Name == sessionCookie && c.Value != "" {
				return c
			}
		}
		t.Fatalf("login with %q: %d", pass, w.Code)
		return nil
	}
	pageOK := func(c *http.Cookie) bool {
		return f.do("GET", "/contacts", "", map[string]string{"Cookie": c.String()}).Code == http.StatusOK
	}
	csrfOf := func(c *http.Cookie) string {
		return f.srv.csrfToken(c.Value)
	}
	laptop, phone := loginAs("first password"), loginAs("first password")
	if !pageOK(laptop) || !pageOK(phone) {
		t.Fatal("fresh sessions refused")
	}

	vals := url.Values{"csrf_token": {csrfOf(laptop)}, "current_password": {"first password"},
		"new_password": {"second password!"}, "confirm_password": {"second password!"}}
	w := f.do("POST", "/settings/password", vals.Encode(), form(vals, laptop))
	if w.Code != http.StatusSeeOther {
		t.Fatalf("change password: %d %s", w.Code, w.Body)
	}
	var renewed *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == sessionCookie {
			renewed = c
		}
	}
	if pageOK(phone) || pageOK(laptop) {
		t.Fatal("a session from before the new password still works")
	}
	if renewed == nil || !pageOK(renewed) {
		t.Fatal("the browser that changed the password was not logged in again")
	}

	// Logging out ends the session on the server, not only in the browser.
	vals = url.Values{"csrf_token": {"wrong"}}
	if w := f.do("POST", "/logout", vals.Encode(), form(vals, renewed)); w.Code != http.StatusForbidden || !pageOK(renewed) {
		t.Fatalf("logout without the CSRF token: %d", w.Code)
	}
	vals = url.Values{"csrf_token": {csrfOf(renewed)}}
	if w := f.do("POST", "/logout", vals.Encode(), form(vals, renewed)); w.Code != http.StatusSeeOther {
		t.Fatalf("logout: %d", w.Code)
	}
	if pageOK(renewed) {
		t.Fatal("the cookie still works after logging out")
	}

	// The API key: a rotated one stops working.
	if w := f.do("GET", "/api/contacts", "", map[string]string{"Authorization": "Bearer key-1"}); w.Code != 200 {
		t.Fatalf("the API key: %d", w.Code)
	}
	if _, err := creds.RotateAPIKey(ctx); err != nil {
		t.Fatal(err)
	}
	if w := f.do("GET", "/api/contacts", "", map[string]string{"Authorization": "Bearer key-1"}); w.Code != http.StatusUnauthorized {
		t.Fatalf("a rotated key answers %d", w.Code)
	}
}

func TestParallelWrongPasswordsAreThrottledBeforeHashing(t *testing.T) {
	f := newFixture(t)
	opt, err := redis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	f.srv.d.Throttle = login.NewThrottle(rdb)

	codes := make(chan int, 20)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vals := url.Values{"email": {"admin@example.com"}, "password": {"guess"}}
			codes <- f.do("POST", "/login", vals.Encode(), form(vals, nil)).Code
		}()
	}
	wg.Wait()
	close(codes)
	n := map[int]int{}
	for c := range codes {
		n[c]++
	}
	if n[http.StatusUnauthorized] != loginPerAddress || n[http.StatusTooManyRequests] != 20-loginPerAddress {
		t.Fatalf("answers %v, want %d wrong-password answers and the rest throttled", n, loginPerAddress)
	}
	vals := url.Values{"email": {"admin@example.com"}, "password": {"secret pw"}}
	w := f.do("POST", "/login", vals.Encode(), form(vals, nil))
	if w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), "Too many login attempts. Try again in 15 minutes.") || w.Header().Get("Retry-After") == "" {
		t.Fatalf("the right password from a throttled address: %d %q", w.Code, w.Header().Get("Retry-After"))
	}
}

func TestPublicFormsRefuseLargeAndMultipartBodies(t *testing.T) {
	f := newFixture(t)
	big := strings.Repeat("x", 200<<10)
	tests := []struct {
		name, path, ctype, body string
		want                    int
	}{
		{"login as multipart", "/login", "multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nadmin@example.com\r\n--b--\r\n", http.StatusUnsupportedMediaType},
		{"login too large", "/login", "application/x-www-form-urlencoded", "email=" + big, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do("POST", tc.path, tc.body, map[string]string{"Content-Type": tc.ctype})
			if w.Code != tc.want {
				t.Fatalf("%d, want %d", w.Code, tc.want)
			}
		})
	}
}

// A signed-in page form is bounded before the session check reads its CSRF
// field: a body past 1 MiB is refused, not parsed into memory.
func TestPageFormsAreBoundedBeforeTheirCSRFFieldIsRead(t *testing.T) {
	f := newFixture(t)
	cookie, csrf := f.login(t)
	tests := []struct {
		name, field string
		pad         int
		ok          bool
	}{
		{"a small form is taken", "points", 10 << 10, true},
		{"a 2 MiB form is refused", "tier", 2 << 20, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The token comes last, so a handler that read the whole
			// body would accept it.
			body := "name=" + tc.field + "&type=number&pad=" + strings.Repeat("x", tc.pad) + "&csrf_token=" + url.QueryEscape(csrf)
			w := f.do("POST", "/settings/fields", body, map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie.String()})
			if got := w.Code == http.StatusSeeOther; got != tc.ok {
				t.Fatalf("POST /settings/fields with %d bytes: %d, want accepted=%v", len(body), w.Code, tc.ok)
			}
		})
	}
}

func TestContactPageShowsThePurchaseRhythmAsANumberOfDays(t *testing.T) {
	f := newFixture(t)
	cookie, _ := f.login(t)
	ct := f.contact(t, "rhythm@example.com")
	if code, a := f.postEvents(t, `[
		{"email": "rhythm@example.com", "type": "purchase", "amount": 10, "order_id": "R-1", "occurred_at": "2026-01-01T10:00:00Z"},
		{"email": "rhythm@example.com", "type": "purchase", "amount": 10, "order_id": "R-2", "occurred_at": "2026-01-11T10:00:00Z"},
		{"email": "rhythm@example.com", "type": "purchase", "amount": 10, "order_id": "R-3", "occurred_at": "2026-01-21T10:00:00Z"}]`); code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("events: %d %+v", code, a)
	}
	page := f.do("GET", "/contacts/"+itoa(ct.ID), "", map[string]string{"Cookie": cookie.String()}).Body.String()
	if !strings.Contains(page, "<dd>10 days on average</dd>") || strings.Contains(page, "%!") {
		i := strings.Index(page, "Buys every")
		t.Fatalf("contact page does not say it buys every 10 days: %q", page[max(i, 0):min(max(i, 0)+120, len(page))])
	}
}
