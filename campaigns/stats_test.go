package campaigns_test

import (
	"context"
	"testing"
	"time"

	"herald/campaigns"
	"herald/contacts"
)

func TestStatsCountPeopleAndMachinesPerLinkPerHourAndAttributeRevenue(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	emails := w.addContacts(t, 4, "NL")
	c := w.campaign(t, []int64{w.segment(t, "NL", eqSegment("NL"))}, nil)
	if _, err := w.svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	w.drain(t, c.ID, campaigns.NewSender(w.svc, &mailer{}, nil))

	id := func(e string) int64 {
		ct, err := w.contacts.GetByEmail(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		return ct.ID
	}
	a, b, cc := id(emails[0]), id(emails[1]), id(emails[2])
	h := time.Now().UTC().Truncate(time.Hour).Add(-15 * 24 * time.Hour)
	cid := c.ID
	link := func(n int64) *int64 { return &n }
	evs := []contacts.EventInput{
		{ContactID: a, Type: contacts.EventOpen, CampaignID: &cid, OccurredAt: h.Add(5 * time.Minute)},
		{ContactID: a, Type: contacts.EventOpen, CampaignID: &cid, OccurredAt: h.Add(70 * time.Minute)},
		{ContactID: b, Type: contacts.EventOpen, CampaignID: &cid, OccurredAt: h.Add(10 * time.Minute)},
		{ContactID: cc, Type: contacts.EventOpen, CampaignID: &cid, OccurredAt: h.Add(time.Minute), Machine: true},
		{ContactID: a, Type: contacts.EventClick, CampaignID: &cid, LinkID: link(1), OccurredAt: h.Add(6 * time.Minute)},
		{ContactID: a, Type: contacts.EventClick, CampaignID: &cid, LinkID: link(1), OccurredAt: h.Add(71 * time.Minute)},
		{ContactID: cc, Type: contacts.EventClick, CampaignID: &cid, LinkID: link(1), OccurredAt: h.Add(time.Minute), Machine: true},
		// a bought two days after clicking (counts), and ten days after (too late)
		{ContactID: a, Type: contacts.EventPurchase, OrderID: "o1", Amount: 4999, OccurredAt: h.Add(48 * time.Hour)},
		{ContactID: a, Type: contacts.EventPurchase, OrderID: "o2", Amount: 1000, OccurredAt: h.Add(240 * time.Hour)},
		// b opened but never clicked: no revenue for the campaign
		{ContactID: b, Type: contacts.EventPurchase, OrderID: "o3", Amount: 7000, OccurredAt: h.Add(time.Hour)},
		// the scanner's "click" does not attribute cc's purchase
		{ContactID: cc, Type: contacts.EventPurchase, OrderID: "o4", Amount: 500, OccurredAt: h.Add(2 * time.Hour)},
	}
	res, err := w.contacts.RecordEvents(ctx, evs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	st, err := w.svc.Stats(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"delivered", st.Delivered, int64(4)},
		{"unique opens (people)", st.OpensUnique, int64(2)},
		{"total opens (all)", st.OpensTotal, int64(4)},
		{"machine opens", st.OpensMachine, int64(1)},
		{"unique clicks", st.ClicksUnique, int64(1)},
		{"total clicks", st.ClicksTotal, int64(3)},
		{"open rate", st.OpenRate, 0.5},
		{"click rate", st.ClickRate, 0.25},
		{"click to open", st.ClickToOpen, 0.5},
		{"revenue", st.Revenue, 49.99},
		{"revenue orders", st.RevenueOrders, int64(1)},
		{"links", len(st.Links), 1},
		{"link 1 people", st.Links[0].ClicksUnique, int64(1)},
		{"link 1 clicks", st.Links[0].ClicksTotal, int64(3)},
		{"link 1 url", st.Links[0].URL, "https://shop.example.com/"},
		{"hours", len(st.Timeline), 2},
		{"09:00 opens", st.Timeline[0].Opens, int64(2)},
		{"09:00 machine opens", st.Timeline[0].OpensMachine, int64(1)},
		{"09:00 clicks", st.Timeline[0].Clicks, int64(1)},
		{"09:00 machine clicks", st.Timeline[0].ClicksMachine, int64(1)},
		{"10:00 hour", st.Timeline[1].Hour, h.Add(time.Hour)},
		{"10:00 opens", st.Timeline[1].Opens, int64(1)},
		{"10:00 clicks", st.Timeline[1].Clicks, int64(1)},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}
