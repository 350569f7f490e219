package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"herald/contacts"
)

func TestAPIResubscribesOnlyWithAReason(t *testing.T) {
	f := newFixture(t)
	auth := map[string]string{"Authorization": "Bearer " + testKey}
	email := "ann@example.com"
	ct, _, err := f.contacts.Upsert(t.Context(), contacts.Input{Email: &email})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.contacts.SetStatusBy(t.Context(), ct.ID, contacts.Unsubscribed, "person", ""); err != nil {
		t.Fatal(err)
	}
	path := "/api/contacts/" + itoa(ct.ID)
	for _, tc := range []struct {
		name, method, path, body, wantPath string
	}{
		{"PATCH status", "PATCH", path, `{"status": "subscribed"}`, `"path":"status"`},
		{"upsert with status", "POST", "/api/contacts", `{"email": "ann@example.com", "status": "subscribed"}`, `"path":"status"`},
		{"resubscribe without a reason", "POST", path + "/resubscribe", `{}`, `"path":"reason"`},
	} {
		w := f.do(tc.method, tc.path, tc.body, auth)
		if !strings.Contains(w.Body.String(), tc.wantPath) {
			t.Errorf("%s: %d %s", tc.name, w.Code, w.Body)
		}
	}
	if got, _ := f.contacts.Get(t.Context(), ct.ID); got.Status != contacts.Unsubscribed {
		t.Fatalf("status %s after refusals", got.Status)
	}
	w := f.do("POST", path+"/resubscribe", `{"reason": "asked at the counter"}`, auth)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"status":"subscribed"`) {
		t.Fatalf("resubscribe: %d %s", w.Code, w.Body)
	}
}

func TestExportAndEraseThroughTheAPI(t *testing.T) {
	f := newFixture(t)
	auth := map[string]string{"Authorization": "Bearer " + testKey}
	_, ct := f.sentCampaign(t)
	path := "/api/contacts/" + itoa(ct.ID)
	w := f.do("GET", path+"/export", "", auth)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"email":"noa@example.com"`) || !strings.Contains(w.Body.String(), `"deliveries":[`) {
		t.Fatalf("export: %d %s", w.Code, w.Body)
	}
	if w := f.do("POST", path+"/erase", "", auth); w.Code != http.StatusNoContent {
		t.Fatalf("erase: %d %s", w.Code, w.Body)
	}
	if w := f.do("GET", path, "", auth); w.Code != http.StatusNotFound {
		t.Fatalf("the erased contact: %d", w.Code)
	}
	if w := f.do("GET", path+"/export", "", auth); w.Code != http.StatusNotFound {
		t.Fatalf("export after erase: %d", w.Code)
	}
}

func TestTheContactPageSubscribesAgainOnlyWithAReasonAndShowsItOnTheTimeline(t *testing.T) {
	f := newFixture(t)
	email := "eve@example.com"
	ct, _, err := f.contacts.Upsert(t.Context(), contacts.Input{Email: &email})
	if err != nil {
		t.Fatal(err)
	}
	cookie, csrf := f.login(t)
	post := func(vals url.Values) *httptest.ResponseRecorder {
		vals.Set("csrf_token", csrf)
		return f.do("POST", "/contacts/"+itoa(ct.ID)+"/status", vals.Encode(), form(vals, cookie))
	}
	if w := post(url.Values{"action": {"unsubscribe"}}); w.Code != http.StatusSeeOther {
		t.Fatalf("unsubscribe: %d", w.Code)
	}
	if w := post(url.Values{"action": {"resubscribe"}}); w.Code != http.StatusBadRequest {
		t.Fatalf("resubscribe without a reason: %d", w.Code)
	}
	if got, _ := f.contacts.Get(t.Context(), ct.ID); got.Status != contacts.Unsubscribed {
		t.Fatalf("status %s", got.Status)
	}
	if w := post(url.Values{"action": {"resubscribe"}, "reason": {"asked by phone"}}); w.Code != http.StatusSeeOther {
		t.Fatalf("resubscribe with a reason: %d", w.Code)
	}
	page := f.do("GET", "/contacts/"+itoa(ct.ID), "", map[string]string{"Cookie": cookie.String()}).Body.String()
	for _, want := range []string{"Status: unsubscribed → subscribed", "by page: asked by phone", "Status: subscribed → unsubscribed"} {
		if !strings.Contains(page, want) {
			t.Errorf("the timeline lacks %q", want)
		}
	}
}

func TestTheContactPageExportsAndErases(t *testing.T) {
	f := newFixture(t)
	_, ct := f.sentCampaign(t)
	cookie, csrf := f.login(t)
	page := f.do("GET", "/contacts/"+itoa(ct.ID), "", map[string]string{"Cookie": cookie.String()}).Body.String()
	if !strings.Contains(page, `href="/api/contacts/`+itoa(ct.ID)+`/export"`) {
		t.Fatal("the contact page has no export link")
	}
	// The export link works with the page's session.
	if w := f.do("GET", "/api/contacts/"+itoa(ct.ID)+"/export", "", map[string]string{"Cookie": cookie.String()}); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "noa@example.com") {
		t.Fatalf("export with the session: %d", w.Code)
	}
	vals := url.Values{"csrf_token": {csrf}}
	if w := f.do("POST", "/contacts/"+itoa(ct.ID)+"/erase", vals.Encode(), form(vals, cookie)); w.Code != http.StatusSeeOther {
		t.Fatalf("erase: %d", w.Code)
	}
	if _, err := f.contacts.Get(t.Context(), ct.ID); err == nil {
		t.Fatal("the contact is still there")
	}
	if sup, err := f.contacts.Suppressed(t.Context(), []string{"noa@example.com"}); err != nil || sup["noa@example.com"] == "" {
		t.Fatalf("the erased address is not suppressed: %v %v", sup, err)
	}
}
