package main

import (
	"fmt"
	"strings"
	"testing"
)

// TestBrowserMarketerWritesPreviewsAndTestsTheBirthdayCampaign writes the
// birthday campaign from its starter with the fields panel, makes a typo
// and finds it on its line, previews it as a contact named in Hebrew and
// as one without a first name, and sends a test to the Outbox.
func TestBrowserMarketerWritesPreviewsAndTestsTheBirthdayCampaign(t *testing.T) {
	a := startApp(t)
	if code := a.call("POST", "/api/custom-fields", `{"name": "favourite_colour", "type": "text"}`, nil); code != 201 {
		t.Fatalf("custom field: %d", code)
	}
	// Sara first: the preview starts with the first of the audience.
	for _, c := range []string{`{"email": "sara@example.com", "first_name": "שרה", "last_name": "כהן", "country": "IL"}`, `{"email": "anon@example.com"}`} {
		if code := a.call("POST", "/api/contacts", c, nil); code != 201 {
			t.Fatalf("contact %s: %d", c, code)
		}
	}
	if code := a.call("POST", "/api/segments", `{"name": "Everyone", "definition": {"field": "email", "op": "contains", "value": "@"}}`, nil); code != 201 {
		t.Fatalf("segment: %d", code)
	}

	b := newBrowser(t, a)
	b.login()
	b.open("/campaigns")
	b.click(`a[href="/campaigns/new"]`)
	b.waitVisible(`#campaign-form`)

	// The birthday starter, loaded in place.
	b.set(`#starter`, "birthday")
	b.click(`#starter-form button[type=submit]`)
	b.waitText(`#starter-description`, `template is in the editor`)
	if v := b.value(`#html_body`); !strings.Contains(v, "Happy birthday, {{.FirstName | title | default \"friend\"}}!") {
		t.Fatalf("the starter did not load: %.200q", v)
	}
	if got := b.value(`input[name=name]`); got != "Birthday gift" {
		t.Fatalf("name %q, want the starter's", got)
	}
	if got := b.text(`.snippets`); !strings.Contains(got, "favourite_colour") || !strings.Contains(got, "Unsubscribe link") {
		t.Fatalf("the fields panel shows %q", got)
	}

	// The greeting becomes the plain first name with its fallback, put in
	// from the panel where the old one was selected.
	b.js(`(() => { const t = document.querySelector("#html_body"), s = '{{.FirstName | title | default "friend"}}!</h1>';
		const i = t.value.indexOf(s); t.focus(); t.setSelectionRange(i, i + s.length - 6); })()`)
	b.click(`button.snippet[data-code^="{{.FirstName"]`)
	if v := b.value(`#html_body`); !strings.Contains(v, `Happy birthday, {{.FirstName | default "friend"}}!</h1>`) {
		t.Fatalf("the snippet was not inserted at the cursor: %q", excerptAround(v, "Happy birthday"))
	}
	if eval[bool](b, `document.querySelector("#text_body").offsetParent !== null`) {
		t.Error("the plain-text editor shows while the text is made from the HTML")
	}
	b.set(`input[name=from_name]`, "Example Shop")
	b.click(`input[name=segment_ids]`)
	b.waitText(`#audience-count`, `^2$`)
	b.screenshot("editor")
	if bad := b.overflows(); len(bad) > 0 {
		t.Errorf("editor at 390 px: %v", bad)
	}

	// A typo in a field name: the save shows it on its line and keeps
	// the text.
	line := eval[int](b, `(() => { const t = document.querySelector("#html_body");
		t.value = t.value.replace('{{.FirstName | default "friend"}}!</h1>', '{{.FirstNme | default "friend"}}!</h1>');
		return t.value.slice(0, t.value.indexOf("FirstNme")).split("\n").length; })()`)
	b.click(`button[name=then][value=edit]`)
	b.waitVisible(`#template-error`)
	if msg := b.text(`#template-error`); !strings.Contains(msg, fmt.Sprintf("HTML body, line %d, column", line)) || !strings.Contains(msg, "FirstNme") || !strings.Contains(msg, "FirstName") {
		t.Fatalf("the error says %q, want line %d and a suggestion", msg, line)
	}
	if got := b.text(`.code-editor .gutter .bad`); got != fmt.Sprint(line) {
		t.Fatalf("the gutter marks line %q, want %d", got, line)
	}
	if v := b.value(`#html_body`); !strings.Contains(v, "{{.FirstNme | default") || !strings.Contains(v, "Claim my gift") {
		t.Fatalf("the text was not kept: %q", excerptAround(v, "Happy birthday"))
	}
	if at := eval[int](b, `document.querySelector("#html_body").selectionStart`); at == 0 {
		t.Error("the cursor was not put on the error")
	}
	b.screenshot("template-error")

	// Fixed, saved and previewed as the first of the audience: Sara.
	b.js(`(() => { const t = document.querySelector("#html_body"); t.value = t.value.replace("FirstNme", "FirstName"); })()`)
	b.click(`button[name=then][value=preview]`)
	b.waitVisible(`#preview-frame`)
	if got := b.text(`.who-name`); got != "שרה כהן" {
		t.Fatalf("preview shown as %q, want Sara", got)
	}
	if dir := eval[string](b, `getComputedStyle(document.querySelector(".who-name")).direction`); dir != "rtl" {
		t.Errorf("the Hebrew name runs %s", dir)
	}
	if got := b.text(`#preview-subject`); got != "Happy birthday, שרה! A little gift inside" {
		t.Fatalf("subject %q", got)
	}
	if doc := eval[string](b, `document.querySelector("#preview-frame").srcdoc`); !strings.Contains(doc, "Happy birthday, שרה!</h1>") {
		t.Fatalf("the frame shows %q", excerptAround(doc, "Happy birthday"))
	}
	if sb := eval[string](b, `document.querySelector("#preview-frame").getAttribute("sandbox")`); strings.Contains(sb, "allow-scripts") {
		t.Fatalf("the frame may run scripts: %q", sb)
	}
	b.screenshot("preview-hebrew")
	if bad := b.overflows(); len(bad) > 0 {
		t.Errorf("preview at 390 px: %v", bad)
	}
	b.click(`button[data-width=phone]`)
	if w := eval[int](b, `document.querySelector("#preview-frame").getBoundingClientRect().width`); w > 375 {
		t.Errorf("the phone frame is %d px wide", w)
	}
	b.screenshot("preview-phone")
	b.click(`#tab-text`)
	if got := b.text(`#preview-text`); !strings.Contains(got, "Happy birthday, שרה!") {
		t.Fatalf("plain text %q", got)
	}
	b.click(`#tab-html`)

	// Found by typing, the contact without a first name gets the fallback.
	b.set(`#contact-search`, "anon")
	b.waitText(`#contact-results`, `anon@example\.com`)
	b.click(`#contact-results a`)
	b.waitText(`#preview-subject`, `friend`)
	if got := b.text(`#preview-subject`); got != "Happy birthday, friend! A little gift inside" {
		t.Fatalf("subject %q", got)
	}
	if doc := eval[string](b, `document.querySelector("#preview-frame").srcdoc`); !strings.Contains(doc, "Happy birthday, friend!</h1>") {
		t.Fatalf("the frame shows %q", excerptAround(doc, "Happy birthday"))
	}
	b.screenshot("preview-fallback")

	// A test to two addresses; Sara's is rendered as Sara.
	b.set(`input[name=emails]`, "sara@example.com, boss@example.com")
	b.click(`#test-form button[type=submit]`)
	b.waitText(`.flash`, `Test sent to sara@example.com, boss@example.com`)
	b.open("/outbox")
	got := b.waitText(`main`, `Happy birthday, friend!`)
	if !strings.Contains(got, "Happy birthday, שרה! A little gift inside") || !strings.Contains(got, "boss@example.com") {
		t.Fatalf("the outbox shows %q", got)
	}
	b.screenshot("outbox")

	// The campaign's page leads back to the editor and the preview.
	var list struct{ Data []struct{ ID int64 } }
	a.call("GET", "/api/campaigns", nil, &list)
	if len(list.Data) != 1 {
		t.Fatalf("%d campaigns", len(list.Data))
	}
	b.open(fmt.Sprintf("/campaigns/%d", list.Data[0].ID))
	b.click(fmt.Sprintf(`a[href="/campaigns/%d/edit"]`, list.Data[0].ID))
	b.waitVisible(`#campaign-form`)
	if v := b.value(`#html_body`); !strings.Contains(v, `Happy birthday, {{.FirstName | default "friend"}}!</h1>`) {
		t.Fatalf("the saved body is %q", excerptAround(v, "Happy birthday"))
	}
}

func excerptAround(s, near string) string {
	i := strings.Index(s, near)
	if i < 0 {
		return s[:min(len(s), 200)]
	}
	return s[max(0, i-100):min(len(s), i+200)]
}
