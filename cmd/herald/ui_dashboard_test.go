package main

import (
	"fmt"
	"strings"
	"testing"
)

// TestBrowserDashboardAfterASendAndCouponsByPaste: after a campaign goes
// out and a contact buys, the dashboard counts the contacts, lists the
// campaign with its figures and draws both 30-day charts, with their
// numbers in a table. Then the marketer pastes coupon codes into a new
// pool, with a repeat skipped, and an empty paste is refused.
func TestBrowserDashboardAfterASendAndCouponsByPaste(t *testing.T) {
	a := startApp(t)
	seedContacts(t, a) // four contacts, two purchases today, segment 1: Israel
	var camp struct{ ID int64 }
	if code := a.call("POST", "/api/segments", `{"name": "Everyone", "definition": {"field": "email", "op": "contains", "value": "@"}}`, &camp); code != 201 {
		t.Fatalf("segment: %d", code)
	}
	seg := camp.ID
	if code := a.call("POST", "/api/campaigns", map[string]any{
		"name": "Spring sale", "subject": "Spring", "html_body": `<p>Hi {{.FirstName | default "there"}}</p>`,
		"from_email": "hello@shop.example.com", "segment_ids": []int64{seg},
	}, &camp); code != 201 {
		t.Fatalf("campaign: %d", code)
	}
	if code := a.call("POST", fmt.Sprintf("/api/campaigns/%d/send", camp.ID), nil, nil); code != 202 {
		t.Fatalf("send: %d", code)
	}
	var st struct{ Sent int }
	eventually(t, "three messages sent (one contact is unsubscribed)", func() bool {
		a.call("GET", fmt.Sprintf("/api/campaigns/%d/stats", camp.ID), nil, &st)
		return st.Sent == 3
	})

	b := newBrowser(t, a)
	b.login()
	b.open("/dashboard")
	b.waitVisible(`figure.chart svg`)
	if got := b.text(".dash-stats"); !strings.Contains(got, "4\ncontacts") || !strings.Contains(got, "3\nsubscribed") ||
		!strings.Contains(got, "3\nmessages sent in 30 days") || !strings.Contains(got, "€1,020.50") {
		t.Errorf("dashboard figures: %q", got)
	}
	if got := b.text("table.dash-campaigns"); !strings.Contains(got, "Spring sale") || !strings.Contains(got, "3") {
		t.Errorf("latest campaigns: %q", got)
	}
	if n := eval[int](b, `document.querySelectorAll("figure.chart svg rect[fill='url(#hatch)']").length`); n < 2 {
		t.Errorf("the messages chart has %d bars, want today's bar and its legend", n)
	}
	// The numbers behind the chart: today's row says 3 messages.
	b.click(`figure.chart details.chart-data summary`)
	if got := eval[string](b, `[...document.querySelector("figure.chart").querySelectorAll("details.chart-data tbody tr")].at(-1).textContent`); !strings.Contains(got, "3") {
		t.Errorf("today's row of the messages table: %q", got)
	}
	b.screenshot("dashboard")
	if bad := b.overflows(); len(bad) > 0 {
		t.Errorf("dashboard at 390 px: %v", bad)
	}

	// Coupons, from the navigation.
	b.click(`nav a[href="/coupons"]`)
	b.waitVisible(`form.coupon-form`)
	b.set(`input[name=pool]`, "WINBACK10")
	b.click(`form.coupon-form button`)
	b.waitVisible(`.field-error`)
	if got := b.text(`textarea[name=codes] ~ .field-error`); !strings.Contains(got, "No codes") {
		t.Errorf("empty paste: %q", got)
	}
	if got := b.value(`input[name=pool]`); got != "WINBACK10" {
		t.Errorf("the typed pool was lost: %q", got)
	}
	b.set(`textarea[name=codes]`, "WB-1001\nWB-1002\nWB-1003\nWB-1001\n")
	b.click(`form.coupon-form button`)
	b.waitText(".flash", `Added 3 codes to WINBACK10\. 1 was already in the pool or repeated`)
	if got := b.text("table.pools tbody"); !strings.Contains(got, "WINBACK10") || !strings.Contains(got, `{{coupon "WINBACK10"}}`) {
		t.Errorf("pools: %q", got)
	}
	var pools struct {
		Data []struct {
			Pool      string
			Available int
		}
	}
	a.call("GET", "/api/coupons", nil, &pools)
	if len(pools.Data) != 1 || pools.Data[0].Available != 3 {
		t.Errorf("pools through the API: %+v", pools)
	}
	b.screenshot("coupons")
	if bad := b.overflows(); len(bad) > 0 {
		t.Errorf("coupons at 390 px: %v", bad)
	}
}
