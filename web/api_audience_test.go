package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"herald/contacts"
	"herald/segments"
)

func TestAudienceCountsSubscribedMembersLessExcludedSegments(t *testing.T) {
	f := newFixture(t)
	f.spenders(t) // low, mid, top
	ctx := context.Background()
	unsub := "gone@example.com"
	if _, _, err := f.contacts.Upsert(ctx, contacts.Input{Email: &unsub}); err != nil {
		t.Fatal(err)
	}
	seg := func(name string, def string) int64 {
		s, err := f.srv.d.Segments.Create(ctx, segments.Input{Name: &name, Definition: json.RawMessage(def)})
		if err != nil {
			t.Fatal(err)
		}
		return s.ID
	}
	all := seg("everyone", `{"field": "email", "op": "contains", "value": "@"}`)
	big := seg("big spenders", `{"field": "total_spent", "op": "gt", "value": 1000}`)
	gone, _ := f.contacts.GetByEmail(ctx, unsub)
	if _, err := f.contacts.SetStatus(ctx, gone.ID, contacts.Unsubscribed); err != nil {
		t.Fatal(err)
	}
	low, _ := f.contacts.GetByEmail(ctx, "low@example.com")
	tests := []struct {
		name      string
		body      string
		code      int
		count     float64
		first     int64
		errorPath string
	}{
		{"one segment, the unsubscribed left out", fmt.Sprintf(`{"segment_ids": [%d]}`, all), 200, 3, low.ID, ""},
		{"less an excluded segment", fmt.Sprintf(`{"segment_ids": [%d], "exclude_segment_ids": [%d]}`, all, big), 200, 1, low.ID, ""},
		{"two segments overlapping", fmt.Sprintf(`{"segment_ids": [%d, %d]}`, big, all), 200, 3, low.ID, ""},
		{"only the excluded", fmt.Sprintf(`{"segment_ids": [%d], "exclude_segment_ids": [%d]}`, big, all), 200, 0, 0, ""},
		{"no segment", `{"segment_ids": []}`, 200, 0, 0, ""},
		{"unknown segment", fmt.Sprintf(`{"segment_ids": [%d], "exclude_segment_ids": [999]}`, all), 400, 0, 0, "exclude_segment_ids[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := f.api(t, "POST", "/api/campaigns/audience", tc.body)
			if code != tc.code {
				t.Fatalf("%d %v", code, body)
			}
			if tc.code != http.StatusOK {
				if e := body["error"].(map[string]any); e["path"] != tc.errorPath {
					t.Fatalf("error %v, want path %s", e, tc.errorPath)
				}
				return
			}
			if body["count"] != tc.count || int64(body["first_contact_id"].(float64)) != tc.first {
				t.Fatalf("%v, want count %v first %d", body, tc.count, tc.first)
			}
		})
	}
}
