package web

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"herald/contacts"
)

const apiFlow = `{"name": "Tea lovers", "description": "after a tea purchase",
	"trigger": {"type": "event", "event": "tea"},
	"steps": [
		{"type": "send", "message": {"subject": "Hi {{.FirstName | default \"there\"}}", "html_body": "<p>Tea!</p>", "from_email": "shop@example.com"}},
		{"type": "wait", "duration": "1d"},
		{"type": "send", "message": {"subject": "More tea", "html_body": "<p>More</p>", "from_email": "shop@example.com"}}]}`

// TestAutomationsAPILifecycle: create, read, list, change, enable,
// disable and delete a flow through the API, with the statuses and codes
// each step answers.
func TestAutomationsAPILifecycle(t *testing.T) {
	f := newFixture(t)
	code, created := f.api(t, "POST", "/api/automations", apiFlow)
	if code != http.StatusCreated || created["status"] != "draft" || created["name"] != "Tea lovers" || created["last_error"] != "" {
		t.Fatalf("create: %d %v", code, created)
	}
	id := int64(created["id"].(float64))
	steps := created["steps"].([]any)
	first := steps[0].(map[string]any)
	if len(steps) != 3 || first["campaign_id"] == nil || first["message"] != nil {
		t.Fatalf("stored steps: %v", steps)
	}
	trigger := created["trigger"].(map[string]any)
	if trigger["type"] != "event" || trigger["event"] != "tea" || trigger["hour"] != nil {
		t.Fatalf("stored trigger: %v", trigger)
	}
	path := fmt.Sprintf("/api/automations/%d", id)
	tests := []struct {
		name, method, target, body string
		code                       int
		status                     string // of the flow in the answer, if any
	}{
		{"get", "GET", path, "", 200, "draft"},
		{"rename", "PATCH", path, `{"name": "Tea fans"}`, 200, "draft"},
		{"enable", "POST", path + "/enable", "", 200, "active"},
		{"delete while active", "DELETE", path, "", 409, ""},
		{"enable again", "POST", path + "/enable", "", 200, "active"},
		{"disable", "POST", path + "/disable", "", 200, "paused"},
		{"delete", "DELETE", path, "", 204, ""},
		{"get deleted", "GET", path, "", 404, ""},
		{"enable deleted", "POST", path + "/enable", "", 404, ""},
		{"stats of deleted", "GET", path + "/stats", "", 404, ""},
		{"runs of deleted", "GET", path + "/runs", "", 404, ""},
		{"not an id", "GET", "/api/automations/tea", "", 404, ""},
	}
	for _, tc := range tests {
		code, body := f.api(t, tc.method, tc.target, tc.body)
		if code != tc.code || (tc.status != "" && body["status"] != tc.status) {
			t.Fatalf("%s: %d %v, want %d (%s)", tc.name, code, body, tc.code, tc.status)
		}
		if tc.name == "rename" && body["name"] != "Tea fans" {
			t.Fatalf("rename: %v", body)
		}
	}
	code, list := f.api(t, "GET", "/api/automations", "")
	if code != 200 || len(list["data"].([]any)) != 0 || list["next"] != "" {
		t.Fatalf("list after delete: %d %v", code, list)
	}
}

// TestAutomationsAPIStatsAndRuns: after a pass, stats count the runs and
// the runs page lists them newest first, page by page, with their state.
func TestAutomationsAPIStatsAndRuns(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, created := f.api(t, "POST", "/api/automations", apiFlow)
	id := int64(created["id"].(float64))
	if code, body := f.api(t, "POST", fmt.Sprintf("/api/automations/%d/enable", id), ""); code != 200 {
		t.Fatalf("enable: %d %v", code, body)
	}
	now := time.Now().UTC()
	for _, email := range []string{"a@example.com", "b@example.com"} {
		e := email
		c, _, err := f.contacts.Upsert(ctx, contacts.Input{Email: &e})
		if err != nil {
			t.Fatal(err)
		}
		if res, err := f.contacts.RecordEvents(ctx, []contacts.EventInput{{ContactID: c.ID, Type: "tea", OccurredAt: now}}); err != nil || res[0].Err != nil {
			t.Fatalf("event: %v %v", err, res[0].Err)
		}
	}
	if res, err := f.autos.Tick(ctx, now); err != nil || res.Enrolled != 2 || res.Sent != 2 {
		t.Fatalf("pass: %+v %v", res, err)
	}
	code, st := f.api(t, "GET", fmt.Sprintf("/api/automations/%d/stats", id), "")
	if code != 200 || st["active"] != 2.0 || st["deferred"] != 0.0 || st["failing"] != 0.0 || st["done"] != 0.0 {
		t.Fatalf("stats: %d %v", code, st)
	}
	steps := st["steps"].([]any)
	if len(steps) != 3 || steps[2].(map[string]any)["waiting"] != 2.0 {
		t.Fatalf("step stats: %v", steps)
	}

	runs := fmt.Sprintf("/api/automations/%d/runs", id)
	code, page1 := f.api(t, "GET", runs+"?limit=1", "")
	data := page1["data"].([]any)
	if code != 200 || len(data) != 1 || page1["next"] == "" {
		t.Fatalf("first page: %d %v", code, page1)
	}
	run := data[0].(map[string]any)
	if run["email"] != "b@example.com" || run["status"] != "active" || run["state"] != "waiting" || run["steps_done"] != 2.0 || run["next_at"] == nil || run["finished_at"] != nil {
		t.Fatalf("newest run: %v", run)
	}
	code, page2 := f.api(t, "GET", runs+"?limit=1&cursor="+page1["next"].(string), "")
	data = page2["data"].([]any)
	if code != 200 || len(data) != 1 || page2["next"] != "" || data[0].(map[string]any)["email"] != "a@example.com" {
		t.Fatalf("second page: %d %v", code, page2)
	}
	filters := []struct {
		query string
		n     int
	}{{"status=active", 2}, {"status=waiting", -1}, {"status=done", 0}, {"status=deferred", 0}, {"status=failing", 0}}
	for _, fl := range filters {
		code, body := f.api(t, "GET", runs+"?"+fl.query, "")
		if fl.n < 0 {
			if code != 400 || body["error"].(map[string]any)["path"] != "status" {
				t.Errorf("%s: %d %v, want 400 at status", fl.query, code, body)
			}
			continue
		}
		if code != 200 || len(body["data"].([]any)) != fl.n {
			t.Errorf("%s: %d %v, want %d runs", fl.query, code, body, fl.n)
		}
	}
	if code, body := f.api(t, "GET", runs+"?limit=0", ""); code != 400 || body["error"].(map[string]any)["path"] != "limit" {
		t.Errorf("limit 0: %d %v", code, body)
	}
}

// TestAutomationsAPIRefusesBadDefinitionsWithAPath: a 400 names the
// setting at fault.
func TestAutomationsAPIRefusesBadDefinitionsWithAPath(t *testing.T) {
	f := newFixture(t)
	code, camp := f.api(t, "POST", "/api/campaigns", `{"name": "News", "subject": "News", "html_body": "<p>x</p>", "from_email": "a@example.com"}`)
	if code != http.StatusCreated {
		t.Fatalf("campaign: %d %v", code, camp)
	}
	send := `{"type": "send", "message": {"subject": "x", "html_body": "x", "from_email": "a@example.com"}}`
	tests := []struct {
		name, body, path string
	}{
		{"no name", `{"trigger": {"type": "event", "event": "x"}, "steps": [` + send + `]}`, "name"},
		{"unknown key", `{"name": "x", "trigers": {}, "steps": [` + send + `]}`, "trigers"},
		{"no trigger", `{"name": "x", "steps": [` + send + `]}`, "trigger"},
		{"offset as a text", `{"name": "x", "trigger": {"type": "date", "field": "birthday", "offset_days": "3"}, "steps": [` + send + `]}`, "trigger.offset_days"},
		{"segment on a date trigger", `{"name": "x", "trigger": {"type": "date", "field": "birthday", "segment_id": 3}, "steps": [` + send + `]}`, "trigger.segment_id"},
		{"object in where", `{"name": "x", "trigger": {"type": "event", "event": "x", "where": {"a": {}}}, "steps": [` + send + `]}`, "trigger.where.a"},
		{"inactivity range", `{"name": "x", "trigger": {"type": "inactivity", "factor": 1, "max_days": 9999}, "steps": [` + send + `]}`, "trigger.max_days"},
		{"unknown step key", `{"name": "x", "trigger": {"type": "event", "event": "x"}, "steps": [{"type": "send", "mesage": {}}]}`, "steps[0].mesage"},
		{"template error", `{"name": "x", "trigger": {"type": "event", "event": "x"}, "steps": [{"type": "send", "message": {"subject": "{{.Nope}}", "html_body": "x", "from_email": "a@example.com"}}]}`, "steps[0].message.subject"},
		{"regular campaign as a step", fmt.Sprintf(`{"name": "x", "trigger": {"type": "event", "event": "x"}, "steps": [{"type": "send", "campaign_id": %v}]}`, camp["id"]), "steps[0].campaign_id"},
		{"bad exit rule", `{"name": "x", "trigger": {"type": "event", "event": "x"}, "steps": [` + send + `], "exit": {"field": "total_spent", "op": "gt", "value": "lots"}}`, "exit.value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := f.api(t, "POST", "/api/automations", tc.body)
			e, _ := body["error"].(map[string]any)
			if code != http.StatusBadRequest || e["path"] != tc.path || e["message"] == "" {
				t.Fatalf("%d %v, want 400 at %q", code, body, tc.path)
			}
		})
	}
	code, list := f.api(t, "GET", "/api/automations", "")
	if code != 200 || len(list["data"].([]any)) != 0 {
		t.Fatalf("refused flows were stored: %v", list)
	}
	// A PATCH is checked the same way and changes nothing when refused.
	_, created := f.api(t, "POST", "/api/automations", apiFlow)
	path := fmt.Sprintf("/api/automations/%v", created["id"])
	code, body := f.api(t, "PATCH", path, `{"name": "y", "steps": [{"type": "wait", "duration": "1d", "message": {}}]}`)
	if code != 400 || body["error"].(map[string]any)["path"] != "steps[0].message" {
		t.Fatalf("patch: %d %v", code, body)
	}
	if _, got := f.api(t, "GET", path, ""); got["name"] != "Tea lovers" {
		t.Fatalf("refused patch changed the flow: %v", got)
	}
}
