package main

import (
	"fmt"
	"herald/internal/app"
	"strings"
	"testing"
	"time"
)

// seedContacts adds contacts with names in several scripts, a custom
// field, a segment and enough activity on Noa to page her timeline.
func seedContacts(t *testing.T, a *testApp) (noa int64) {
	t.Helper()
	if code := a.call("POST", "/api/custom-fields", `{"name": "shoe_size", "type": "number"}`, nil); code != 201 {
		t.Fatalf("custom field: %d", code)
	}
	var batch struct {
		Created int
		Data    []struct{ Contact struct{ ID int64 } }
	}
	if code := a.call("POST", "/api/contacts", `[
		{"email": "noa@example.com", "first_name": "נועה", "last_name": "Levi", "country": "IL", "attributes": {"shoe_size": 38}},
		{"email": "anna@example.com", "first_name": "Anna", "last_name": "de Vries", "country": "NL"},
		{"email": "omid@example.com", "first_name": "امید", "country": "IR", "status": "unsubscribed"},
		{"email": "layla@example.com", "first_name": "ليلى", "last_name": "Haddad", "country": "LB"}
	]`, &batch); code != 200 || batch.Created != 4 {
		t.Fatalf("contacts: %d %+v", code, batch)
	}
	noa = batch.Data[0].Contact.ID
	var evs []map[string]any
	base := time.Now().Add(-40 * 24 * time.Hour).UTC()
	for i := range 30 {
		evs = append(evs, map[string]any{"email": "noa@example.com", "type": "visit", "occurred_at": base.Add(time.Duration(i) * time.Hour).Format(time.RFC3339), "properties": map[string]any{"page": fmt.Sprintf("/p/%d", i)}})
	}
	evs = append(evs,
		map[string]any{"email": "noa@example.com", "type": "purchase", "amount": 120.5, "order_id": "A-1", "occurred_at": time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)},
		map[string]any{"email": "noa@example.com", "type": "wishlist.add", "properties": map[string]any{"product": "Watercolour set"}, "occurred_at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)},
		map[string]any{"email": "anna@example.com", "type": "purchase", "amount": 900, "order_id": "B-1"},
	)
	if code := a.call("POST", "/api/events", evs, nil); code != 200 {
		t.Fatalf("events: %d", code)
	}
	if code := a.call("POST", "/api/segments", `{"name": "Israel", "definition": {"field": "country", "op": "eq", "value": "IL"}}`, nil); code != 201 {
		t.Fatalf("segment: %d", code)
	}
	return noa
}

func TestBrowserMarketerFindsEditsAndRemovesContacts(t *testing.T) {
	a := startApp(t)
	noa := seedContacts(t, a)
	b := newBrowser(t, a)
	b.login()
	b.screenshot("dashboard")

	b.open("/contacts")
	if got := b.text("table.contacts tbody"); !strings.Contains(got, "נועה") || !strings.Contains(got, "ليلى") || !strings.Contains(got, "anna@example.com") {
		t.Fatalf("contact list shows %q", got)
	}
	b.screenshot("contacts")
	if bad := b.overflows(); len(bad) > 0 {
		t.Errorf("contacts at 390 px: %v", bad)
	}

	// Search is by the start of the email or a name, in any script.
	b.set(`input[name=q]`, "נוע")
	b.submit(`input[name=q]`)
	if got := b.text("table.contacts tbody"); !strings.Contains(got, "noa@example.com") || strings.Contains(got, "anna@") {
		t.Fatalf("search for נוע shows %q", got)
	}
	b.open("/contacts?status=unsubscribed")
	if got := b.text("table.contacts tbody"); !strings.Contains(got, "omid@") || strings.Contains(got, "noa@") {
		t.Fatalf("unsubscribed filter shows %q", got)
	}
	b.open("/contacts")
	b.set(`select[name=segment]`, "1")
	b.submit(`select[name=segment]`)
	if got := b.text("table.contacts tbody"); !strings.Contains(got, "noa@") || strings.Contains(got, "anna@") {
		t.Fatalf("segment filter shows %q", got)
	}

	// The contact page: right-to-left name, segments, timeline newest first.
	b.click(`table.contacts a[href="/contacts/` + fmt.Sprint(noa) + `"]`)
	b.waitVisible(`ol.timeline`)
	if dir := eval[string](b, `getComputedStyle(document.querySelector("h1 bdi")).direction`); dir != "rtl" {
		t.Errorf("a Hebrew name is shown %s, want rtl", dir)
	}
	if got := b.text(".chips"); !strings.Contains(got, "Israel") {
		t.Errorf("segments of the contact: %q", got)
	}
	kinds := eval[[]string](b, `[...document.querySelectorAll("ol.timeline li")].map(li => li.className)`)
	if len(kinds) != 25 || kinds[0] != "custom" || kinds[1] != "purchase" || kinds[2] != "visit" {
		t.Fatalf("timeline kinds %v, want 25 lines: the custom event, the purchase, then visits", kinds)
	}
	if got := b.text("ol.timeline li.purchase"); !strings.Contains(got, "€120.50") || !strings.Contains(got, "A-1") {
		t.Errorf("purchase line: %q", got)
	}
	b.screenshot("contact")
	if bad := b.overflows(); len(bad) > 0 {
		t.Errorf("contact page at 390 px: %v", bad)
	}
	b.click(`a[rel=next]`)
	b.waitVisible(`ol.timeline`)
	older := eval[[]string](b, `[...document.querySelectorAll("ol.timeline li")].map(li => li.innerText)`)
	if len(older) != 7 || !strings.Contains(older[len(older)-1], "/p/0") {
		t.Fatalf("second timeline page: %d lines %q; want the 7 oldest visits", len(older), older)
	}

	// A refused edit keeps what was typed and shows the error beside its field.
	b.open(fmt.Sprintf("/contacts/%d", noa))
	b.set(`input[name=city]`, "Haifa")
	b.set(`input[name=country]`, "XX")
	b.click(`form.contact-form button[type=submit]`)
	b.waitVisible(`.field-error`)
	if got := b.text(`input[name=country] ~ .field-error`); !strings.Contains(got, "ISO 3166") {
		t.Errorf("country error: %q", got)
	}
	if city := b.value(`input[name=city]`); city != "Haifa" {
		t.Errorf("the typed city was lost: %q", city)
	}
	b.screenshot("contact-error")
	b.set(`input[name=country]`, "IL")
	b.set(`input[name="attr.shoe_size"]`, "large")
	b.click(`form.contact-form button[type=submit]`)
	b.waitVisible(`.field-error`)
	if got := b.text(`input[name="attr.shoe_size"] ~ .field-error`); !strings.Contains(got, "not a number") {
		t.Errorf("custom field error: %q", got)
	}
	b.set(`input[name="attr.shoe_size"]`, "39")
	b.click(`form.contact-form button[type=submit]`)
	b.waitVisible(`.flash`)
	var ct struct {
		City       string
		Attributes map[string]any
	}
	a.call("GET", fmt.Sprintf("/api/contacts/%d", noa), nil, &ct)
	if ct.City != "Haifa" || ct.Attributes["shoe_size"] != 39.0 {
		t.Fatalf("after saving: %+v", ct)
	}

	// Unsubscribe and subscribe again, each confirmed.
	b.click(`form[action$="/status"] button`)
	b.confirm("Unsubscribe noa@example.com")
	b.waitText("h1 .status", "^unsubscribed$")
	// Subscribing her again is a decision on record: it asks why.
	b.set(`form[action$="/status"] input[name="reason"]`, "asked at the shop counter")
	b.screenshot("contact-unsubscribed")
	b.click(`form[action$="/status"] button`)
	b.confirm("Only do this if they asked you to")
	b.waitText("h1 .status", "^subscribed$")
	b.waitText(".timeline", "by page: asked at the shop counter")
	b.screenshot("contact-resubscribed")

	// Delete, confirmed: back on the list without her.
	b.click(`form[action$="/delete"] button`)
	b.confirm("cannot be undone")
	b.waitText(".flash", "Contact deleted")
	if got := b.text("table.contacts tbody"); strings.Contains(got, "noa@") {
		t.Fatalf("deleted contact still listed: %q", got)
	}
	if code := a.call("GET", fmt.Sprintf("/api/contacts/%d", noa), nil, nil); code != 404 {
		t.Fatalf("deleted contact answers %d", code)
	}
}

func TestBrowserCustomFieldInUseCannotBeDeleted(t *testing.T) {
	a := startApp(t)
	b := newBrowser(t, a)
	b.login()
	b.open("/settings/fields")
	b.set(`input[name=name]`, "loyalty tier")
	b.click(`form[action="/settings/fields"] button`)
	b.waitVisible(`.field-error`)
	if typed := b.value(`input[name=name]`); typed != "loyalty tier" {
		t.Errorf("the refused name was not kept: %q", typed)
	}
	b.set(`input[name=name]`, "loyalty_points")
	b.set(`select[name=type]`, "number")
	b.click(`form[action="/settings/fields"] button`)
	b.waitVisible(`.flash`)
	if got := b.text("table.fields"); !strings.Contains(got, "loyalty_points") || !strings.Contains(got, "number") {
		t.Fatalf("fields: %q", got)
	}
	if code := a.call("POST", "/api/segments", `{"name": "Point collectors", "definition": {"field": "attr.loyalty_points", "op": "gt", "value": 100}}`, nil); code != 201 {
		t.Fatalf("segment: %d", code)
	}
	b.open("/settings/fields")
	b.click(`table.fields form button`)
	b.confirm("loyalty_points")
	got := b.waitText(".alert", "Not deleted")
	if !strings.Contains(got, "Point collectors") {
		t.Fatalf("refusal does not name the segment: %q", got)
	}
	b.screenshot("field-in-use")
}

func TestBrowserSettingsRotateKeyAndChangePassword(t *testing.T) {
	a := startAppWith(t, func(c *app.Config) { c.AdminPassword, c.APIKey = "", "" })
	pass := a.generatedPassword(t)
	b := newBrowser(t, a)
	b.loginAs("admin@example.com", pass)
	b.open("/settings")
	if got := b.text("main"); !strings.Contains(got, "EUR") || !strings.Contains(got, "embedded capture") {
		t.Errorf("settings page: %q", got)
	}
	b.click(`form[action="/settings/api-key"] button`)
	b.confirm("stops working")
	b.waitVisible(`#new-api-key`)
	key := b.value(`#new-api-key`)
	if !strings.HasPrefix(key, "hk_") {
		t.Fatalf("new key %q", key)
	}
	b.screenshot("settings-new-key")
	a.key = key
	if code := a.call("GET", "/api/contacts", nil, nil); code != 200 {
		t.Fatalf("the new key answers %d", code)
	}

	b.open("/settings")
	b.set(`input[name=current_password]`, pass)
	b.set(`input[name=new_password]`, "short")
	b.set(`input[name=confirm_password]`, "short")
	b.click(`form[action="/settings/password"] button`)
	b.waitVisible(`.field-error`)
	if got := b.text(".field-error"); !strings.Contains(got, "at least") {
		t.Errorf("short password: %q", got)
	}
	b.set(`input[name=current_password]`, pass)
	b.set(`input[name=new_password]`, "a much longer secret")
	b.set(`input[name=confirm_password]`, "a much longer secret")
	b.click(`form[action="/settings/password"] button`)
	b.waitVisible(`.flash`)
	// This browser stays logged in; the old password no longer logs in.
	b.open("/contacts")
	if loc := b.location(); loc != "/contacts" {
		t.Fatalf("after changing the password the session went to %s", loc)
	}
	other := newBrowser(t, a)
	other.open("/login")
	other.set(`input[name=email]`, "admin@example.com")
	other.set(`input[name=password]`, pass)
	other.click(`form[action="/login"] button`)
	other.waitVisible(`.error`)
	other.loginAs("admin@example.com", "a much longer secret")
}
