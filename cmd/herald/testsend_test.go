package main

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// A test send reaches the given addresses at once, marked as a test, and
// leaves the campaign as it was: still a draft, with no deliveries and no
// stats, so the real send later reaches every member.
func TestTestSendReachesTheAddressesAndLeavesTheCampaignUntouched(t *testing.T) {
	a := startApp(t)
	if code := a.call("POST", "/api/contacts", `[{"email": "anna@example.com", "first_name": "Anna", "country": "NL"},
		{"email": "bram@example.nl", "country": "NL"}]`, nil); code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("add contacts: %d", code)
	}
	var seg struct{ ID int64 }
	a.call("POST", "/api/segments", `{"name": "NL", "definition": {"field": "country", "op": "eq", "value": "NL"}}`, &seg)
	var c struct {
		ID     int64
		Status string
	}
	a.call("POST", "/api/campaigns", map[string]any{
		"name": "Spring", "subject": `Hello {{.FirstName | default "friend"}}`,
		"html_body":  `<p>Hi {{.FirstName | default "friend"}}, <a href="https://shop.example.com/spring">see</a></p>`,
		"from_email": "news@shop.example.com", "segment_ids": []int64{seg.ID},
	}, &c)

	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"no addresses", `{"emails": []}`, http.StatusBadRequest},
		{"a bad address", `{"emails": ["anna@example.com", "not an address"]}`, http.StatusBadRequest},
		{"a contact and a stranger", `{"emails": ["anna@example.com", "reviewer@agency.example"]}`, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out struct {
				Error struct{ Message, Path string }
			}
			code := a.call("POST", "/api/campaigns/"+strconv.FormatInt(c.ID, 10)+"/test", tc.body, &out)
			if code != tc.status && !(tc.status == http.StatusOK && code == http.StatusAccepted) {
				t.Fatalf("status %d (%+v), want %d", code, out.Error, tc.status)
			}
			if tc.status == http.StatusBadRequest && out.Error.Path == "" {
				t.Errorf("error %+v names no path", out.Error)
			}
		})
	}

	msgs, _, err := a.Outbox.List(t.Context(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range msgs {
		got[m.RcptTo] = m.Subject
	}
	if len(msgs) != 2 || got["anna@example.com"] != "[Test] Hello Anna" || got["reviewer@agency.example"] != "[Test] Hello friend" {
		t.Fatalf("outbox after the test send: %v", got)
	}
	full, err := a.Outbox.Get(t.Context(), msgs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(full.Raw, "/t/c/") || strings.Contains(full.Raw, "List-Unsubscribe:") {
		t.Errorf("a test message carries tracking or an unsubscribe header:\n%s", full.Raw)
	}

	var st stats
	a.call("GET", "/api/campaigns/"+strconv.FormatInt(c.ID, 10)+"/stats", nil, &st)
	var after struct{ Status string }
	a.call("GET", "/api/campaigns/"+strconv.FormatInt(c.ID, 10), nil, &after)
	if st.Total != 0 || st.Sent != 0 || after.Status != "draft" {
		t.Errorf("after the test send: stats %+v, status %s; want nothing counted and a draft", st, after.Status)
	}
}
