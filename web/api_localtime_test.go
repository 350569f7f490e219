package web

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"herald/campaigns"
	"herald/segments"
)

// POST /api/campaigns/:id/send takes a local time: bad options are
// refused with the field at fault and nothing stored; good ones are kept
// on the campaign, and its stats count who waits for their hour.
func TestTheSendAPITakesALocalTimeAndRefusesBadOnesByField(t *testing.T) {
	f := newFixture(t)
	c, _ := f.draftForLocalTime(t)
	path := "/api/campaigns/" + strconv.FormatInt(c.ID, 10) + "/send"
	day := time.Now().UTC().AddDate(0, 0, 2).Format(time.DateOnly)
	cases := []struct {
		name, body, path string
	}{
		{"a time that is not one", `{"local_time": "25:00"}`, "local_time"},
		{"an unknown missed choice", `{"local_time": "09:00", "missed": "tomorrow"}`, "missed"},
		{"a date in the past", `{"local_time": "09:00", "local_date": "2020-01-01"}`, "local_date"},
		{"a date without a time", `{"local_date": "` + day + `"}`, "local_time"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := f.api(t, "POST", path, tc.body)
			e, _ := body["error"].(map[string]any)
			if code != http.StatusBadRequest || e["path"] != tc.path || e["message"] == "" {
				t.Fatalf("%d %v, want 400 at %s", code, body, tc.path)
			}
			if cur, _ := f.camps.Get(context.Background(), c.ID); cur.Status != campaigns.CampaignDraft {
				t.Errorf("after a refused send the campaign is %s", cur.Status)
			}
		})
	}
	code, body := f.api(t, "POST", path, `{"local_time": "09:00", "local_date": "`+day+`", "missed": "now"}`)
	if code != http.StatusAccepted || body["status"] != "sending" || body["local_time"] != "09:00" || body["local_date"] != day || body["missed"] != "now" {
		t.Fatalf("%d %v", code, body)
	}
	if err := f.camps.Launch(context.Background(), c.ID); err != nil {
		t.Fatal(err)
	}
	code, body = f.api(t, "GET", "/api/campaigns/"+strconv.FormatInt(c.ID, 10)+"/stats", "")
	if code != http.StatusOK || body["waiting_local_time"] != 1.0 || body["deferred"] != 1.0 || body["queued"] != 0.0 {
		t.Errorf("stats %d: waiting %v, deferred %v, queued %v; want 1, 1, 0", code, body["waiting_local_time"], body["deferred"], body["queued"])
	}
}

// draftForLocalTime makes a draft campaign to one contact in Tokyo.
func (f *fixture) draftForLocalTime(t *testing.T) (campaigns.Campaign, int64) {
	t.Helper()
	ctx := context.Background()
	code, body := f.api(t, "POST", "/api/contacts", `{"email": "kei@example.com", "timezone": "Asia/Tokyo"}`)
	if code != http.StatusCreated {
		t.Fatalf("%d %v", code, body)
	}
	raw, _ := json.Marshal(map[string]any{"field": "email", "op": "eq", "value": "kei@example.com"})
	segName := "kei"
	seg, err := f.srv.d.Segments.Create(ctx, segments.Input{Name: &segName, Definition: raw})
	if err != nil {
		t.Fatal(err)
	}
	cn, subj, html, from := "Morning", "Good morning", `<p>Hi</p>`, "x@shop.example.com"
	ids := []int64{seg.ID}
	c, err := f.camps.Create(ctx, campaigns.Input{Name: &cn, Subject: &subj, HTMLBody: &html, FromEmail: &from, SegmentIDs: &ids})
	if err != nil {
		t.Fatal(err)
	}
	return c, seg.ID
}
