package web

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"herald/campaigns"
)

func TestResendCreatesAFollowUpToNonOpeners(t *testing.T) {
	f := newFixture(t)
	sent, _ := f.sentCampaign(t)
	name, subj, html, from := "draft", "Hi", "<p>Hi</p>", "x@shop.example.com"
	draft, err := f.camps.Create(context.Background(), campaigns.Input{Name: &name, Subject: &subj, HTMLBody: &html, FromEmail: &from})
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("/api/campaigns/%d/resend", sent.ID)
	tests := []struct {
		name, target, body string
		code               int
		path               string
	}{
		{"no subject", url, `{"after_days": 3}`, http.StatusBadRequest, "subject"},
		{"days out of range", url, `{"subject": "Again", "after_days": 0}`, http.StatusBadRequest, "after_days"},
		{"a time that is not one", url, `{"subject": "Again", "send_at": "soon"}`, http.StatusBadRequest, "send_at"},
		{"a field it does not take", url, `{"subject": "Again", "segment_ids": [1]}`, http.StatusBadRequest, ""},
		{"a campaign that was never sent", fmt.Sprintf("/api/campaigns/%d/resend", draft.ID), `{"subject": "Again"}`, http.StatusConflict, ""},
		{"no such campaign", "/api/campaigns/999/resend", `{"subject": "Again"}`, http.StatusNotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := f.api(t, "POST", tc.target, tc.body)
			if code != tc.code {
				t.Fatalf("%d %v, want %d", code, body, tc.code)
			}
			if tc.path != "" {
				if e := body["error"].(map[string]any); e["path"] != tc.path {
					t.Fatalf("error %v, want path %s", e, tc.path)
				}
			}
		})
	}
	var n int64
	f.db.Model(&campaigns.Campaign{}).Where("resend_of IS NOT NULL").Count(&n)
	if n != 0 {
		t.Fatalf("%d follow-ups stored from refused requests", n)
	}

	code, body := f.api(t, "POST", url, `{"subject": "Did you miss this?", "after_days": 3}`)
	if code != http.StatusCreated {
		t.Fatalf("%d %v", code, body)
	}
	wantAt := sent.StartedAt.AddDate(0, 0, 3).UTC().Format(time.RFC3339Nano)
	if body["resend_of"] != float64(sent.ID) || body["status"] != "scheduled" || body["subject"] != "Did you miss this?" ||
		body["name"] != "c (follow-up)" || body["scheduled_at"] != wantAt {
		t.Fatalf("follow-up %v, want resend_of %d, scheduled at %s", body, sent.ID, wantAt)
	}
	code, got := f.api(t, "GET", fmt.Sprintf("/api/campaigns/%v", body["id"]), "")
	if code != http.StatusOK || got["resend_of"] != float64(sent.ID) {
		t.Fatalf("GET: %d %v", code, got)
	}
	if code, got := f.api(t, "GET", fmt.Sprintf("/api/campaigns/%d", sent.ID), ""); code != http.StatusOK || got["resend_of"] != nil {
		t.Fatalf("the original: %d resend_of %v, want null", code, got["resend_of"])
	}
}
