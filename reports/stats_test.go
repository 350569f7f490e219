package reports_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/campaigntest"
	"herald/internal/testenv"
	"herald/reports"
	"herald/segments"
	"herald/tracking"
)

func TestStatsCountPeopleAndMachinesPerLinkPerHourAndAttributeRevenue(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	emails := w.AddContacts(t, 4, "NL")
	c := w.Campaign(t, []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}, nil)
	if _, err := w.Svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	w.Drain(t, c.ID, campaigns.NewSender(w.Svc, &campaigntest.Mailer{}, nil))

	id := func(e string) int64 {
		ct, err := w.Contacts.GetByEmail(ctx, e)
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
	w.RecordEvents(t, evs...)
	st := w.Stats(t, c.ID)
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
		{"human opens", st.OpensHuman, int64(3)},
		{"contacts with a machine open", st.OpensUniqueMachine, int64(1)},
		{"human clicks", st.ClicksHuman, int64(2)},
		{"contacts with a machine click", st.ClicksUniqueMachine, int64(1)},
		{"machine clicks", st.ClicksMachine, int64(1)},
		{"currency", st.Currency, contacts.DefaultCurrency},
		{"links", len(st.Links), 1},
		{"link 1 people", st.Links[0].ClicksUnique, int64(1)},
		{"link 1 clicks", st.Links[0].ClicksTotal, int64(3)},
		{"link 1 human clicks", st.Links[0].ClicksHuman, int64(2)},
		{"link 1 machine clicks", st.Links[0].ClicksMachine, int64(1)},
		{"link 1 contacts with a machine click", st.Links[0].ClicksUniqueMachine, int64(1)},
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

// statsCampaign sends a campaign to n contacts of w (the mailer refusing
// the addresses in refuse) and returns it with its recipients' ids.
func statsCampaign(t *testing.T, w *campaigntest.World, n int, refuse map[int]bool) (campaigns.Campaign, []int64) {
	t.Helper()
	ctx := context.Background()
	emails := w.AddContacts(t, n, "NL")
	c := w.Campaign(t, []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}, nil)
	if _, err := w.Svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	refused := map[string]bool{}
	for i := range refuse {
		refused[emails[i]] = true
	}
	m := &campaigntest.Mailer{Fail: func(to string, _ int) error {
		if refused[to] {
			return &campaigns.SendError{Recipient: true, Code: 550, Msg: "no such user"}
		}
		return nil
	}}
	w.Drain(t, c.ID, campaigns.NewSender(w.Svc, m, nil))
	ids := make([]int64, n)
	for i, e := range emails {
		ct, err := w.Contacts.GetByEmail(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = ct.ID
	}
	return c, ids
}

func TestStatsDeliveredLeavesOutBouncesReportedAfterTheSend(t *testing.T) {
	w := campaigntest.NewWorld(t)
	// Five recipients; the server refuses the fifth at send time.
	c, ids := statsCampaign(t, w, 5, map[int]bool{4: true})
	cid := c.ID
	bounce := func(contact int64, key string) contacts.EventInput {
		return contacts.EventInput{ContactID: contact, Type: contacts.EventBounce, CampaignID: &cid, DedupeKey: key, Properties: map[string]any{"hard": true}}
	}
	other := cid + 1000
	w.RecordEvents(t,
		bounce(ids[0], "dsn-1"),
		bounce(ids[0], "dsn-1-again"), // a second report of the same message
		bounce(ids[1], "dsn-2"),
		contacts.EventInput{ContactID: ids[2], Type: contacts.EventBounce, CampaignID: &other, DedupeKey: "dsn-other"}, // another campaign's
	)
	st := w.Stats(t, c.ID)
	for _, ch := range []struct {
		name      string
		got, want int64
	}{
		{"sent", st.Sent, 4},
		{"bounced at send", st.Bounced, 1},
		{"bounced after send", st.BouncedAfterSend, 2},
		{"delivered", st.Delivered, 2},
	} {
		if ch.got != ch.want {
			t.Errorf("%s = %d, want %d", ch.name, ch.got, ch.want)
		}
	}
}

// TestStatsBouncedAfterSendCountsAtMostOneBouncePerMessageSent: an
// automation's campaign sends a contact one message per occurrence, so a
// contact's later bounces count up to the messages sent to them.
func TestStatsBouncedAfterSendCountsAtMostOneBouncePerMessageSent(t *testing.T) {
	w := campaigntest.NewWorld(t)
	c, ids := statsCampaign(t, w, 4, nil)
	// ids[0] and ids[1] were sent a second occurrence; ids[2]'s second one
	// is still queued.
	sent := time.Now().UTC()
	for _, d := range []campaigns.Delivery{
		{CampaignID: c.ID, ContactID: ids[0], Occurrence: "2027", Status: campaigns.DeliverySent, Batch: 1, SentAt: &sent},
		{CampaignID: c.ID, ContactID: ids[1], Occurrence: "2027", Status: campaigns.DeliverySent, Batch: 1, SentAt: &sent},
		{CampaignID: c.ID, ContactID: ids[2], Occurrence: "2027", Status: campaigns.DeliveryQueued, Batch: 1},
	} {
		if err := w.DB.Create(&d).Error; err != nil {
			t.Fatal(err)
		}
	}
	cid := c.ID
	var evs []contacts.EventInput
	for contact, n := range map[int64]int{ids[0]: 3, ids[1]: 1, ids[2]: 2} {
		for i := 0; i < n; i++ {
			evs = append(evs, contacts.EventInput{ContactID: contact, Type: contacts.EventBounce, CampaignID: &cid, DedupeKey: fmt.Sprintf("dsn-%d-%d", contact, i)})
		}
	}
	w.RecordEvents(t, evs...)
	// ids[0]: 2 of 3 (two sent), ids[1]: 1, ids[2]: 1 of 2 (one sent).
	if st := w.Stats(t, c.ID); st.BouncedAfterSend != 4 {
		t.Errorf("bounced after send = %d, want 4", st.BouncedAfterSend)
	}
}

func TestStatsRevenueIsInMajorUnitsOfTheStoreCurrency(t *testing.T) {
	for _, tc := range []struct {
		currency string
		amount   int64 // minor units
		want     float64
	}{
		{"JPY", 4999, 4999},
		{"EUR", 4999, 49.99},
		{"KWD", 4999, 4.999},
	} {
		t.Run(tc.currency, func(t *testing.T) {
			w := campaigntest.NewWorld(t)
			// The world's store, with the store currency of the case.
			w.Contacts = contacts.NewStore(w.DB, contacts.Options{Currency: tc.currency})
			w.Segments = segments.NewService(w.DB, w.Contacts, nil, nil)
			signer, err := tracking.NewSigner([]byte("a test secret of enough length"))
			if err != nil {
				t.Fatal(err)
			}
			w.Svc = campaigns.NewService(w.DB, w.Contacts, w.Segments, w.Q, signer, campaigns.Config{BaseURL: "https://h.example", LaunchPage: 7, ClaimSize: 3, Log: testenv.Logger()})
			w.Rep = reports.New(w.DB, w.Svc, w.Contacts, reports.Config{})
			c, ids := statsCampaign(t, w, 1, nil)
			cid, link := c.ID, int64(1)
			at := time.Now().UTC().Add(-48 * time.Hour)
			w.RecordEvents(t,
				contacts.EventInput{ContactID: ids[0], Type: contacts.EventClick, CampaignID: &cid, LinkID: &link, OccurredAt: at},
				contacts.EventInput{ContactID: ids[0], Type: contacts.EventPurchase, OrderID: "o-1", Amount: tc.amount, OccurredAt: at.Add(time.Hour)},
			)
			st := w.Stats(t, c.ID)
			if st.Revenue != tc.want || st.Currency != tc.currency || st.RevenueOrders != 1 {
				t.Errorf("revenue %v %s over %d orders, want %v %s over 1", st.Revenue, st.Currency, st.RevenueOrders, tc.want, tc.currency)
			}
		})
	}
}

func TestStatsCountComplaintsPerPersonAndListThemWithBounceDiagnostics(t *testing.T) {
	w := campaigntest.NewWorld(t)
	c, ids := statsCampaign(t, w, 4, map[int]bool{3: true})
	cid, other := c.ID, c.ID+1000
	complaint := func(contact int64, key string, campaign *int64) contacts.EventInput {
		return contacts.EventInput{ContactID: contact, Type: contacts.EventComplaint, CampaignID: campaign, DedupeKey: key}
	}
	w.RecordEvents(t,
		complaint(ids[0], "fbl-1", &cid),
		complaint(ids[0], "fbl-1-again", &cid), // the same person twice
		complaint(ids[1], "fbl-2", &cid),
		complaint(ids[2], "fbl-other", &other), // another campaign's
		contacts.EventInput{ContactID: ids[2], Type: contacts.EventBounce, CampaignID: &cid, DedupeKey: "report:hard:x",
			Properties: map[string]any{"hard": true, "diagnostic": "smtp; 550 5.1.1 user unknown", "source": "ses"}},
	)
	if st := w.Stats(t, c.ID); st.Complained != 2 || st.BouncedAfterSend != 1 {
		t.Errorf("complained = %d, bounced after send = %d; want 2 and 1", st.Complained, st.BouncedAfterSend)
	}
	ctx := context.Background()
	people, _, err := w.Rep.People(ctx, c.ID, reports.PeopleComplained, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(people) != 2 || people[0].ContactID != ids[0] || people[0].Count != 2 || people[1].ContactID != ids[1] {
		t.Errorf("complained list = %+v, want contacts %d (twice) and %d", people, ids[0], ids[1])
	}
	bounced, _, err := w.Rep.People(ctx, c.ID, reports.PeopleBounced, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]string{
		ids[2]: "reported after the message was accepted: smtp; 550 5.1.1 user unknown",
		ids[3]: "smtp 550: no such user",
	}
	if len(bounced) != 2 {
		t.Fatalf("bounced list = %+v, want 2", bounced)
	}
	for _, p := range bounced {
		if !strings.Contains(p.Detail, want[p.ContactID]) {
			t.Errorf("contact %d: detail %q, want %q", p.ContactID, p.Detail, want[p.ContactID])
		}
	}
}
