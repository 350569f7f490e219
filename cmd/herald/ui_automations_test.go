package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestBrowserBuildTheWinBackFlowByClicking builds the README's two-step
// win-back automation in the flow builder (steps added out of order,
// moved, one removed; a bad sender address refused on its step), enables
// it, and after a pass of the engine sees the lapsed customer's run and
// the message in the Outbox.
func TestBrowserBuildTheWinBackFlowByClicking(t *testing.T) {
	a := startApp(t)
	if code := a.call("POST", "/api/contacts", `[{"email": "lapsed@example.com", "first_name": "Ana"}, {"email": "regular@example.com", "first_name": "Rui"}]`, nil); code != 200 {
		t.Fatalf("contacts: %d", code)
	}
	old := time.Now().Add(-70 * 24 * time.Hour).UTC().Format(time.RFC3339)
	recent := time.Now().Add(-5 * 24 * time.Hour).UTC().Format(time.RFC3339)
	if code := a.call("POST", "/api/events", []map[string]any{
		{"email": "lapsed@example.com", "type": "purchase", "amount": 40, "order_id": "L-1", "occurred_at": old},
		{"email": "regular@example.com", "type": "purchase", "amount": 25, "order_id": "R-1", "occurred_at": recent},
	}, nil); code != 200 {
		t.Fatalf("events: %d", code)
	}
	if code := a.call("POST", "/api/coupons/WINBACK10", `{"codes": ["WB-1", "WB-2"]}`, nil); code != 200 {
		t.Fatalf("coupons: %d", code)
	}

	b := newBrowser(t, a)
	b.login()
	b.open("/automations")
	b.click(`a[href="/automations/new"]`)
	b.waitVisible(`select[name=trigger_type]`)
	b.set(`input[name=name]`, "Win-back")
	b.set(`select[name=trigger_type]`, "inactivity")
	b.waitVisible(`input[name=max_days]`)
	if got := b.value(`input[name=factor]`) + "/" + b.value(`input[name=one_time_days]`); got != "1.5/60" {
		t.Errorf("inactivity defaults %s, want 1.5/60", got)
	}
	b.set(`input[name=max_days]`, "180")

	// Send, exit-if, wait, another wait: then the exit-if moves below the
	// first wait and the extra wait is removed.
	b.click(`button[data-add=send]`)
	b.set(`li[data-step="0"] select.starter`, "winback")
	b.set(`li[data-step="0"] input[name=from_email]`, "hello@shop.example.com")
	b.click(`button[data-add=exit_if]`)
	b.click(`button[data-add=wait]`)
	b.click(`button[data-add=wait]`)
	b.click(`button[aria-label="Move step 3 up"]`)
	b.click(`li[data-step="3"] button.danger`)
	b.confirm("Remove step 4")
	b.click(`button[data-add=send]`)
	b.set(`li[data-step="3"] select.starter`, "lapsed")
	b.set(`li[data-step="3"] input[name=from_email]`, "not an address")
	if got := eval[[]string](b, `[...document.querySelectorAll("li.flow-step")].map(li => li.className)`); strings.Join(got, ",") != "flow-step step-send,flow-step step-wait,flow-step step-exit_if,flow-step step-send" {
		t.Fatalf("steps %v, want send, wait, exit_if, send", got)
	}
	b.screenshot("builder")
	b.click(`#flow-save`)
	b.waitVisible(`li[data-step="3"].has-error`)
	if got := b.text(`#flow-error`); !strings.Contains(got, "Step 4") {
		t.Errorf("error box: %q", got)
	}
	if got := b.text(`li[data-step="3"] label[data-key="message.from_email"] .field-error`); got == "" {
		t.Error("the bad address has no error beside it")
	}
	b.screenshot("builder-error")
	b.set(`li[data-step="3"] input[name=from_email]`, "hello@shop.example.com")

	// A template error is shown on its line of the step's body.
	const body4 = `li[data-step="3"] textarea[name=html_body]`
	b.set(body4, "<p>Hello , it has been a while.</p>\n<p>{{.FirstName | nosuchfunc}}</p>")
	b.click(`#flow-save`)
	if got := b.waitText(`#flow-error`, `line 2, column \d+`); !strings.Contains(got, "Step 4: Message (HTML), line 2") {
		t.Errorf("template error box: %q", got)
	}
	if got := b.text(`li[data-step="3"] .gutter .bad`); got != "2" {
		t.Errorf("marked line %q, want 2", got)
	}
	if got := eval[int](b, `(() => { const t = document.querySelector('`+body4+`'); return t.value.slice(0, t.selectionStart).split("\n").length; })()`); got != 2 {
		t.Errorf("cursor on line %d, want 2", got)
	}
	b.screenshot("builder-template-error")

	// The fields panel inserts the first name at the cursor of the step's body.
	b.set(body4, "<p>Hello , it has been a while.</p>")
	b.js(`(() => { const t = document.querySelector('` + body4 + `'); t.focus(); t.setSelectionRange(9, 9); })()`)
	if got := b.text(`#insert-target`); got != "step 4’s message" {
		t.Errorf("panel inserts into %q", got)
	}
	b.click(`#snippets-panel button.snippet[data-code^="{{.FirstName"]`)
	if got := b.value(body4); got != `<p>Hello {{.FirstName | default "friend"}}, it has been a while.</p>` {
		t.Errorf("step 4 body after the insert: %q", got)
	}
	b.click(`#flow-save`)
	b.waitVisible(`form[action$="/enable"]`)
	if bad := b.overflows(); len(bad) > 0 {
		t.Errorf("flow page at 390 px: %v", bad)
	}

	var flows struct {
		Data []struct {
			ID      int64
			Status  string
			Trigger map[string]any
			Steps   []map[string]any
		}
	}
	a.call("GET", "/api/automations", nil, &flows)
	if len(flows.Data) != 1 {
		t.Fatalf("automations: %+v", flows)
	}
	f := flows.Data[0]
	if f.Trigger["type"] != "inactivity" || f.Trigger["factor"] != 1.5 || f.Trigger["one_time_days"] != 60.0 || f.Trigger["max_days"] != 180.0 {
		t.Errorf("trigger %v", f.Trigger)
	}
	if len(f.Steps) != 4 || f.Steps[1]["duration"] != "7d" || fmt.Sprint(f.Steps[2]["definition"]) != "map[field:last_purchase_at op:after value:$flow_start]" {
		t.Fatalf("steps %v", f.Steps)
	}

	// Each saved send step previews as a chosen contact on the campaign
	// preview page, which leads back to the automation.
	b.waitVisible(`li[data-step="3"] a[href$="/preview"]`)
	b.click(`li[data-step="3"] a[href$="/preview"]`)
	b.waitVisible(`#contact-search`)
	b.set(`#contact-search`, "lapsed")
	b.waitVisible(`#contact-results a`)
	b.click(`#contact-results a`)
	b.waitText(`.who-name`, "^Ana$")
	if got := eval[string](b, `document.getElementById("preview-frame").srcdoc`); !strings.Contains(got, "Hello Ana, it has been a while.") {
		t.Errorf("step 4 previewed as Ana: %q", got)
	}
	b.screenshot("step-preview")
	if bad := b.overflows(); len(bad) > 0 {
		t.Errorf("step preview at 390 px: %v", bad)
	}
	b.click(`#back-to-flow`)
	b.click(`form[action$="/enable"] button`)
	b.confirm("Enable Win-back")
	b.waitText("h1 .status", "^active$")
	if _, err := a.Automations.Tick(context.Background(), time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the win-back message in the Outbox", func() bool {
		msgs, _, err := a.Outbox.List(context.Background(), 0, 10)
		return err == nil && len(msgs) == 1 && strings.Contains(msgs[0].RcptTo, "lapsed@example.com")
	})
	b.open(fmt.Sprintf("/automations/%d?runs=active", f.ID))
	b.waitVisible(`table.runs`)
	if got := b.text(`table.runs tbody`); !strings.Contains(got, "lapsed@example.com") || strings.Contains(got, "regular@") || !strings.Contains(got, "waiting") {
		t.Errorf("active runs: %q", got)
	}
	if got := b.text(`.flow-stats`); !strings.Contains(got, "1\nenrolled") {
		t.Errorf("stats: %q", got)
	}
	b.screenshot("flow")
	b.open(fmt.Sprintf("/automations/%d?runs=failing", f.ID))
	b.waitText(`#runs .empty`, "No failing runs")
	b.open("/automations")
	if got := b.text(`table.automations tbody`); !strings.Contains(got, "Win-back") || !strings.Contains(got, "active") {
		t.Errorf("list: %q", got)
	}
	b.screenshot("automations")
}

// TestBrowserEventFlowWithAPropertyFilterAndAnExitRule builds an event
// automation with a numeric property filter and an exit-if step written
// with the segment rule editor.
func TestBrowserEventFlowWithAPropertyFilterAndAnExitRule(t *testing.T) {
	a := startApp(t)
	b := newBrowser(t, a)
	b.login()
	b.open("/automations/new")
	b.waitVisible(`select[name=trigger_type]`)
	b.set(`input[name=name]`, "Big order thanks")
	b.set(`select[name=trigger_type]`, "event")
	b.set(`input[name=event]`, "purchase")
	b.click(`.where-list > button`)
	b.set(`input.where-key`, "items")
	b.set(`input.where-value`, "3")
	b.set(`select.where-type`, "number")
	b.click(`button[data-add=send]`)
	b.set(`li[data-step="0"] input[name=subject]`, `Thanks, {{.FirstName | default "friend"}}`)
	b.set(`li[data-step="0"] textarea[name=html_body]`, `<p>Thank you!</p>`)
	b.set(`li[data-step="0"] input[name=from_email]`, "hello@shop.example.com")
	b.click(`button[data-add=exit_if]`)
	b.click(`li[data-step="1"] input[value=rule]`)
	b.waitVisible(`li[data-step="1"] .sb-add-rule`)
	b.click(`li[data-step="1"] .sb-add-rule`)
	b.waitVisible(`li[data-step="1"] select.sb-field`)
	b.screenshot("event-builder")
	b.click(`#flow-save`)
	b.waitVisible(`form[action$="/enable"]`)
	var flows struct {
		Data []struct {
			Trigger map[string]any
			Steps   []map[string]any
		}
	}
	a.call("GET", "/api/automations", nil, &flows)
	if len(flows.Data) != 1 || len(flows.Data[0].Steps) != 2 {
		t.Fatalf("automations: %+v", flows)
	}
	// The filter is the number 3, which an event's "items": 3 matches.
	if got := flows.Data[0].Trigger["where"]; fmt.Sprint(got) != "map[items:3]" || fmt.Sprintf("%T", got.(map[string]any)["items"]) != "float64" {
		t.Errorf("where = %#v", got)
	}
	if got := fmt.Sprint(flows.Data[0].Steps[1]["definition"]); got != "map[all:[map[field:email op:eq value:]]]" {
		t.Errorf("exit rule from the rule editor: %s", got)
	}
}
