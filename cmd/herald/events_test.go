package main

import (
	"context"
	"herald/internal/app"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"herald/internal/testenv"
)

// TestEventsCreateContactsSettingReachesTheAPI checks the wiring of
// HERALD_EVENTS_CREATE_CONTACTS: an event for an unknown email is refused
// by default and creates the contact when the setting is on.
func TestEventsCreateContactsSettingReachesTheAPI(t *testing.T) {
	for _, tc := range []struct {
		env  string
		code int
	}{
		{"", 400},
		{"false", 400},
		{"true", 201},
	} {
		t.Run("HERALD_EVENTS_CREATE_CONTACTS="+tc.env, func(t *testing.T) {
			t.Setenv("HERALD_EVENTS_CREATE_CONTACTS", tc.env)
			cfg, err := parseConfig("serve", []string{
				"-database-url", testenv.DatabaseURL(t), "-redis-url", testenv.RedisURL(t),
				"-api-key", "events-key", "-admin-password", "events password", "-secret", "events test secret, long enough",
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			app, err := app.New(context.Background(), cfg, testenv.Logger(), io.Discard, true, false, app.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(app.Close)
			req := httptest.NewRequest("POST", "/api/events", strings.NewReader(`{"email": "stranger@example.com", "type": "visit"}`))
			req.Header.Set("Authorization", "Bearer events-key")
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			app.Web.Handler().ServeHTTP(w, req)
			if w.Code != tc.code {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, tc.code)
			}
		})
	}
}
