package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"herald/campaigns"
	"herald/internal/app"
	"herald/outbox"
)

// TestBrowserMarketerSendsToTwoThousandWatchesProgressAndReadsTheReport
// sends a campaign to a 2,000-contact segment from its page, confirms the
// audience the dialog states, pauses and resumes it while the progress bar
// moves, sees it reach 100% with the Outbox holding every message, and
// reads the report after a few people opened and clicked.
func TestBrowserMarketerSendsToTwoThousandWatchesProgressAndReadsTheReport(t *testing.T) {
	// A limited rate makes the send last long enough to pause it.
	a := startAppWith(t, func(c *app.Config) { c.SendRate = 150 })
	ctx := context.Background()
	const n = 2000
	for start := 0; start < n; start += 500 {
		var rows []string
		for i := start; i < start+500; i++ {
			rows = append(rows, fmt.Sprintf(`{"email": "reader%04d@example.com", "first_name": "Reader %d", "country": "NL"}`, i, i))
		}
		var out struct{ Created int }
		if code := a.call("POST", "/api/contacts", "["+strings.Join(rows, ",")+"]", &out); code != 200 || out.Created != 500 {
			t.Fatalf("contacts %d..: %d, created %d", start, code, out.Created)
		}
	}
	var seg struct{ ID int64 }
	if code := a.call("POST", "/api/segments", `{"name": "Netherlands", "definition": {"field": "country", "op": "eq", "value": "NL"}}`, &seg); code != 201 {
		t.Fatalf("segment: %d", code)
	}
	var camp struct{ ID int64 }
	if code := a.call("POST", "/api/campaigns", map[string]any{
		"name": "Spring sale", "subject": `Spring is here, {{.FirstName | default "friend"}}`, "from_email": "shop@example.com", "from_name": "Example Shop",
		"html_body":   `<p>Hello {{.FirstName | default "friend"}}</p><p><a href="https://shop.example.com/spring">The spring collection</a> or <a href="https://shop.example.com/sale">the sale</a>.</p><p><a href="{{.UnsubscribeURL}}">Unsubscribe</a></p>`,
		"segment_ids": []int64{seg.ID},
	}, &camp); code != 201 {
		t.Fatalf("campaign: %d", code)
	}
	page := fmt.Sprintf("/campaigns/%d", camp.ID)

	b := newBrowser(t, a)
	b.login()
	b.open("/campaigns")
	b.waitText(`table.campaigns`, `Spring sale[\s\S]*draft[\s\S]*2,000`)
	// Scheduling reads the date and time in the reader's zone: 09:30 in
	// Jerusalem on the first of July is 06:30 UTC.
	var later struct{ ID int64 }
	if code := a.call("POST", "/api/campaigns", map[string]any{
		"name": "Summer preview", "subject": "Summer", "from_email": "shop@example.com",
		"html_body": `<p>Soon</p>`, "segment_ids": []int64{seg.ID},
	}, &later); code != 201 {
		t.Fatalf("campaign: %d", code)
	}
	b.do("time zone", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Jerusalem"})
		return err
	}))
	b.open(fmt.Sprintf("/campaigns/%d", later.ID))
	b.waitText(`#send-zone`, `Asia/Jerusalem`)
	b.click(`input[name=when][value=schedule]`)
	b.set(`input[name=local_at]`, "2030-07-01T09:30")
	b.click(`#send-button`)
	b.confirm("to 2,000 contacts")
	b.waitText(`#campaign-status`, `^scheduled$`)
	var sched struct {
		ScheduledAt time.Time `json:"scheduled_at"`
	}
	a.call("GET", fmt.Sprintf("/api/campaigns/%d", later.ID), nil, &sched)
	if want := time.Date(2030, 7, 1, 6, 30, 0, 0, time.UTC); !sched.ScheduledAt.Equal(want) {
		t.Fatalf("scheduled at %v, want %v", sched.ScheduledAt, want)
	}
	if got := b.text(`dl.facts`); !strings.Contains(got, "9:30") {
		t.Errorf("the page shows the schedule as %q, want 9:30 in the reader's zone", got)
	}
	if got := b.value(`input[name=local_at]`); got != "2030-07-01T09:30" {
		t.Errorf("the scheduled page offers %q to reschedule, want the time in the reader's zone", got)
	}
	b.screenshot("scheduled")

	b.open("/campaigns")
	b.click(`a[href="` + page + `"]`)
	b.waitVisible(`#send-form`)
	b.screenshot("draft")

	// Send now: the dialog states the audience counted by the API.
	b.click(`#send-button`)
	b.confirm("now to 2,000 contacts")
	b.waitVisible(`#delivery`)
	b.waitText(`#campaign-status`, `^sending$`)
	// The bar moves without a reload while it sends.
	b.js(`window.__samePage = true`)
	b.waitText(`#delivery [data-p=sent]`, `^[1-9]`)
	b.waitText(`#delivery .progress-line`, `per second`)
	if !eval[bool](b, `window.__samePage === true`) {
		t.Fatal("the page reloaded to show progress")
	}
	b.screenshot("sending")

	// Pause: nothing more goes out until it resumes.
	b.click(`#pause`)
	b.waitText(`#campaign-status`, `^paused$`)
	b.waitVisible(`#resume`)
	var st struct {
		Sent   int
		Queued int
		Total  int
	}
	a.call("GET", fmt.Sprintf("/api/campaigns/%d/stats", camp.ID), nil, &st)
	if st.Total != n || st.Sent >= n {
		t.Fatalf("paused with %+v, want some of %d left", st, n)
	}
	b.screenshot("paused")
	b.click(`#resume`)
	b.waitText(`#campaign-status`, `^(sending|sent)$`)

	// 100%: the page turns into the report by itself.
	b.waitText(`#delivery [data-p=percent]`, `^100%$`)
	b.waitText(`#campaign-status`, `^sent$`)
	if v := eval[string](b, `document.querySelector("#delivery .progress").getAttribute("aria-valuenow")`); v != "100" {
		t.Errorf("aria-valuenow %s at the end", v)
	}
	if got := b.text(`#delivery [data-p=sent]`); got != "2,000" {
		t.Errorf("sent shows %q", got)
	}
	eventually(t, "the Outbox to hold every message", func() bool {
		c, err := a.Outbox.Count(ctx)
		return err == nil && c == n
	})

	// A few people read it a while later: three open, two click the
	// first link and one the second.
	if err := a.DB.Model(&campaigns.Delivery{}).Where("campaign_id = ?", camp.ID).Update("sent_at", time.Now().Add(-time.Hour)).Error; err != nil {
		t.Fatal(err)
	}
	msgs, _, err := a.Outbox.List(ctx, 0, 3)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("outbox: %d messages, %v", len(msgs), err)
	}
	pixelRe := regexp.MustCompile(`src="(` + regexp.QuoteMeta(a.base) + `/t/o/[^"]+)"`)
	clickRe := regexp.MustCompile(`href="(` + regexp.QuoteMeta(a.base) + `/t/c/[^"]+)"`)
	for i, m := range msgs {
		full, err := a.Outbox.Get(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		p, err := outbox.Parse([]byte(full.Raw))
		if err != nil {
			t.Fatal(err)
		}
		pixel, clicks := pixelRe.FindStringSubmatch(p.HTML), clickRe.FindAllStringSubmatch(p.HTML, -1)
		if pixel == nil || len(clicks) < 2 {
			t.Fatalf("tracking URLs missing from %s", p.HTML)
		}
		if resp, _ := a.get(pixel[1]); resp.StatusCode != 200 {
			t.Fatalf("open: %d", resp.StatusCode)
		}
		link := clicks[0][1]
		if i == 2 {
			link = clicks[1][1]
		}
		if resp, _ := a.get(strings.ReplaceAll(link, "&amp;", "&")); resp.StatusCode != 302 {
			t.Fatalf("click: %d", resp.StatusCode)
		}
	}
	var eng struct {
		OpensUnique  int `json:"opens_unique"`
		ClicksUnique int `json:"clicks_unique"`
	}
	eventually(t, "three opens and three clicks counted", func() bool {
		a.call("GET", fmt.Sprintf("/api/campaigns/%d/stats", camp.ID), nil, &eng)
		return eng.OpensUnique == 3 && eng.ClicksUnique == 3
	})

	b.open(page)
	b.waitVisible(`figure.chart svg`)
	links := b.text(`#links table`)
	for _, want := range []string{"https://shop.example.com/spring", "https://shop.example.com/sale"} {
		if !strings.Contains(links, want) {
			t.Errorf("link table lacks %s: %q", want, links)
		}
	}
	if got := eval[[]string](b, `[...document.querySelectorAll("#links tbody tr")].map(r => r.cells[1].textContent.trim())`); strings.Join(got, ",") != "2,1" {
		t.Errorf("people per link %v, want 2 and 1", got)
	}
	if got := b.text(`#report-stats`); !regexp.MustCompile(`0\.15%\s*3 people opened`).MatchString(got) || !strings.Contains(got, "3 people clicked") {
		t.Errorf("report figures %q, want 3 people opened and 3 clicked (0.15%%)", got)
	}
	if got := eval[int](b, `document.querySelectorAll("#people tbody tr").length`); got != 3 {
		t.Errorf("%d openers listed, want 3", got)
	}
	href := eval[string](b, `document.querySelector("#people tbody a").getAttribute("href")`)
	if _, err := strconv.Atoi(strings.TrimPrefix(href, "/contacts/")); err != nil {
		t.Errorf("an opener links to %q, want their contact page", href)
	}
	b.screenshot("report")
	if bad := b.overflows(); len(bad) > 0 {
		t.Errorf("report at 390 px: %v", bad)
	}

	// Five deliveries in doubt, as a worker killed after the final dot
	// leaves them: the marketer sends them once more, knowingly, and the
	// report records who did.
	var doubt []int64
	if err := a.DB.Model(&campaigns.Delivery{}).Where("campaign_id = ?", camp.ID).Order("id DESC").Limit(5).Pluck("id", &doubt).Error; err != nil {
		t.Fatal(err)
	}
	if err := a.DB.Model(&campaigns.Delivery{}).Where("id IN ?", doubt).
		Updates(map[string]any{"status": campaigns.DeliveryUnknown, "error": "the worker stopped while the server was taking the message; it may or may not have been accepted"}).Error; err != nil {
		t.Fatal(err)
	}
	b.open(page)
	b.waitText(`#unknown h2`, `^5 deliveries in doubt$`)
	b.click(`#resend-unknown`)
	b.confirm("Send 5 messages once more")
	b.waitText(`#actions`, `5 unknown deliveries sent once more by admin@example.com`)
	b.screenshot("resent")
	eventually(t, "the five sent once more", func() bool {
		c, err := a.Outbox.Count(ctx)
		return err == nil && c == n+5
	})
	// The page follows the campaign back to sent by itself.
	b.waitText(`#campaign-status`, `^sent$`)
	b.waitText(`#delivery [data-p=unknown]`, `^0$`)
	if b.text(`#delivery [data-p=unknown]`) != "0" {
		t.Errorf("unknown deliveries left after the resend: %s", b.text(`#delivery [data-p=unknown]`))
	}
	if eval[int](b, `document.querySelectorAll("#resend-unknown").length`) != 0 {
		t.Error("the resend is still offered with nothing in doubt")
	}

	b.open("/campaigns")
	b.waitText(`table.campaigns`, `Spring sale[\s\S]*sent[\s\S]*0\.15%[\s\S]*3 people`)
	b.screenshot("list")
	if bad := b.overflows(); len(bad) > 0 {
		t.Errorf("campaign list at 390 px: %v", bad)
	}
}
