package web

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"herald/campaigns"
	"herald/contacts"
	"herald/segments"
)

var bearer = map[string]string{"Authorization": "Bearer " + testKey}

func TestSegmentFieldCatalogHasTheCustomFieldsAndTheStoreCurrency(t *testing.T) {
	f := newFixture(t)
	if _, err := f.contacts.CreateField(context.Background(), "shoe_size", contacts.FieldNumber); err != nil {
		t.Fatal(err)
	}
	w := f.do("GET", "/api/segments/fields", "", bearer)
	if w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var cat segments.Catalog
	if err := json.Unmarshal(w.Body.Bytes(), &cat); err != nil {
		t.Fatal(err)
	}
	if cat.Currency != contacts.DefaultCurrency || len(cat.Countries) < 200 {
		t.Errorf("currency %q, %d countries", cat.Currency, len(cat.Countries))
	}
	var custom []segments.FieldInfo
	for _, g := range cat.Groups {
		if g.Key == "custom" {
			custom = g.Fields
		}
	}
	if len(custom) != 1 || custom[0].Name != "attr.shoe_size" || custom[0].Type != "number" {
		t.Fatalf("custom fields %+v, want attr.shoe_size as a number", custom)
	}
	if ops := custom[0].Ops; len(ops) == 0 || ops[0].Value != segments.ValueNumber {
		t.Errorf("shoe_size ops %+v", ops)
	}
}

func (f *fixture) segment(t *testing.T, name, def string) segments.Segment {
	t.Helper()
	w := f.do("POST", "/api/segments", `{"name":`+strconvQuote(name)+`,"definition":`+def+`}`, bearer)
	if w.Code != http.StatusCreated {
		t.Fatalf("create segment: %d %s", w.Code, w.Body)
	}
	var out struct{ ID int64 }
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	return segments.Segment{ID: out.ID, Name: name}
}

// canonical is a definition as Herald stores it on either database.
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

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

func TestDeletingASegmentACampaignOrAutomationTargetsIsRefusedNamingThem(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sg := f.segment(t, "Big spenders", `{"field":"total_spent","op":"gt","value":800}`)
	other := f.segment(t, "Dutch", `{"field":"country","op":"eq","value":"NL"}`)
	cn, subj, body, from, ids := "Spring <sale>", "Hi", "<p>Hi</p>", "shop@example.com", []int64{other.ID}
	ex := []int64{sg.ID}
	camp, err := f.camps.Create(ctx, campaigns.Input{Name: &cn, Subject: &subj, HTMLBody: &body, FromEmail: &from, SegmentIDs: &ids, ExcludeSegmentIDs: &ex})
	if err != nil {
		t.Fatal(err)
	}
	w := f.do("DELETE", "/api/segments/"+itoa(sg.ID), "", bearer)
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), `campaign \"Spring <sale>\"`) || !strings.Contains(w.Body.String(), `segment \"Big spenders\" is used by`) {
		t.Fatalf("API delete of an excluded segment: %d %s", w.Code, w.Body)
	}
	cookie, csrf := f.login(t)
	vals := url.Values{"csrf_token": {csrf}}
	w = f.do("POST", "/segments/"+itoa(sg.ID)+"/delete", vals.Encode(), form(vals, cookie))
	page := w.Body.String()
	if w.Code != http.StatusConflict || !strings.Contains(page, "Not deleted") || !strings.Contains(page, html.EscapeString(`"Spring <sale>"`)) {
		t.Fatalf("page delete: %d, want 409 naming the campaign escaped", w.Code)
	}
	if _, err := f.srv.d.Segments.Get(ctx, sg.ID); err != nil {
		t.Fatalf("a refused delete removed the segment: %v", err)
	}
	if err := f.camps.Delete(ctx, camp.ID); err != nil {
		t.Fatal(err)
	}
	flow := `{"name": "Welcome big spenders", "trigger": {"type": "segment_entered", "segment_id": ` + itoa(sg.ID) + `},
		"steps": [{"type": "send", "message": {"subject": "Hi", "html_body": "<p>Hi</p>", "from_email": "shop@example.com"}}]}`
	if w := f.do("POST", "/api/automations", flow, bearer); w.Code != http.StatusCreated {
		t.Fatalf("automation: %d %s", w.Code, w.Body)
	}
	w = f.do("DELETE", "/api/segments/"+itoa(sg.ID), "", bearer)
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), `automation \"Welcome big spenders\"`) {
		t.Fatalf("API delete of an automation's segment: %d %s", w.Code, w.Body)
	}
	w = f.do("GET", "/segments", "", map[string]string{"Cookie": cookie.String()})
	if !strings.Contains(w.Body.String(), "Welcome big spenders") {
		t.Error("the segment list does not say which automation uses the segment")
	}
	var list struct{ Data []struct{ ID int64 } }
	w = f.do("GET", "/api/automations", "", bearer)
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || len(list.Data) != 1 {
		t.Fatalf("automations: %s", w.Body)
	}
	if w := f.do("DELETE", "/api/automations/"+itoa(list.Data[0].ID), "", bearer); w.Code != http.StatusNoContent {
		t.Fatalf("delete automation: %d %s", w.Code, w.Body)
	}
	w = f.do("POST", "/segments/"+itoa(sg.ID)+"/delete", vals.Encode(), form(vals, cookie))
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/segments" {
		t.Fatalf("delete once unused: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if _, err := f.srv.d.Segments.Get(ctx, sg.ID); err == nil {
		t.Fatal("the segment is still there")
	}
}

func TestSegmentPagesListBuildAndKeepTheDefinition(t *testing.T) {
	f := newFixture(t)
	def := `{"all":[{"field":"total_spent","op":"gt","value":800}]}`
	sg := f.segment(t, "High <value>", def)
	cookie, csrf := f.login(t)
	get := func(path string) (int, string) {
		w := f.do("GET", path, "", map[string]string{"Cookie": cookie.String()})
		return w.Code, w.Body.String()
	}
	code, list := get("/segments")
	if code != 200 || !strings.Contains(list, "High &lt;value&gt;") || !strings.Contains(list, `href="/segments/new"`) || !strings.Contains(list, `href="/segments/templates"`) {
		t.Fatalf("list: %d", code)
	}
	code, page := get("/segments/" + itoa(sg.ID))
	m := regexp.MustCompile(`data-definition="([^"]*)"`).FindStringSubmatch(page)
	if code != 200 || m == nil || canonical(t, html.UnescapeString(m[1])) != canonical(t, def) {
		t.Fatalf("segment page: %d, definition %q, want %s", code, m, def)
	}
	if !strings.Contains(page, "/static/segment-builder.js") {
		t.Error("the segment page does not load the builder")
	}
	vals := url.Values{"csrf_token": {csrf}}
	w := f.do("POST", "/segments/"+itoa(sg.ID)+"/refresh", vals.Encode(), form(vals, cookie))
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/segments/"+itoa(sg.ID) {
		t.Fatalf("refresh now: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if w := f.do("POST", "/segments/"+itoa(sg.ID)+"/refresh", "", form(nil, cookie)); w.Code != http.StatusForbidden {
		t.Errorf("refresh without the CSRF token: %d, want 403", w.Code)
	}
	if code, _ := get("/segments/999999"); code != http.StatusNotFound {
		t.Errorf("missing segment: %d", code)
	}
}

func TestTemplateGalleryOpensTheBuilderOnTheResultAndKeepsBadParameters(t *testing.T) {
	f := newFixture(t)
	cookie, _ := f.login(t)
	get := func(path string) (int, string) {
		w := f.do("GET", path, "", map[string]string{"Cookie": cookie.String()})
		return w.Code, w.Body.String()
	}
	code, gallery := get("/segments/templates")
	if code != 200 {
		t.Fatalf("gallery: %d", code)
	}
	for _, tpl := range f.srv.d.Segments.Templates() {
		if !strings.Contains(gallery, `id="template-`+tpl.Key+`"`) || !strings.Contains(gallery, html.EscapeString(tpl.Name)) {
			t.Errorf("no card for %s", tpl.Key)
		}
	}
	code, page := get("/segments/new?template=rfm_whales&p.percent=10")
	m := regexp.MustCompile(`data-definition="([^"]*)"`).FindStringSubmatch(page)
	want := `{"all":[{"field":"last_purchase_at","op":"top_percent","value":10},{"field":"orders_count","op":"top_percent","value":10},{"field":"total_spent","op":"top_percent","value":10}]}`
	if code != 200 || m == nil || canonical(t, html.UnescapeString(m[1])) != canonical(t, want) || !strings.Contains(page, `value="RFM whales"`) {
		t.Fatalf("builder from a template: %d %q", code, m)
	}
	code, page = get("/segments/new?template=high_value&p.min_spent=lots")
	if code != http.StatusBadRequest {
		t.Fatalf("bad parameter: %d", code)
	}
	card := page[strings.Index(page, `id="template-high_value"`):]
	card = card[:strings.Index(card, "</form>")]
	if !strings.Contains(card, `value="lots"`) || !strings.Contains(card, `class="field-error"`) {
		t.Errorf("the card does not keep the typed value with its error: %s", card)
	}
}
