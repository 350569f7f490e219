package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"herald/automations"
	"herald/contacts"
)

func TestAutomationPagesListRunsAndSwitchAFlowOnAndOff(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var in automations.Input
	if err := json.Unmarshal([]byte(`{"name": "Win-back <3", "trigger": {"type": "inactivity", "factor": 1.5, "one_time_days": 60},
		"steps": [{"type": "send", "message": {"subject": "We miss you", "html_body": "<p>Hi</p>", "from_email": "x@shop.example.com"}}, {"type": "wait", "duration": "7d"}]}`), &in); err != nil {
		t.Fatal(err)
	}
	flow, err := f.autos.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, e := range []string{"done@example.com", "held@example.com"} {
		ids = append(ids, f.contact(t, e).ID)
	}
	now := time.Now().UTC()
	runs := []automations.Run{
		{AutomationID: flow.ID, ContactID: ids[0], Occurrence: "a", Status: automations.RunDone, StartedAt: now, NextAt: now, FinishedAt: &now},
		{AutomationID: flow.ID, ContactID: ids[1], Occurrence: "a", Status: automations.RunActive, Hold: automations.HoldFailed, Note: "step 1 failed: coupon pool is empty", StartedAt: now, NextAt: now.Add(time.Hour)},
	}
	if err := f.db.Create(&runs).Error; err != nil {
		t.Fatal(err)
	}
	cookie, csrf := f.login(t)
	get := func(path string) (int, string) {
		w := f.do("GET", path, "", map[string]string{"Cookie": cookie.String()})
		return w.Code, w.Body.String()
	}

	code, list := get("/automations")
	if code != 200 || !strings.Contains(list, "Win-back &lt;3") || !strings.Contains(list, `<span class="status draft">draft</span>`) ||
		!strings.Contains(list, `<span class="error">1</span>`) || !strings.Contains(list, `href="/automations/new"`) {
		t.Fatalf("list: %d %s", code, list)
	}
	tests := []struct {
		filter        string
		shows, hidden string
	}{
		{"", "done@example.com", "nobody"},
		{"failing", "held@example.com", "done@example.com"},
		{"done", "done@example.com", "held@example.com"},
		{"nonsense", "held@example.com", "nobody"}, // an unknown filter shows every run
	}
	for _, tc := range tests {
		code, page := get("/automations/" + itoa(flow.ID) + "?runs=" + tc.filter)
		if code != 200 || !strings.Contains(page, tc.shows) || strings.Contains(page, tc.hidden) {
			t.Errorf("runs=%s: %d, want %s shown and %s not", tc.filter, code, tc.shows, tc.hidden)
		}
		if tc.filter == "failing" && !strings.Contains(page, "coupon pool is empty") {
			t.Error("a failing run does not say why")
		}
	}
	if _, page := get("/automations/new"); !strings.Contains(page, "/static/automation-builder.js") || !strings.Contains(page, "/static/segment-builder.js") {
		t.Error("the builder page does not load its scripts")
	}

	post := func(path, token string) *httptest.ResponseRecorder {
		vals := url.Values{"csrf_token": {token}}
		return f.do("POST", path, vals.Encode(), form(vals, cookie))
	}
	if w := post("/automations/"+itoa(flow.ID)+"/enable", "forged"); w.Code != http.StatusForbidden {
		t.Fatalf("enable with a forged token: %d", w.Code)
	}
	if w := post("/automations/"+itoa(flow.ID)+"/enable", csrf); w.Code != http.StatusSeeOther {
		t.Fatalf("enable: %d", w.Code)
	}
	if got, _ := f.autos.Get(ctx, flow.ID); got.Status != automations.AutomationActive {
		t.Fatalf("after enable: %s", got.Status)
	}
	if w := post("/automations/"+itoa(flow.ID)+"/disable", csrf); w.Code != http.StatusSeeOther {
		t.Fatalf("disable: %d", w.Code)
	}
	if got, _ := f.autos.Get(ctx, flow.ID); got.Status != automations.AutomationPaused {
		t.Fatalf("after disable: %s", got.Status)
	}
}

// panelOf cuts the fields and functions panel out of a page.
func panelOf(t *testing.T, page string) string {
	t.Helper()
	i := strings.Index(page, `<aside class="card snippets"`)
	j := strings.Index(page[max(i, 0):], "</aside>")
	if i < 0 || j < 0 {
		t.Fatal("the page has no fields and functions panel")
	}
	return page[i : i+j]
}

func TestAutomationBuilderHasTheCampaignEditorsFieldsPanel(t *testing.T) {
	f := newFixture(t)
	if _, err := f.contacts.CreateField(t.Context(), "shoe_size", contacts.FieldNumber); err != nil {
		t.Fatal(err)
	}
	page := editorSession(t, f)
	_, editor, _ := page("GET", "/campaigns/new", nil)
	want := panelOf(t, editor)
	for _, path := range []string{"/automations/new"} {
		code, body, _ := page("GET", path, nil)
		if code != 200 {
			t.Fatalf("%s: %d", path, code)
		}
		if got := panelOf(t, body); got != want {
			t.Errorf("%s panel differs from the campaign editor's:\n%s\nwant\n%s", path, got, want)
		}
		for _, want := range []string{`data-code="{{.Attr.shoe_size}}"`, `data-code="{{.FirstName | default &#34;friend&#34;}}"`} {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks %s", path, want)
			}
		}
		me, ab := strings.Index(body, `/static/message-editor.js`), strings.Index(body, `/static/automation-builder.js`)
		if me < 0 || ab < me {
			t.Errorf("%s does not load message-editor.js before automation-builder.js", path)
		}
	}
}

func TestAStepsMessagePreviewsAsAContactAndSendsATestFromTheCampaignPreview(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	var in automations.Input
	if err := json.Unmarshal([]byte(`{"name": "Win-back <3", "trigger": {"type": "inactivity", "factor": 1.5, "one_time_days": 60},
		"steps": [{"type": "wait", "duration": "1d"}, {"type": "send", "message": {"subject": "We miss you, {{.FirstName | default \"friend\"}}", "html_body": "<p>Come back, {{.FirstName | default \"friend\"}}</p>", "from_name": "Shop", "from_email": "x@shop.example.com"}}]}`), &in); err != nil {
		t.Fatal(err)
	}
	flow, err := f.autos.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := automations.StepsOf(flow)
	if err != nil || steps[1].CampaignID == 0 {
		t.Fatalf("steps %+v: %v", steps, err)
	}
	msg := itoa(steps[1].CampaignID)
	ana, _, err := f.contacts.Upsert(ctx, contacts.Input{Email: str("ana@example.com"), FirstName: str("Ana")})
	if err != nil {
		t.Fatal(err)
	}
	page := editorSession(t, f)
	base := "/campaigns/" + msg + "/preview"

	code, body, _ := page("GET", base, nil)
	if code != 200 || !strings.Contains(body, `<h1>Preview of step 2</h1>`) || !strings.Contains(body, `href="/automations/`+itoa(flow.ID)+`" dir="auto" id="back-to-flow">Win-back &lt;3</a>`) ||
		!strings.Contains(body, "Come back, friend") || !strings.Contains(body, "whoever its trigger brings in") || strings.Contains(body, "The first contact of the audience") ||
		strings.Contains(body, "/campaigns/"+msg+"/edit") {
		t.Fatalf("preview of the step's message: %d\n%s", code, excerpt(body, "crumbs"))
	}
	_, body, _ = page("GET", base+"?contact="+itoa(ana.ID), nil)
	if !strings.Contains(body, "Come back, Ana") || !strings.Contains(body, `id="preview-subject" dir="auto">We miss you, Ana</div>`) {
		t.Fatalf("preview as Ana:\n%s", excerpt(body, "preview-subject"))
	}

	m := &capturingMailer{}
	f.srv.d.Mailer = m
	code, _, loc := page("POST", "/campaigns/"+msg+"/test", url.Values{"emails": {"ana@example.com"}, "contact": {itoa(ana.ID)}})
	if code != http.StatusSeeOther || loc != base+"?contact="+itoa(ana.ID) || len(m.msgs) != 1 || m.msgs[0].To != "ana@example.com" {
		t.Fatalf("test send: %d to %q, %d sent", code, loc, len(m.msgs))
	}

	// The editor shows the message without an audience it does not
	// have, and leads to the automation that changes it.
	code, body, _ = page("GET", "/campaigns/"+msg+"/edit", nil)
	if code != 200 || !strings.Contains(body, "step 2 of an automation") || !strings.Contains(body, `href="/automations/`+itoa(flow.ID)+`" dir="auto" id="edit-in-flow"`) ||
		strings.Contains(body, `id="audience-card"`) || strings.Contains(body, `name="then"`) {
		t.Fatalf("editor of the step's message: %d\n%s", code, excerpt(body, "alert notice"))
	}
	code, body, _ = page("GET", "/automations/"+itoa(flow.ID), nil)
	if code != 200 || !strings.Contains(body, `id="snippets-panel"`) {
		t.Fatalf("flow page: %d, without the fields panel", code)
	}
}
