package web

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"herald/campaigns"
	"herald/contacts"
	"herald/segments"
	"herald/templates"
)

// editorSession logs in and returns a function that requests pages with
// the session, posting forms with its CSRF token.
func editorSession(t *testing.T, f *fixture) func(method, path string, vals url.Values) (int, string, string) {
	t.Helper()
	cookie, csrf := f.login(t)
	return func(method, path string, vals url.Values) (int, string, string) {
		h := map[string]string{"Cookie": cookie.String()}
		body := ""
		if vals != nil {
			vals.Set("csrf_token", csrf)
			body = vals.Encode()
			h["Content-Type"] = "application/x-www-form-urlencoded"
		}
		w := f.do(method, path, body, h)
		return w.Code, w.Body.String(), w.Header().Get("Location")
	}
}

func str(s string) *string { return &s }

func editorForm(name, subject, body string) url.Values {
	return url.Values{"name": {name}, "from_name": {"Shop"}, "from_email": {"shop@example.com"}, "subject": {subject},
		"html_body": {body}, "text_mode": {"auto"}, "then": {"edit"}}
}

func TestEditorCreatesACampaignFromTheFormAndListsStartersAndFields(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.contacts.CreateField(ctx, "shoe_size", contacts.FieldNumber); err != nil {
		t.Fatal(err)
	}
	page := editorSession(t, f)
	code, body, _ := page("GET", "/campaigns/new?template=birthday", nil)
	if code != 200 {
		t.Fatalf("new campaign page: %d", code)
	}
	for _, want := range []string{`value="birthday" data-description=`, `Happy birthday, {{.FirstName | title | default &#34;friend&#34;}}`,
		`data-code="{{.Attr.shoe_size}}"`, `data-code="{{.FirstName | default &#34;friend&#34;}}"`, `data-html="&lt;a href=&#34;{{.UnsubscribeURL}}&#34;&gt;Unsubscribe&lt;/a&gt;"`,
		`{{money .TotalSpent}}`, `{{coupon &#34;WINBACK10&#34;}}`, `<script src="/static/campaign-editor.js" defer>`} {
		if !strings.Contains(body, want) {
			t.Errorf("new campaign page lacks %s", want)
		}
	}

	vals := editorForm("Birthday", `Hi {{.FirstName | default "friend"}}`, "<p>Hello {{.FirstName | default \"friend\"}}</p>\r\n<p>{{.Attr.shoe_size}}</p>")
	vals.Set("then", "preview")
	code, _, loc := page("POST", "/campaigns/new", vals)
	if code != http.StatusSeeOther || !regexp.MustCompile(`^/campaigns/\d+/preview$`).MatchString(loc) {
		t.Fatalf("save and preview: %d to %q", code, loc)
	}
	cs, _, err := f.camps.List(ctx, 0, 10)
	if err != nil || len(cs) != 1 {
		t.Fatalf("campaigns: %v %d", err, len(cs))
	}
	if cs[0].HTMLBody != "<p>Hello {{.FirstName | default \"friend\"}}</p>\n<p>{{.Attr.shoe_size}}</p>" || cs[0].TextBody != "" || cs[0].FromName != "Shop" {
		t.Fatalf("saved %+v", cs[0])
	}
}

func TestEditorShowsATemplateErrorOnItsLineAndKeepsTheText(t *testing.T) {
	f := newFixture(t)
	page := editorSession(t, f)
	src := "<h1>Hello</h1>\n<p>Dear {{.FirstNme | default \"friend\"}},</p>\n<p>“שלום” & bye</p>"
	code, body, _ := page("POST", "/campaigns/new", editorForm("Typo", "Hello", src))
	if code != http.StatusBadRequest {
		t.Fatalf("a typo saved: %d", code)
	}
	if !strings.Contains(body, `data-field="html_body" data-line="2" data-col="11"`) || !strings.Contains(body, "HTML body, line 2, column 11:") ||
		!strings.Contains(body, "FirstNme") || !strings.Contains(body, "FirstName") {
		t.Fatalf("the error is not on line 2, column 11 with a suggestion:\n%s", excerpt(body, "template-error"))
	}
	if !strings.Contains(body, ">\n"+html.EscapeString(src)+"</textarea>") {
		t.Fatalf("the text was not kept:\n%s", excerpt(body, "html_body"))
	}
	if !strings.Contains(body, `value="Typo"`) || !strings.Contains(body, `value="shop@example.com"`) {
		t.Fatal("the other fields were not kept")
	}

	// Other refusals land on their field, with everything kept.
	vals := editorForm("", "Hello", "<p>x</p>")
	code, body, _ = page("POST", "/campaigns/new", vals)
	if code != http.StatusBadRequest || !strings.Contains(body, `<span class="field-error">is required</span>`) || !strings.Contains(body, "&lt;p&gt;x&lt;/p&gt;</textarea>") {
		t.Fatalf("missing name: %d\n%s", code, excerpt(body, "Campaign name"))
	}
	vals = editorForm("S", "Hi {{.Nme}}", "<p>x</p>")
	_, body, _ = page("POST", "/campaigns/new", vals)
	if !strings.Contains(body, `data-field="subject" data-line="1" data-col="6"`) || !regexp.MustCompile(`id="subject" value="Hi {{.Nme}}"[^>]*aria-invalid="true"`).MatchString(body) {
		t.Fatalf("subject error:\n%s", excerpt(body, "template-error"))
	}
	if cs, _, _ := f.camps.List(context.Background(), 0, 10); len(cs) != 0 {
		t.Fatalf("refused forms saved %d campaigns", len(cs))
	}
}

func excerpt(body, near string) string {
	i := strings.Index(body, near)
	if i < 0 {
		return body[:min(len(body), 2000)]
	}
	return body[max(0, i-300):min(len(body), i+700)]
}

func TestEditorSavesSegmentsAndTheTextPartAndCountsTheAudience(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ss := f.srv.d.Segments
	for _, e := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		if _, _, err := f.contacts.Upsert(ctx, contacts.Input{Email: str(e), Country: str(map[bool]string{true: "NL", false: "DE"}[e != "c@example.com"])}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := ss.Create(ctx, segments.Input{Name: str("Everyone"), Definition: []byte(`{"field": "email", "op": "contains", "value": "@"}`)})
	if err != nil {
		t.Fatal(err)
	}
	de, err := ss.Create(ctx, segments.Input{Name: str("Germany"), Definition: []byte(`{"field": "country", "op": "eq", "value": "DE"}`)})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := f.camps.Create(ctx, campaigns.Input{Name: str("C"), Subject: str("S"), HTMLBody: str("<p>x</p>"), FromEmail: str("s@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	page := editorSession(t, f)
	path := "/campaigns/" + itoa(cp.ID) + "/edit"
	vals := editorForm("C", "S", "<p>x</p>")
	vals["segment_ids"] = []string{itoa(all.ID)}
	vals["exclude_segment_ids"] = []string{itoa(de.ID)}
	vals.Set("text_mode", "custom")
	vals.Set("text_body", "Hello {{.FirstName}}\r\nbye")
	if code, _, loc := page("POST", path, vals); code != http.StatusSeeOther || loc != path {
		t.Fatalf("save: %d to %q", code, loc)
	}
	got, _ := f.camps.Get(ctx, cp.ID)
	if len(got.SegmentIDs) != 1 || got.SegmentIDs[0] != all.ID || len(got.ExcludeSegmentIDs) != 1 || got.TextBody != "Hello {{.FirstName}}\nbye" {
		t.Fatalf("saved %+v", got)
	}
	_, body, _ := page("GET", path, nil)
	if !strings.Contains(body, `<b id="audience-count">2</b>`) || !strings.Contains(body, `value="custom" checked`) {
		t.Fatalf("edit page audience or text mode:\n%s", excerpt(body, "audience-count"))
	}

	// Back to a generated text part, and no exclusions.
	vals = editorForm("C", "S", "<p>x</p>")
	vals["segment_ids"] = []string{itoa(all.ID)}
	vals.Set("text_body", "kept only on the form")
	page("POST", path, vals)
	got, _ = f.camps.Get(ctx, cp.ID)
	if got.TextBody != "" || len(got.ExcludeSegmentIDs) != 0 {
		t.Fatalf("saved %+v", got)
	}
}

func TestEditorOfASentCampaignIsReadOnly(t *testing.T) {
	f := newFixture(t)
	cp, _ := f.sentCampaign(t)
	page := editorSession(t, f)
	path := "/campaigns/" + itoa(cp.ID) + "/edit"
	code, body, _ := page("GET", path, nil)
	if code != 200 || !strings.Contains(body, `<fieldset class="plain" disabled>`) || strings.Contains(body, `value="edit">Save</button>`) ||
		!strings.Contains(body, "can no longer be changed") {
		t.Fatalf("sent campaign editor: %d\n%s", code, excerpt(body, "fieldset"))
	}
	code, body, _ = page("POST", path, editorForm("New name", "S", "<p>y</p>"))
	if code != http.StatusConflict || !strings.Contains(body, "only draft and scheduled campaigns can be edited") || !strings.Contains(body, `value="New name"`) {
		t.Fatalf("post to a sent campaign: %d\n%s", code, excerpt(body, "alert"))
	}
	if got, _ := f.camps.Get(context.Background(), cp.ID); got.Name == "New name" {
		t.Fatal("a sent campaign was changed")
	}
}

func TestPreviewRendersAsAContactInASandboxedFrame(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	noa, _, err := f.contacts.Upsert(ctx, contacts.Input{Email: str("noa@example.com"), FirstName: str("נועה")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.contacts.Upsert(ctx, contacts.Input{Email: str("anon@example.com")}); err != nil {
		t.Fatal(err)
	}
	seg, err := f.srv.d.Segments.Create(ctx, segments.Input{Name: str("All"), Definition: []byte(`{"field": "email", "op": "contains", "value": "@"}`)})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := f.camps.Create(ctx, campaigns.Input{Name: str("Hi"), Subject: str(`Hi {{.FirstName | default "friend"}}`), FromName: str("Shop"),
		HTMLBody: str(`<p>Dear {{.FirstName | default "friend"}}</p><script>alert(1)</script>`), FromEmail: str("s@example.com"), SegmentIDs: &[]int64{seg.ID}})
	if err != nil {
		t.Fatal(err)
	}
	page := editorSession(t, f)
	base := "/campaigns/" + itoa(cp.ID) + "/preview"
	code, body, _ := page("GET", base, nil)
	if code != 200 {
		t.Fatalf("preview: %d", code)
	}
	frame := regexp.MustCompile(`<iframe[^>]*id="preview-frame"[^>]*>`).FindString(body)
	if !strings.Contains(frame, `sandbox="allow-popups allow-popups-to-escape-sandbox"`) || strings.Contains(frame, "allow-scripts") || strings.Contains(frame, "allow-same-origin") {
		t.Fatalf("frame is not sandboxed: %s", frame)
	}
	// The first member of the audience, by default; the contact's name is
	// data, escaped in the frame's document.
	if !strings.Contains(body, `<bdi class="who-name" dir="auto">נועה</bdi>`) || !strings.Contains(frame, "Dear נועה") ||
		!strings.Contains(body, `id="preview-subject" dir="auto">Hi נועה</div>`) || !strings.Contains(body, "The first of the 2 contacts") {
		t.Fatalf("default preview is not as Noa:\n%s", excerpt(body, "Shown as"))
	}
	_, body, _ = page("GET", base+"?contact=none", nil)
	if !strings.Contains(body, "Dear friend") || !strings.Contains(body, ">Hi friend</div>") {
		t.Fatalf("fallback preview:\n%s", excerpt(body, "preview-subject"))
	}
	_, body, _ = page("GET", base+"?q="+url.QueryEscape("נו"), nil)
	if !strings.Contains(body, `href="`+base+`?contact=`+itoa(noa.ID)+`"`) || strings.Contains(body, "anon@example.com</span></li>") {
		t.Fatalf("search for נו:\n%s", excerpt(body, "contact-results"))
	}
	if code, _, _ := page("GET", base+"?contact=999999", nil); code != http.StatusNotFound {
		t.Fatalf("unknown contact: %d", code)
	}
}

func TestTestSendGoesToTheAddressesAndRefusesBadOnesKeepingThem(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	m := &capturingMailer{}
	cp, err := f.camps.Create(ctx, campaigns.Input{Name: str("T"), Subject: str(`Hi {{.FirstName | default "friend"}}`), HTMLBody: str("<p>x</p>"), FromEmail: str("s@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	page := editorSession(t, f)
	path := "/campaigns/" + itoa(cp.ID) + "/test"
	code, body, _ := page("POST", path, url.Values{"emails": {"a@example.com"}})
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "HERALD_SMTP_URL") {
		t.Fatalf("without a mailer: %d", code)
	}
	f.srv.d.Mailer = m
	code, body, _ = page("POST", path, url.Values{"emails": {"a@example.com, not-an-address"}, "contact": {"none"}})
	if code != http.StatusBadRequest || !strings.Contains(body, "Address 2 (not-an-address)") || !strings.Contains(body, `value="a@example.com, not-an-address"`) || len(m.msgs) != 0 {
		t.Fatalf("bad address: %d, %d sent\n%s", code, len(m.msgs), excerpt(body, "test-error"))
	}
	code, _, loc := page("POST", path, url.Values{"emails": {"a@example.com,\nb@example.com"}, "contact": {"none"}})
	if code != http.StatusSeeOther || loc != "/campaigns/"+itoa(cp.ID)+"/preview?contact=none" || len(m.msgs) != 2 {
		t.Fatalf("test send: %d to %q, %d sent", code, loc, len(m.msgs))
	}
	if m.msgs[0].To != "a@example.com" || m.msgs[1].To != "b@example.com" {
		t.Fatalf("sent to %q and %q", m.msgs[0].To, m.msgs[1].To)
	}
}

func TestCampaignPagesLinkToTheEditor(t *testing.T) {
	f := newFixture(t)
	page := editorSession(t, f)
	if _, body, _ := page("GET", "/campaigns", nil); !strings.Contains(body, `href="/campaigns/new"`) {
		t.Fatal("the campaign list has no New campaign button")
	}
	cp, err := f.camps.Create(context.Background(), campaigns.Input{Name: str("D"), Subject: str("S"), HTMLBody: str("<p>x</p>"), FromEmail: str("s@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	if _, body, _ := page("GET", "/campaigns/"+itoa(cp.ID), nil); !strings.Contains(body, `/campaigns/`+itoa(cp.ID)+`/edit"`) || !strings.Contains(body, `/preview"`) {
		t.Fatal("a draft's page has no Edit and Preview links")
	}
	sent, _ := f.sentCampaign(t)
	if _, body, _ := page("GET", "/campaigns/"+itoa(sent.ID), nil); strings.Contains(body, `/campaigns/`+itoa(sent.ID)+`/edit"`) {
		t.Fatal("a sent campaign's page offers to edit it")
	}
}

func TestInboxSnippetStartsWithTheHiddenPreheader(t *testing.T) {
	tests := []struct {
		name string
		r    templates.Rendered
		want string
	}{
		{"preheader first", templates.Rendered{HTML: `<html><head><title>T</title><style>p{}</style></head><body><span style="display:none">Gift inside &amp; more</span><h1>Hi  Ann</h1></body></html>`}, "Gift inside & more Hi Ann"},
		{"text only", templates.Rendered{Text: "Hello\n\n  there"}, "Hello there"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := inboxSnippet(tc.r); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
