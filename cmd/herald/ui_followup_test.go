package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"herald/campaigns"
	"herald/outbox"
)

// TestBrowserMarketerResendsToNonOpeners sends a campaign to five
// people, two of whom open it; from the report the marketer resends it
// to the non-openers with a new subject, lands in the follow-up's editor
// (which says whom it is for and counts three), sends it from its page
// after a confirmation that states the three, and the three get it.
func TestBrowserMarketerResendsToNonOpeners(t *testing.T) {
	a := startApp(t)
	ctx := context.Background()
	var rows []string
	for i := range 5 {
		rows = append(rows, fmt.Sprintf(`{"email": "friend%d@example.com", "first_name": "Friend %d", "country": "NL"}`, i, i))
	}
	if code := a.call("POST", "/api/contacts", "["+strings.Join(rows, ",")+"]", nil); code != 200 {
		t.Fatalf("contacts: %d", code)
	}
	var seg struct{ ID int64 }
	if code := a.call("POST", "/api/segments", `{"name": "Friends", "definition": {"field": "country", "op": "eq", "value": "NL"}}`, &seg); code != 201 {
		t.Fatalf("segment: %d", code)
	}
	var camp struct{ ID int64 }
	if code := a.call("POST", "/api/campaigns", map[string]any{
		"name": "Autumn news", "subject": "Autumn at the shop", "from_email": "shop@example.com", "from_name": "Example Shop",
		"html_body": `<p>Hello {{.FirstName | default "friend"}}, <a href="https://shop.example.com/autumn">autumn is here</a>.</p>`, "segment_ids": []int64{seg.ID},
	}, &camp); code != 201 {
		t.Fatalf("campaign: %d", code)
	}
	if code := a.call("POST", fmt.Sprintf("/api/campaigns/%d/send", camp.ID), nil, nil); code != 202 {
		t.Fatalf("send: %d", code)
	}
	eventually(t, "the campaign to be sent", func() bool {
		var c struct{ Status string }
		a.call("GET", fmt.Sprintf("/api/campaigns/%d", camp.ID), nil, &c)
		return c.Status == "sent"
	})
	// Two of them read it an hour later.
	if err := a.DB.Model(&campaigns.Delivery{}).Where("campaign_id = ?", camp.ID).Update("sent_at", time.Now().Add(-time.Hour)).Error; err != nil {
		t.Fatal(err)
	}
	msgs, _, err := a.Outbox.List(ctx, 0, 10)
	if err != nil || len(msgs) != 5 {
		t.Fatalf("outbox: %d messages, %v", len(msgs), err)
	}
	pixelRe := regexp.MustCompile(`src="(` + regexp.QuoteMeta(a.base) + `/t/o/[^"]+)"`)
	openers := map[string]bool{}
	for _, m := range msgs[:2] {
		full, err := a.Outbox.Get(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		p, err := outbox.Parse([]byte(full.Raw))
		if err != nil {
			t.Fatal(err)
		}
		pixel := pixelRe.FindStringSubmatch(p.HTML)
		if pixel == nil {
			t.Fatalf("no open pixel in %s", p.HTML)
		}
		if resp, _ := a.get(pixel[1]); resp.StatusCode != 200 {
			t.Fatalf("open: %d", resp.StatusCode)
		}
		openers[m.RcptTo] = true
	}
	eventually(t, "two opens counted", func() bool {
		var st struct {
			OpensUnique int `json:"opens_unique"`
		}
		a.call("GET", fmt.Sprintf("/api/campaigns/%d/stats", camp.ID), nil, &st)
		return st.OpensUnique == 2
	})

	b := newBrowser(t, a)
	b.login()
	b.open(fmt.Sprintf("/campaigns/%d", camp.ID))
	b.click(`#follow-up-open`)
	b.waitVisible(`#follow-up-form input[name=subject]`)
	b.set(`#follow-up-form input[name=subject]`, "Did you miss our autumn news?")
	b.screenshot("form")
	b.click(`#follow-up-create`)
	b.waitText(`#follow-up-of`, `Follow-up to Autumn news for those who did not open it`)
	b.waitText(`#audience-count`, `^3$`)
	if b.value(`#subject`) != "Did you miss our autumn news?" {
		t.Errorf("the editor's subject is %q", b.value(`#subject`))
	}
	b.screenshot("editor")
	if bad := b.overflows(); len(bad) > 0 {
		t.Errorf("editor at 390 px: %v", bad)
	}

	var fu struct {
		ID       int64
		ResendOf int64  `json:"resend_of"`
		Status   string `json:"status"`
	}
	if err := a.DB.Model(&campaigns.Campaign{}).Where("resend_of = ?", camp.ID).Select("id").Scan(&fu.ID).Error; err != nil || fu.ID == 0 {
		t.Fatalf("no follow-up stored: %v", err)
	}
	a.call("GET", fmt.Sprintf("/api/campaigns/%d", fu.ID), nil, &fu)
	if fu.ResendOf != camp.ID || fu.Status != "scheduled" {
		t.Fatalf("follow-up %+v, want scheduled, resend_of %d", fu, camp.ID)
	}
	b.open(fmt.Sprintf("/campaigns/%d", fu.ID))
	b.waitText(`#follow-up-of`, `Follow-up to Autumn news`)
	// Scheduled three days after the original; the marketer sends it now.
	b.click(`input[name=when][value=now]`)
	b.click(`#send-button`)
	b.confirm("now to 3 contacts")
	b.waitText(`#campaign-status`, `^(sending|sent)$`)
	eventually(t, "the follow-up to reach the three who did not open", func() bool {
		n, err := a.Outbox.Count(ctx)
		return err == nil && n == 8
	})
	all, _, err := a.Outbox.List(ctx, 0, 20)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, m := range all {
		if m.Subject == "Did you miss our autumn news?" {
			got++
			if openers[m.RcptTo] {
				t.Errorf("%s opened the original and got the follow-up", m.RcptTo)
			}
		}
	}
	if got != 3 {
		t.Errorf("%d follow-up messages, want 3", got)
	}
	b.open(fmt.Sprintf("/campaigns/%d", fu.ID))
	b.waitText(`#campaign-status`, `^sent$`)
	b.screenshot("sent")
	b.open(fmt.Sprintf("/campaigns/%d", camp.ID))
	b.waitText(`#follow-ups`, `Follow-up Autumn news \(follow-up\) sent`)
	b.screenshot("original")
}
