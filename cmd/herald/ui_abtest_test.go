package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestBrowserMarketerRunsAnABTestAndPicksTheWinner sets up an A/B test of
// two subjects in the editor, sends the campaign, reads each variant's
// figures on its page, picks B before the test's time and sees the rest
// go out with B's subject.
func TestBrowserMarketerRunsAnABTestAndPicksTheWinner(t *testing.T) {
	a := startApp(t)
	ctx := context.Background()
	var rows []string
	for i := 0; i < 200; i++ {
		rows = append(rows, fmt.Sprintf(`{"email": "tester%03d@example.com", "country": "NL"}`, i))
	}
	if code := a.call("POST", "/api/contacts", "["+strings.Join(rows, ",")+"]", nil); code != 200 {
		t.Fatalf("contacts: %d", code)
	}
	var seg struct{ ID int64 }
	if code := a.call("POST", "/api/segments", `{"name": "Netherlands", "definition": {"field": "country", "op": "eq", "value": "NL"}}`, &seg); code != 201 {
		t.Fatalf("segment: %d", code)
	}
	var camp struct{ ID int64 }
	if code := a.call("POST", "/api/campaigns", map[string]any{
		"name": "Spring sale", "subject": "Spring sale", "from_email": "shop@example.com", "from_name": "Example Shop",
		"html_body": `<p>Hello</p><p><a href="https://shop.example.com/spring">The spring collection</a></p>`, "segment_ids": []int64{seg.ID},
	}, &camp); code != 201 {
		t.Fatalf("campaign: %d", code)
	}
	page := fmt.Sprintf("/campaigns/%d", camp.ID)

	b := newBrowser(t, a)
	b.login()
	b.open(page + "/edit")
	if eval[bool](b, `getComputedStyle(document.querySelector("#ab-settings")).display !== "none"`) {
		t.Fatal("the A/B settings show while the test is off")
	}
	b.click(`#ab_on`)
	b.waitVisible(`#ab-settings`)
	b.set(`input[name=ab_subject_1]`, "Spring sale: 20% off")
	b.set(`input[name=ab_subject_2]`, "Your spring treat is inside")
	b.set(`input[name=ab_from_name_2]`, "Ann at Example Shop")
	// The fields panel inserts into the variant field last in focus, links
	// as <a> in a variant's HTML body, as in the campaign's.
	body := b.value(`#html_body`)
	b.js(`document.querySelector("textarea[name=ab_html_body_2]").focus()`)
	b.waitText(`#insert-target`, `^Variant B's HTML body$`)
	b.click(`button.snippet[data-code="{{.UnsubscribeURL}}"]`)
	if got := b.value(`textarea[name=ab_html_body_2]`); got != `<a href="{{.UnsubscribeURL}}">Unsubscribe</a>` {
		t.Errorf("the snippet went into variant B's HTML body as %q", got)
	}
	if got := b.value(`#html_body`); got != body {
		t.Errorf("the snippet changed the campaign's HTML body to %q", got)
	}
	b.js(`document.querySelector("textarea[name=ab_html_body_2]").value = ""`)
	b.screenshot("ab-editor")
	if bad := b.overflows(); len(bad) > 0 {
		t.Errorf("the editor overflows a phone: %v", bad)
	}
	b.click(`button[name=then][value=edit]`)
	b.waitText(`.flash`, `Campaign saved`)

	// The send's confirmation says who gets it now and who later.
	b.open(page)
	b.click(`#send-button`)
	b.confirm("now to 200 contacts? It is an A/B test: 20% of them get one of the 2 variants first, and the rest get the winner 4 hours later, or when you pick it. This cannot be undone")
	b.waitText(`.flash`, `Sending started`)
	// The page that says so was drawn before the test share went out; it
	// shows the variants and their pick buttons by itself once they have.
	b.waitVisible(`#ab-test #pick-B`)
	var st struct {
		Sent, Held int
		ABTest     struct {
			Winner   string
			Variants []struct{ Sent int }
		} `json:"ab_test"`
	}
	eventually(t, "the test share to be sent", func() bool {
		a.call("GET", fmt.Sprintf("/api/campaigns/%d/stats", camp.ID), nil, &st)
		return st.Sent == 40 && st.Held == 160
	})
	if len(st.ABTest.Variants) != 2 || st.ABTest.Variants[0].Sent != 20 || st.ABTest.Variants[1].Sent != 20 {
		t.Fatalf("variants %+v, want 20 sent each", st.ABTest.Variants)
	}
	b.open(page)
	b.waitText(`#ab-test`, `Your spring treat is inside[\s\S]*Ann at Example Shop`)
	b.waitText(`#ab-note`, `^A and B are level so far: no variant is ahead\.$`)
	b.screenshot("ab-report")
	if bad := b.overflows(); len(bad) > 0 {
		t.Errorf("the report overflows a phone: %v", bad)
	}
	b.click(`#pick-B`)
	b.confirm("Send variant B to the 160 recipients")
	b.waitText(`.flash`, `B is the winner: it goes to the other 160 recipients`)
	eventually(t, "the rest to be sent", func() bool {
		a.call("GET", fmt.Sprintf("/api/campaigns/%d/stats", camp.ID), nil, &st)
		return st.Sent == 200
	})
	b.open(page)
	b.waitText(`#ab-test`, `(?i)B winner[\s\S]*B was picked by`)
	b.screenshot("ab-winner")
	msgs, _, err := a.Outbox.List(ctx, 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	subjects := map[string]int{}
	for _, m := range msgs {
		subjects[m.Subject]++
	}
	if subjects["Spring sale: 20% off"] != 20 || subjects["Your spring treat is inside"] != 180 || len(msgs) != 200 {
		t.Fatalf("the Outbox holds %v", subjects)
	}
}
