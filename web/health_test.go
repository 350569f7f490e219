package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthzSaysDegradedWithoutRedisAndUnavailableWithoutTheDatabase(t *testing.T) {
	up := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("dial tcp 10.0.0.5:6379: connection refused") }
	tests := []struct {
		name         string
		db, redis    func(context.Context) error
		wantCode     int
		wantStatus   string
		wantDatabase string
		wantRedis    string
	}{
		{"both answer", up, up, http.StatusOK, "ok", "ok", "ok"},
		{"Redis is down: pages and reads still work", up, down, http.StatusOK, "degraded", "ok", "down"},
		{"the database is down", down, up, http.StatusServiceUnavailable, "unavailable", "down", "ok"},
		{"both are down", down, down, http.StatusServiceUnavailable, "unavailable", "down", "down"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.srv.d.Health = []HealthCheck{
				{Name: "database", Critical: true, Check: tc.db},
				{Name: "redis", Check: tc.redis},
			}
			w := httptest.NewRecorder()
			f.h.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
			var body struct {
				Status string            `json:"status"`
				Checks map[string]string `json:"checks"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			if w.Code != tc.wantCode || body.Status != tc.wantStatus || body.Checks["database"] != tc.wantDatabase || body.Checks["redis"] != tc.wantRedis {
				t.Errorf("healthz = %d %+v, want %d %s database=%s redis=%s", w.Code, body, tc.wantCode, tc.wantStatus, tc.wantDatabase, tc.wantRedis)
			}
			if want := "connection refused"; strings.Contains(w.Body.String(), want) {
				t.Errorf("healthz shows the internal reason %q to anyone: %s", want, w.Body)
			}
		})
	}
}
