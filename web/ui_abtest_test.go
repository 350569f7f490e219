package web

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"strings"
	"testing"

	"herald/campaigns"
)

// The editor's A/B test section: the filled slots become the variants,
// a fault shows at the slot it is in with what was typed kept, and
// switching the test off removes it.
func TestEditorSavesAnABTestAndShowsAFaultAtItsVariant(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	page := editorSession(t, f)
	if _, body, _ := page("GET", "/campaigns/new", nil); !strings.Contains(body, `id="ab-card"`) || !strings.Contains(body, `name="ab_subject_4"`) {
		t.Fatal("the editor has no A/B test section with four variants")
	}

	vals := editorForm("Spring", "Spring sale", "<p>Hi</p>")
	vals.Set("ab_on", "on")
	vals.Set("ab_test_percent", "30")
	vals.Set("ab_winner_metric", "clicks")
	vals.Set("ab_test_hours", "6")
	vals.Set("ab_subject_1", "Alpha")
	vals.Set("ab_subject_3", "Hi {{.FirstNme}}") // slot C, variant B once saved
	code, body, _ := page("POST", "/campaigns/new", vals)
	if code != http.StatusBadRequest {
		t.Fatalf("a template error in a variant: %d", code)
	}
	slotC := body[strings.Index(body, `id="ab-variant-3"`):]
	slotC = slotC[:strings.Index(slotC, "</fieldset>")]
	if !strings.Contains(slotC, `class="field-error">line 1, column`) || !strings.Contains(slotC, html.EscapeString("Hi {{.FirstNme}}")) {
		t.Fatalf("slot C does not show its error and text:\n%s", slotC)
	}

	vals.Set("ab_subject_3", "Gamma")
	vals.Set("ab_from_name_4", "Ann from the shop")
	code, _, loc := page("POST", "/campaigns/new", vals)
	if code != http.StatusSeeOther {
		t.Fatalf("save: %d", code)
	}
	var id int64
	fmt.Sscanf(loc, "/campaigns/%d/edit", &id)
	cp, err := f.camps.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	ab := cp.ABTest
	if ab == nil || ab.TestPercent != 30 || ab.WinnerMetric != campaigns.MetricClicks || ab.TestHours != 6 || len(ab.Variants) != 3 ||
		ab.Variants[0].Subject != "Alpha" || ab.Variants[1].Subject != "Gamma" || ab.Variants[2].FromName != "Ann from the shop" {
		t.Fatalf("saved a/b test %+v", ab)
	}
	_, body, _ = page("GET", loc, nil)
	for _, want := range []string{`name="ab_on" id="ab_on" checked`, `name="ab_subject_2" value="Gamma"`, `name="ab_test_percent" min="5" max="50" value="30"`, `<option value="clicks" selected>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the editor lacks %s", want)
		}
	}

	vals.Del("ab_on")
	if code, _, _ := page("POST", loc, vals); code != http.StatusSeeOther {
		t.Fatalf("switching the test off: %d", code)
	}
	if cp, _ := f.camps.Get(ctx, id); cp.ABTest != nil {
		t.Fatalf("the test is still there: %+v", cp.ABTest)
	}
}

// The campaign page shows each variant's figures while the test runs,
// with a button per variant to pick it now; the pick is recorded with
// who made it and the buttons give way to the winner.
func TestCampaignPageShowsTheVariantsAndPicksAWinner(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.sentCampaign(t) // a contact and a segment
	var segID int64
	if err := f.db.Table("segments").Select("id").Limit(1).Scan(&segID).Error; err != nil {
		t.Fatal(err)
	}
	name, subj, body, from := "Spring", "Spring sale", "<p>Hi</p>", "news@shop.example.com"
	ids := []int64{segID}
	cp, err := f.camps.Create(ctx, campaigns.Input{Name: &name, Subject: &subj, HTMLBody: &body, FromEmail: &from, SegmentIDs: &ids,
		ABTest: &campaigns.ABTest{Variants: []campaigns.Variant{{Subject: "Alpha"}, {Subject: "Beta"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.camps.Send(ctx, cp.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.camps.Launch(ctx, cp.ID); err != nil {
		t.Fatal(err)
	}
	page := editorSession(t, f)
	path := fmt.Sprintf("/campaigns/%d", cp.ID)
	_, html, _ := page("GET", path, nil)
	// The one recipient (20% of 1 rounds to none in the test) waits for
	// the winner: the progress does not count them done.
	for _, want := range []string{`id="ab-test"`, `<bdi dir="auto">Alpha</bdi>`, `<bdi dir="auto">Beta</bdi>`, `id="pick-A"`, `id="pick-B"`, `id="ab-note"`,
		`<b data-p="held">1</b>`, `<b data-p="percent">0%</b>`} {
		if !strings.Contains(html, want) {
			t.Errorf("the campaign page lacks %s", want)
		}
	}
	// The recipient's timeline says what their message waits for.
	noa, err := f.contacts.GetByEmail(ctx, "noa@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, html, _ = page("GET", fmt.Sprintf("/contacts/%d", noa.ID), nil); !strings.Contains(html, "Email waiting for the A/B test&#39;s winner: Spring") {
		t.Error("the contact's timeline does not say the message waits for the A/B winner")
	}
	code, _, loc := page("POST", path+"/winner", map[string][]string{"variant": {"B"}})
	if code != http.StatusSeeOther || loc != path {
		t.Fatalf("pick B: %d to %q", code, loc)
	}
	_, html, _ = page("GET", path, nil)
	if strings.Contains(html, `id="pick-A"`) || !strings.Contains(html, `B <span class="chip">winner</span>`) || !strings.Contains(html, "B was picked by <bdi>admin@example.com</bdi>") {
		t.Fatalf("after the pick the page shows:\n%s", html[strings.Index(html, `id="ab-test"`):])
	}
	if code, _, _ := page("POST", path+"/winner", map[string][]string{"variant": {"A"}}); code != http.StatusSeeOther {
		t.Fatalf("a second pick: %d", code)
	}
	if got, _ := f.camps.Get(ctx, cp.ID); got.ABWinner != 2 {
		t.Fatalf("winner = %d after a second pick, want B kept", got.ABWinner)
	}
}

// The preview of an A/B tested campaign shows each variant (its subject
// and from name in the inbox line) and sends a test of the one shown.
func TestPreviewShowsAVariantAndSendsItsTest(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	name, subj, body, from, fromName := "Spring", "Spring sale", "<p>Hi</p>", "news@shop.example.com", "Example Shop"
	cp, err := f.camps.Create(ctx, campaigns.Input{Name: &name, Subject: &subj, HTMLBody: &body, FromEmail: &from, FromName: &fromName,
		ABTest: &campaigns.ABTest{Variants: []campaigns.Variant{{Subject: "Alpha"}, {Subject: "Beta", FromName: "Ann at the shop"}}}})
	if err != nil {
		t.Fatal(err)
	}
	page := editorSession(t, f)
	base := fmt.Sprintf("/campaigns/%d/preview", cp.ID)
	_, html, _ := page("GET", base+"?variant=B", nil)
	for _, want := range []string{`id="variant-tabs"`, `href="` + base + `?variant=B" aria-current="page">Variant B</a>`,
		`id="preview-subject" dir="auto">Beta</div>`, `<bdi dir="auto">Ann at the shop</bdi>`, `<input type="hidden" name="variant" value="B">`} {
		if !strings.Contains(html, want) {
			t.Errorf("the preview of B lacks %s", want)
		}
	}
	// Every recipient gets a variant, so the page opens on A, and offers
	// no tab for the campaign's own content, which nobody is sent.
	_, html, _ = page("GET", base, nil)
	if !strings.Contains(html, `id="preview-subject" dir="auto">Alpha</div>`) || !strings.Contains(html, `aria-current="page">Variant A</a>`) {
		t.Error("the preview without a variant does not open on variant A")
	}
	if strings.Contains(html, "Campaign&#39;s own") || strings.Contains(html, "Campaign's own") {
		t.Error("the preview offers the campaign's own content, which no recipient gets")
	}
	m := &capturingMailer{}
	f.srv.d.Mailer = m
	code, _, loc := page("POST", fmt.Sprintf("/campaigns/%d/test", cp.ID), map[string][]string{"emails": {"me@example.com"}, "variant": {"B"}})
	if code != http.StatusSeeOther || loc != base+"?variant=B" || len(m.msgs) != 1 || m.msgs[0].Subject != "[Test] Beta" || m.msgs[0].FromName != "Ann at the shop" {
		t.Fatalf("test of B: %d to %q, sent %+v", code, loc, m.msgs)
	}
}
