package web

import (
	"net/http"
	"strings"
	"testing"

	"herald/bounces"
)

// A webhook request with a wrong signature is answered 401 with a message
// that names the webhook, and nothing is recorded.
func TestBounceWebhookRefusalNamesTheWebhook(t *testing.T) {
	f := newFixture(t)
	secret := []byte("generic webhook secret")
	deps := f.srv.d
	deps.Bounces = &BounceWebhooks{Recorder: bounces.NewRecorder(f.db, f.contacts, f.camps, nil, bounces.DefaultSoftBouncePolicy),
		Providers: map[string]bounces.Provider{"generic": bounces.Generic{Secret: secret}}}
	srv, err := New(deps, f.srv.cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.h = srv.Handler()
	body := `{"type": "bounce", "hard": true, "email": "noa@example.com"}`
	w := f.do("POST", "/webhooks/bounces/generic", body, genericHeaders([]byte("another secret, not ours"), body))
	want := `{"error":{"message":"the request's signature or credentials do not match those configured for the generic bounce webhook"}}`
	if w.Code != http.StatusUnauthorized || strings.TrimSpace(w.Body.String()) != want {
		t.Fatalf("%d %s, want 401 %s", w.Code, w.Body, want)
	}
}
