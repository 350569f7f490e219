package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"herald/segments"
)

// canonical is a definition as Herald stores it.
func canonical(t *testing.T, def string) string {
	t.Helper()
	n, err := segments.Parse([]byte(def))
	if err != nil {
		t.Fatalf("definition %s: %v", def, err)
	}
	b, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// storedDefinition reads a segment's definition through the API.
func storedDefinition(t *testing.T, a *testApp, id int64) string {
	t.Helper()
	var sg struct{ Definition json.RawMessage }
	if code := a.call("GET", fmt.Sprintf("/api/segments/%d", id), nil, &sg); code != 200 {
		t.Fatalf("segment %d: %d", id, code)
	}
	return canonical(t, string(sg.Definition))
}

func seedShoppers(t *testing.T, a *testApp) {
	t.Helper()
	month := time.Now().UTC().Month()
	other := month%12 + 1
	body := fmt.Sprintf(`[
		{"email": "big@example.com", "first_name": "Bea", "country": "NL"},
		{"email": "visitor@example.com", "first_name": "Vic", "country": "NL"},
		{"email": "bday@example.com", "first_name": "Bo", "birthday": "--%02d-15"},
		{"email": "small@example.com", "first_name": "Sam", "birthday": "--%02d-15"}
	]`, month, other)
	if code := a.call("POST", "/api/contacts", body, nil); code != 200 {
		t.Fatalf("contacts: %d", code)
	}
	now := time.Now().UTC()
	evs := []map[string]any{
		{"email": "big@example.com", "type": "purchase", "amount": 900, "order_id": "B-1", "occurred_at": now.Add(-200 * 24 * time.Hour).Format(time.RFC3339)},
		{"email": "big@example.com", "type": "visit", "occurred_at": now.Add(-120 * 24 * time.Hour).Format(time.RFC3339)},
		{"email": "visitor@example.com", "type": "purchase", "amount": 1000, "order_id": "V-1"},
		{"email": "visitor@example.com", "type": "visit"},
		{"email": "small@example.com", "type": "purchase", "amount": 100, "order_id": "S-1"},
	}
	if code := a.call("POST", "/api/events", evs, nil); code != 200 {
		t.Fatalf("events: %d", code)
	}
}

// rule is the CSS of the rule or group at a definition path.
func rule(path string) string { return fmt.Sprintf(`[data-path=%q]`, path) }

// buildByClicking drives the builder to a definition the way a marketer
// would: choosing how groups combine, adding conditions and groups, then
// picking a field, a condition and typing or choosing the value.
func buildByClicking(t *testing.T, b *browser, path string, node map[string]any) {
	t.Helper()
	key := "all"
	if _, ok := node["any"]; ok {
		key = "any"
	}
	children, _ := node[key].([]any)
	b.set(rule(path)+` > .sb-head .sb-join`, key)
	existing := eval[int](b, fmt.Sprintf(`document.querySelectorAll(%q).length`, rule(path)+` > .sb-children > li`))
	for i, ch := range children {
		child := ch.(map[string]any)
		childPath := fmt.Sprintf("%s%s[%d]", prefix(path), key, i)
		_, isRule := child["field"]
		if i >= existing {
			if isRule {
				b.click(rule(path) + ` > .sb-add .sb-add-rule`)
			} else {
				b.click(rule(path) + ` > .sb-add .sb-add-group`)
			}
		}
		if isRule {
			fillRule(t, b, childPath, child)
		} else {
			buildByClicking(t, b, childPath, child)
		}
	}
}

func prefix(path string) string {
	if path == "" {
		return ""
	}
	return path + "."
}

func fillRule(t *testing.T, b *browser, path string, r map[string]any) {
	t.Helper()
	row := rule(path) + ` > .sb-row`
	field := r["field"].(string)
	known := eval[bool](b, fmt.Sprintf(`!!document.querySelector(%q).querySelector('option[value=%q]')`, row+` > .sb-field`, field))
	if known {
		b.set(row+` > .sb-field`, field)
	} else {
		b.set(row+` > .sb-field`, "event.*")
		b.set(row+` > .sb-event-name`, strings.TrimPrefix(field, "event."))
	}
	b.set(row+` > .sb-op`, r["op"].(string))
	v, has := r["value"]
	if !has {
		return
	}
	val := row + ` > .sb-value`
	switch x := v.(type) {
	case string:
		if m := regexp.MustCompile(`^(\d+)([dwhy])$`).FindStringSubmatch(x); m != nil {
			b.set(val+` .sb-dur-n`, m[1])
			b.set(val+` .sb-dur-unit`, m[2])
		} else if r["op"] == "month_is" {
			b.set(val+` select`, x)
		} else {
			b.set(val+` input`, x)
		}
	case float64:
		s := strconv.FormatFloat(x, 'f', -1, 64)
		switch r["op"] {
		case "month_is":
			b.set(val+` select`, s)
		case "campaign":
			waitOption(t, b, val+` select`, s)
			b.set(val+` select`, s)
		default:
			b.set(val+` input`, s)
		}
	case []any:
		for i, item := range x {
			if i > 0 {
				b.click(val + ` .sb-list-add`)
			}
			b.set(fmt.Sprintf(`%s .sb-item:nth-child(%d) > *:first-child`, val, i+1), fmt.Sprint(item))
		}
	case map[string]any:
		b.set(val+` .sb-count`, fmt.Sprint(x["n"]))
		switch {
		case x["within"] != nil:
			b.set(val+` .sb-when`, "within")
			m := regexp.MustCompile(`^(\d+)([dwhy])$`).FindStringSubmatch(x["within"].(string))
			b.set(val+` .sb-dur-n`, m[1])
			b.set(val+` .sb-dur-unit`, m[2])
		case x["since_campaign"] != nil:
			b.set(val+` .sb-when`, "since")
			id := fmt.Sprint(x["since_campaign"])
			sel := val + ` .sb-events-main > select:not(.sb-when)`
			waitOption(t, b, sel, id)
			b.set(sel, id)
		default:
			b.set(val+` .sb-when`, "ever")
		}
		if where, ok := x["where"].(map[string]any); ok {
			i := 0
			for k, pv := range where {
				i++
				b.click(val + ` .sb-prop-add`)
				b.set(fmt.Sprintf(`%s .sb-prop:nth-child(%d) .sb-prop-name`, val, i), k)
				b.set(fmt.Sprintf(`%s .sb-prop:nth-child(%d) .sb-prop-value`, val, i), fmt.Sprint(pv))
			}
		}
	default:
		t.Fatalf("fillRule: value %T of %s not handled", v, path)
	}
}

func waitOption(t *testing.T, b *browser, sel, value string) {
	t.Helper()
	eventually(t, "option "+value+" in "+sel, func() bool {
		return eval[bool](b, fmt.Sprintf(`!!(document.querySelector(%q) && document.querySelector(%q).querySelector('option[value=%q]'))`, sel, sel, value))
	})
}

// editorJSON opens the JSON view and reads the definition it shows.
func editorJSON(t *testing.T, b *browser) string {
	t.Helper()
	if eval[bool](b, `document.getElementById("json-view").hidden`) {
		b.click(`#json-toggle`)
	}
	return canonical(t, b.value(`#json-text`))
}

// save clicks the save button and waits for the segment's page to load
// again, returning the segment's id.
func save(t *testing.T, b *browser) int64 {
	t.Helper()
	b.js(`document.body.dataset.before = "save"`)
	b.click(`#save-segment`)
	var id int64
	eventually(t, "the saved segment's page", func() bool {
		m := regexp.MustCompile(`^/segments/(\d+)\?(created|saved)=1$`).FindStringSubmatch(b.location())
		if m == nil || eval[bool](b, `document.readyState !== "complete" || document.body.dataset.before === "save"`) {
			return false
		}
		id, _ = strconv.ParseInt(m[1], 10, 64)
		return true
	})
	b.waitVisible(`.sb-group, .sb-rule`)
	return id
}

func TestBrowserMarketerBuildsASegmentByClickingWithALiveCount(t *testing.T) {
	a := startApp(t)
	seedShoppers(t, a)
	b := newBrowser(t, a)
	b.login()

	b.open("/segments")
	b.click(`a[href="/segments/new"]`)
	b.waitVisible(`.sb-group`)

	// "Spent over 800 and no visit in the last 90 days, or birthday this month."
	want := `{"any":[{"all":[{"field":"total_spent","op":"gt","value":800},{"field":"last_visit_at","op":"not_within_last","value":"90d"}]},{"field":"birthday","op":"month_is","value":"current"}]}`
	b.set(`[data-path=""] > .sb-head .sb-join`, "any")
	b.click(`[data-path=""] > .sb-add .sb-add-group`)
	b.set(`[data-path="any[0].all[0]"] .sb-field`, "total_spent")
	b.set(`[data-path="any[0].all[0]"] .sb-op`, "gt")
	b.set(`[data-path="any[0].all[0]"] .sb-value input`, "800")
	if unit := b.text(`[data-path="any[0].all[0]"] .sb-unit`); unit != "EUR" {
		t.Errorf("money is shown in %q, want the store currency EUR", unit)
	}
	b.click(`[data-path="any[0]"] > .sb-add .sb-add-rule`)
	b.set(`[data-path="any[0].all[1]"] .sb-field`, "last_visit_at")
	b.set(`[data-path="any[0].all[1]"] .sb-op`, "not_within_last")
	b.set(`[data-path="any[0].all[1]"] .sb-dur-n`, "90")
	b.click(`[data-path=""] > .sb-add .sb-add-rule`)
	b.set(`[data-path="any[1]"] .sb-field`, "birthday")
	b.set(`[data-path="any[1]"] .sb-op`, "month_is")
	b.set(`[data-path="any[1]"] .sb-value select`, "current")

	var preview struct{ Count int64 }
	if code := a.call("POST", "/api/segments/preview", map[string]any{"definition": json.RawMessage(want)}, &preview); code != 200 || preview.Count != 2 {
		t.Fatalf("API preview: %d, count %d, want 2 (Bea and Bo)", code, preview.Count)
	}
	b.waitText(`#live-count`, fmt.Sprintf(`^%d$`, preview.Count))
	b.waitText(`#live-sample`, `bday@example.com`)
	if got := editorJSON(t, b); got != canonical(t, want) {
		t.Fatalf("the builder made %s, want %s", got, want)
	}
	b.screenshot("builder")
	if bad := b.overflows(); len(bad) > 0 {
		t.Errorf("builder at 390 px: %v", bad)
	}

	// A bad value: the API's error shows on the rule it names.
	b.set(`[data-path="any[0].all[1]"] .sb-dur-n`, "0")
	b.waitText(`[data-path="any[0].all[1]"] > .sb-error`, `more than zero`)
	if inv := eval[bool](b, `document.querySelector('[data-path="any[0].all[1]"] .sb-dur-n').getAttribute("aria-invalid") === "true"`); !inv {
		t.Error("the bad input is not marked invalid")
	}
	if other := eval[string](b, `document.querySelector('[data-path="any[1]"] > .sb-error').textContent`); other != "" {
		t.Errorf("another rule shows an error too: %q", other)
	}
	b.screenshot("rule-error")
	b.set(`[data-path="any[0].all[1]"] .sb-dur-n`, "90")
	b.waitText(`#live-count`, `^2$`)

	b.set(`#segment-name`, "Big spenders gone quiet, or birthday")
	id := save(t, b)
	if got := storedDefinition(t, a, id); got != canonical(t, want) {
		t.Fatalf("saved %s, want %s", got, want)
	}
	b.waitText(`#member-count`, `^2$`)
	b.screenshot("segment")

	// Saved unchanged, the definition stays exactly the same.
	save(t, b)
	if got := storedDefinition(t, a, id); got != canonical(t, want) {
		t.Fatalf("saved unchanged, it became %s", got)
	}

	// The JSON view shows the definition and takes one: list values may
	// hold commas, and a group of one rule stays a group.
	if got := editorJSON(t, b); got != canonical(t, want) {
		t.Fatalf("JSON view shows %s", got)
	}
	typed := `{"all":[{"field":"city","op":"in","value":["Den Haag","Paris, Texas"]}]}`
	b.set(`#json-text`, typed)
	b.click(`#json-apply`)
	b.waitVisible(`[data-path="all[0]"] .sb-list`)
	if got := eval[[]string](b, `[...document.querySelectorAll('[data-path="all[0]"] .sb-item input')].map(i => i.value)`); len(got) != 2 || got[1] != "Paris, Texas" {
		t.Fatalf("list inputs %q", got)
	}
	b.click(`#json-toggle`)
	if got := editorJSON(t, b); got != canonical(t, typed) {
		t.Fatalf("JSON round trip gave %s, want %s", got, typed)
	}
	b.set(`#json-text`, `{"all": [`)
	b.click(`#json-apply`)
	b.waitText(`#json-error`, `Not valid JSON`)
	b.set(`#segment-name`, "Two cities")
	save(t, b)
	if got := storedDefinition(t, a, id); got != canonical(t, typed) {
		t.Fatalf("saved from JSON %s, want %s", got, typed)
	}

	// A segment a campaign targets is not deleted, and the page says why.
	camp := fmt.Sprintf(`{"name": "Spring sale", "subject": "Hi", "html_body": "<p>Hi</p>", "from_email": "shop@example.com", "segment_ids": [%d]}`, id)
	if code := a.call("POST", "/api/campaigns", camp, nil); code != 201 {
		t.Fatalf("campaign: %d", code)
	}
	b.open(fmt.Sprintf("/segments/%d", id))
	b.click(`#delete-segment`)
	b.confirm("Two cities")
	b.waitText(`#delete-error`, `campaign "Spring sale"`)
	b.screenshot("delete-refused")

	b.open("/segments")
	b.waitText(`table.segments`, `Two cities[\s\S]*Spring sale`)
	b.screenshot("list")
	if bad := b.overflows(); len(bad) > 0 {
		t.Errorf("segment list at 390 px: %v", bad)
	}

	// From the RFM whales card to a saved segment, through the builder.
	b.click(`a[href="/segments/templates"]`)
	b.waitVisible(`#template-rfm_whales`)
	b.screenshot("templates")
	if bad := b.overflows(); len(bad) > 0 {
		t.Errorf("templates at 390 px: %v", bad)
	}
	b.set(`#template-rfm_whales input[name="p.percent"]`, "10")
	b.click(`#template-rfm_whales button`)
	b.waitVisible(`[data-path="all[2]"]`)
	whales := `{"all":[{"field":"last_purchase_at","op":"top_percent","value":10},{"field":"orders_count","op":"top_percent","value":10},{"field":"total_spent","op":"top_percent","value":10}]}`
	if got := editorJSON(t, b); got != canonical(t, whales) {
		t.Fatalf("the RFM whales card opened %s, want %s", got, whales)
	}
	if name := b.value(`#segment-name`); name != "RFM whales" {
		t.Errorf("name %q, want the template's", name)
	}
	b.waitText(`#live-count`, `^\d+$`)
	b.screenshot("from-template")
	whaleID := save(t, b)
	if got := storedDefinition(t, a, whaleID); got != canonical(t, whales) {
		t.Fatalf("saved %s, want %s", got, whales)
	}
}

// Every segment the demo seeds, and every template a marketer may start
// from, can be built from the form alone and saved as it was meant.
func TestBrowserEverySeedSegmentCanBeBuiltAndSaved(t *testing.T) {
	a := startApp(t)
	var camp struct{ ID int64 }
	if code := a.call("POST", "/api/campaigns", `{"name": "Spring", "subject": "Hi", "html_body": "<p>Hi</p>", "from_email": "shop@example.com"}`, &camp); code != 201 {
		t.Fatalf("campaign: %d", code)
	}
	seeds := map[string]string{
		"Netherlands":                  `{"field":"country","op":"eq","value":"NL"}`,
		"Watercolour buyers this year": `{"field":"event.purchase","op":"count_gte","value":{"n":1,"within":"365d","where":{"category":"watercolor"}}}`,
		"Reviewers":                    `{"field":"event.review.posted","op":"count_gte","value":{"n":2}}`,
	}
	ss := a.App.Segments
	for _, tpl := range ss.Templates() {
		params := "{}"
		if tpl.Key == "viewed_not_bought" {
			params = fmt.Sprintf(`{"campaign_id": %d}`, camp.ID)
		}
		if tpl.Key == "country" {
			params = `{"country": "PT"}`
		}
		if tpl.Key == "signup_source" {
			params = `{"source": "instagram"}`
		}
		_, def, err := ss.FromTemplate(tpl.Key, json.RawMessage(params))
		if err != nil {
			t.Fatalf("template %s: %v", tpl.Key, err)
		}
		seeds[tpl.Name] = string(def)
	}
	if len(seeds) < 20 {
		t.Fatalf("only %d definitions to build", len(seeds))
	}
	b := newBrowser(t, a)
	b.login()

	// Loaded and saved unchanged, every shape stays exactly as it was: a
	// lone rule stays a rule, a group of one stays a group, and keys the
	// form has no place for (machines) are kept.
	for i, def := range []string{
		`{"field":"country","op":"eq","value":"NL"}`,
		`{"all":[{"field":"country","op":"eq","value":"NL"}]}`,
		`{"not":{"field":"event.email.click","op":"count_gte","value":{"n":1,"within":"2w","where":{"url":"https://shop.example/sale","n":3,"ok":true}},"machines":true}}`,
		`{"any":[{"not":{"all":[{"field":"total_spent","op":"between","value":[10.5,99]}]}},{"field":"city","op":"not_in","value":["a, b","c"]}]}`,
	} {
		var sg struct{ ID int64 }
		if code := a.call("POST", "/api/segments", map[string]any{"name": "Round trip", "definition": json.RawMessage(def)}, &sg); code != 201 {
			t.Fatalf("segment %s: %d", def, code)
		}
		b.open(fmt.Sprintf("/segments/%d", sg.ID))
		b.waitVisible(`[data-path=""]`)
		if got := editorJSON(t, b); got != canonical(t, def) {
			t.Fatalf("loaded %s, the builder holds %s", def, got)
		}
		save(t, b)
		if got := storedDefinition(t, a, sg.ID); got != canonical(t, def) {
			t.Fatalf("saved unchanged, %s became %s", def, got)
		}
		if i == 0 {
			// A lone rule becomes a group when a condition joins it.
			b.click(`.sb-wrap`)
			b.waitVisible(`[data-path="all[1]"]`)
			if got := editorJSON(t, b); !strings.HasPrefix(got, `{"all":[{"field":"country","op":"eq","value":"NL"},{`) {
				t.Fatalf("after adding a condition to a lone rule: %s", got)
			}
		}
	}

	names := make([]string, 0, len(seeds))
	for n := range seeds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		def := seeds[name]
		func() {
			var node map[string]any
			if err := json.Unmarshal([]byte(def), &node); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if _, isRule := node["field"]; isRule {
				// A new segment starts as a group; one rule in it means
				// the same as the rule alone.
				node = map[string]any{"all": []any{node}}
				def = `{"all":[` + def + `]}`
			}
			b.open("/segments/new")
			b.waitVisible(`.sb-group`)
			buildByClicking(t, b, "", node)
			if got := editorJSON(t, b); got != canonical(t, def) {
				t.Fatalf("%s: built %s, want %s", name, got, def)
			}
			b.set(`#segment-name`, name)
			id := save(t, b)
			if got := storedDefinition(t, a, id); got != canonical(t, def) {
				t.Fatalf("%s: saved %s, want %s", name, got, def)
			}
		}()
	}
}
