package web

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"herald/contacts"
)

func (f *fixture) api(t *testing.T, method, target, body string) (int, map[string]any) {
	t.Helper()
	w := f.do(method, target, body, map[string]string{"Authorization": "Bearer " + testKey})
	var out map[string]any
	if w.Body.Len() > 0 {
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, target, w.Code, w.Body, err)
		}
	}
	return w.Code, out
}

// spenders adds three contacts who spent 50, 1500 and 2500 (major units).
func (f *fixture) spenders(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for i, amount := range []int64{5000, 150000, 250000} {
		email := []string{"low@example.com", "mid@example.com", "top@example.com"}[i]
		c, _, err := f.contacts.Upsert(ctx, contacts.Input{Email: &email})
		if err != nil {
			t.Fatal(err)
		}
		res, err := f.contacts.RecordEvents(ctx, []contacts.EventInput{{ContactID: c.ID, Type: contacts.EventPurchase, Amount: amount}})
		if err != nil || res[0].Err != nil {
			t.Fatalf("record purchase: %v %v", err, res[0].Err)
		}
	}
}

func TestSegmentTemplatesAreListedWithTheirParameters(t *testing.T) {
	f := newFixture(t)
	code, body := f.api(t, "GET", "/api/segments/templates", "")
	if code != http.StatusOK {
		t.Fatalf("%d %v", code, body)
	}
	data, _ := body["data"].([]any)
	if len(data) < 18 || body["next"] != "" {
		t.Fatalf("%d templates, next %v: %v", len(data), body["next"], body)
	}
	found := false
	for _, item := range data {
		tpl := item.(map[string]any)
		if tpl["key"] != "high_value" {
			continue
		}
		found = true
		params := tpl["params"].([]any)
		p := params[0].(map[string]any)
		if len(params) != 1 || p["name"] != "min_spent" || p["type"] != "number" || p["default"] != 500.0 || p["description"] == "" {
			t.Errorf("high_value params %v", params)
		}
		if tpl["name"] != "High value" || tpl["description"] == "" {
			t.Errorf("high_value %v", tpl)
		}
	}
	if !found {
		t.Error("high_value is not listed")
	}
}

func TestCreatingASegmentFromATemplateStoresAnEditableDefinition(t *testing.T) {
	f := newFixture(t)
	f.spenders(t)
	for _, tc := range []struct {
		name, body, wantName string
		wantMembers          float64
	}{
		{"with params", `{"template":"high_value","params":{"min_spent":1000}}`, "High value", 2},
		{"with the defaults", `{"template":"high_value"}`, "High value", 2},
		{"with a name", `{"template":"high_value","params":{"min_spent":2000},"name":"Whales"}`, "Whales", 1},
		{"with a top_percent template", `{"template":"top_spenders","params":{"percent":34}}`, "Top spenders", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := f.api(t, "POST", "/api/segments", tc.body)
			if code != http.StatusCreated {
				t.Fatalf("%d %v", code, body)
			}
			if body["name"] != tc.wantName || body["member_count"] != tc.wantMembers {
				t.Errorf("name %v, member_count %v; want %q, %v", body["name"], body["member_count"], tc.wantName, tc.wantMembers)
			}
			def, _ := body["definition"].(map[string]any)
			if def["field"] != "total_spent" {
				t.Errorf("definition %v", body["definition"])
			}
			id := int64(body["id"].(float64))
			code, body = f.api(t, "PATCH", "/api/segments/"+jsonInt(id), `{"definition":{"field":"total_spent","op":"gt","value":10}}`)
			if code != http.StatusOK || body["member_count"] != 3.0 {
				t.Errorf("editing the definition: %d %v", code, body)
			}
		})
	}
}

func TestCreatingFromABadTemplateNamesTheFault(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ name, body, path string }{
		{"unknown template", `{"template":"nope"}`, "template"},
		{"template is not a text", `{"template":5}`, "template"},
		{"text for a number", `{"template":"high_value","params":{"min_spent":"1000"}}`, "params.min_spent"},
		{"negative amount", `{"template":"high_value","params":{"min_spent":-5}}`, "params.min_spent"},
		{"unknown parameter", `{"template":"high_value","params":{"amount":5}}`, "params.amount"},
		{"missing required parameter", `{"template":"signup_source","params":{}}`, "params.source"},
		{"params is not an object", `{"template":"high_value","params":[1]}`, "params"},
		{"params without a template", `{"name":"x","definition":{"all":[]},"params":{"min_spent":5}}`, "params"},
		{"template and definition", `{"template":"repeat_buyers","definition":{"all":[]}}`, "definition"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := f.api(t, "POST", "/api/segments", tc.body)
			if code != http.StatusBadRequest {
				t.Fatalf("%d %v, want 400", code, body)
			}
			e, _ := body["error"].(map[string]any)
			if e["path"] != tc.path || e["message"] == "" {
				t.Errorf("error %v, want the path %q", body["error"], tc.path)
			}
		})
	}
	code, body := f.api(t, "GET", "/api/segments", "")
	if code != http.StatusOK || len(body["data"].([]any)) != 0 {
		t.Errorf("bad templates left segments: %d %v", code, body)
	}
}

func jsonInt(id int64) string {
	b, _ := json.Marshal(id)
	return string(b)
}

// TestCustomFieldsInUseAndBrokenSegmentsAreConflicts checks the answers
// around a custom field that segments read: deleting it is a 409 naming
// the segment; a segment whose field went anyway (deleted unchecked)
// answers its refresh with a 409 that says why, not a 500 or a 400 that
// blames the request.
func TestCustomFieldsInUseAndBrokenSegmentsAreConflicts(t *testing.T) {
	f := newFixture(t)
	code, field := f.api(t, "POST", "/api/custom-fields", `{"name":"vip","type":"bool"}`)
	if code != http.StatusCreated {
		t.Fatalf("create field: %d %v", code, field)
	}
	fieldID := int64(field["id"].(float64))
	code, seg := f.api(t, "POST", "/api/segments", `{"name":"VIPs","definition":{"all":[{"field":"attr.vip","op":"eq","value":true}]}}`)
	if code != http.StatusCreated {
		t.Fatalf("create segment: %d %v", code, seg)
	}
	segID := int64(seg["id"].(float64))

	code, body := f.api(t, "DELETE", "/api/custom-fields/"+jsonInt(fieldID), "")
	msg := errorMessage(body)
	if code != http.StatusConflict || !strings.Contains(msg, `segment `+jsonInt(segID)+` "VIPs"`) {
		t.Errorf("deleting the field in use: %d %v, want 409 naming the segment", code, body)
	}
	if fs, err := f.contacts.ListFields(context.Background()); err != nil || len(fs) != 1 {
		t.Errorf("fields after the refused delete: %v %v", fs, err)
	}

	if err := f.contacts.DeleteField(context.Background(), fieldID); err != nil {
		t.Fatal(err)
	}
	code, body = f.api(t, "POST", "/api/segments/"+jsonInt(segID)+"/refresh", "")
	msg = errorMessage(body)
	if code != http.StatusConflict || !strings.Contains(msg, "no longer compiles") || !strings.Contains(msg, "all[0].field") || strings.HasPrefix(msg, "segments:") {
		t.Errorf("refreshing the broken segment: %d %v, want 409 saying why, with the rule's path", code, body)
	}
}

// errorMessage is the message of an error answer; empty for others.
func errorMessage(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

// TestDefinitionsOverTheValueLimitAre400s checks that a definition whose
// list items would bind more values than a statement may is refused with
// the place where the limit is passed, on both engines alike.
func TestDefinitionsOverTheValueLimitAre400s(t *testing.T) {
	f := newFixture(t)
	list := `{"field":"city","op":"in","value":[` + strings.TrimSuffix(strings.Repeat(`"x",`, 1000), ",") + `]}`
	def := `{"any":[` + strings.TrimSuffix(strings.Repeat(list+",", 11), ",") + `]}`
	for _, tc := range []struct{ method, target, body, path string }{
		{"POST", "/api/segments/preview", `{"definition":` + def + `}`, "any[10].value[0]"},
		{"POST", "/api/segments", `{"name":"big","definition":` + def + `}`, "any[10].value[0]"},
	} {
		code, body := f.api(t, tc.method, tc.target, tc.body)
		e, _ := body["error"].(map[string]any)
		if code != http.StatusBadRequest || e["path"] != tc.path {
			t.Errorf("%s %s: %d %v, want 400 at %s", tc.method, tc.target, code, body, tc.path)
		}
	}
}
