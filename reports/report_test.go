package reports_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/campaigntest"
	"herald/internal/errs"
	"herald/reports"
)

func TestActivityCountsByTheHourForTwoDaysThenByTheDay(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	c, ids := statsCampaign(t, w, 3, nil)
	start := time.Now().UTC().Truncate(time.Hour).Add(-10 * 24 * time.Hour)
	if err := w.DB.Model(&campaigns.Campaign{}).Where("id = ?", c.ID).Update("started_at", start.Add(20*time.Minute)).Error; err != nil {
		t.Fatal(err)
	}
	cid := c.ID
	link := int64(1)
	w.RecordEvents(t,
		contacts.EventInput{ContactID: ids[0], Type: contacts.EventOpen, CampaignID: &cid, OccurredAt: start.Add(30 * time.Minute)},
		contacts.EventInput{ContactID: ids[1], Type: contacts.EventOpen, CampaignID: &cid, OccurredAt: start.Add(25 * time.Minute), Machine: true},
		contacts.EventInput{ContactID: ids[1], Type: contacts.EventOpen, CampaignID: &cid, OccurredAt: start.Add(3*time.Hour + time.Minute)},
		contacts.EventInput{ContactID: ids[1], Type: contacts.EventClick, CampaignID: &cid, LinkID: &link, OccurredAt: start.Add(3*time.Hour + 2*time.Minute)},
		// 50 hours in: the first day after the hourly part
		contacts.EventInput{ContactID: ids[2], Type: contacts.EventOpen, CampaignID: &cid, OccurredAt: start.Add(50 * time.Hour)},
		// 5 days and 1 hour in: the fourth day after the hourly part
		contacts.EventInput{ContactID: ids[2], Type: contacts.EventClick, CampaignID: &cid, LinkID: &link, OccurredAt: start.Add(121 * time.Hour)},
	)
	got, err := w.Rep.Activity(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	// 48 hours, then a day at a time from 48 hours in up to now (the
	// tenth day, under way): 9 days.
	if len(got) != 48+9 {
		t.Fatalf("%d buckets, want 57", len(got))
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"first bucket starts at the start's hour", got[0].Start, start},
		{"first bucket is an hour", got[0].Hourly, true},
		{"hour 0 opens (people)", got[0].Opens, int64(1)},
		{"hour 0 machine opens", got[0].OpensMachine, int64(1)},
		{"hour 3 opens", got[3].Opens, int64(1)},
		{"hour 3 clicks", got[3].Clicks, int64(1)},
		{"hour 47 is the last hour", got[47].Hourly, true},
		{"bucket 48 is a day", got[48].Hourly, false},
		{"day bucket starts 48 hours in", got[48].Start, start.Add(48 * time.Hour)},
		{"first day opens", got[48].Opens, int64(1)},
		{"fourth day clicks", got[51].Clicks, int64(1)},
		{"a quiet day", got[50].Opens + got[50].Clicks, int64(0)},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	var sum int64
	for _, b := range got {
		sum += b.Opens + b.Clicks + b.OpensMachine + b.ClicksMachine
	}
	if sum != 6 {
		t.Errorf("buckets hold %d events, want all 6", sum)
	}

	draft := w.Campaign(t, []int64{w.Segment(t, "NL2", campaigntest.EqSegment("NL"))}, nil)
	if got, err := w.Rep.Activity(ctx, draft.ID); err != nil || len(got) != 0 {
		t.Errorf("a draft has activity %v, %v", got, err)
	}
}

func TestPeopleListsPageByContactAndLeaveMachinesOut(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	c, ids := statsCampaign(t, w, 5, map[int]bool{4: true})
	cid := c.ID
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	link := int64(1)
	w.RecordEvents(t,
		contacts.EventInput{ContactID: ids[0], Type: contacts.EventOpen, CampaignID: &cid, OccurredAt: at},
		contacts.EventInput{ContactID: ids[0], Type: contacts.EventOpen, CampaignID: &cid, OccurredAt: at.Add(time.Minute)},
		contacts.EventInput{ContactID: ids[1], Type: contacts.EventOpen, CampaignID: &cid, OccurredAt: at.Add(2 * time.Minute)},
		contacts.EventInput{ContactID: ids[2], Type: contacts.EventOpen, CampaignID: &cid, OccurredAt: at, Machine: true},
		contacts.EventInput{ContactID: ids[2], Type: contacts.EventClick, CampaignID: &cid, LinkID: &link, OccurredAt: at, Machine: true},
		contacts.EventInput{ContactID: ids[1], Type: contacts.EventClick, CampaignID: &cid, LinkID: &link, OccurredAt: at.Add(3 * time.Minute)},
		contacts.EventInput{ContactID: ids[3], Type: contacts.EventUnsubscribe, CampaignID: &cid, OccurredAt: at.Add(4 * time.Minute)},
	)
	if err := w.DB.Model(&campaigns.Delivery{}).Where("campaign_id = ? AND contact_id = ?", c.ID, ids[3]).
		Updates(map[string]any{"status": campaigns.DeliveryUnknown, "error": "the connection dropped after the message was sent"}).Error; err != nil {
		t.Fatal(err)
	}

	all := func(kind reports.PeopleKind) []reports.Person {
		t.Helper()
		var out []reports.Person
		var after int64
		for pages := 0; ; pages++ {
			ps, next, err := w.Rep.People(ctx, c.ID, kind, after, 1)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, ps...)
			if next == 0 {
				break
			}
			if pages > 10 {
				t.Fatal("the cursor does not move")
			}
			after = next
		}
		return out
	}
	opened := all(reports.PeopleOpened)
	if len(opened) != 2 || opened[0].ContactID != ids[0] || opened[1].ContactID != ids[1] {
		t.Fatalf("opened = %+v, want contacts 0 and 1 (the machine's open left out)", opened)
	}
	if opened[0].Count != 2 || !opened[0].At.Equal(at) || opened[0].Email == "" {
		t.Errorf("first opener = %+v, want 2 opens first at %v with an email", opened[0], at)
	}
	if clicked := all(reports.PeopleClicked); len(clicked) != 1 || clicked[0].ContactID != ids[1] {
		t.Errorf("clicked = %+v, want contact 1 only", clicked)
	}
	if b := all(reports.PeopleBounced); len(b) != 1 || b[0].ContactID != ids[4] || b[0].Detail == "" {
		t.Errorf("bounced = %+v, want contact 4 with the server's reason", b)
	}
	if u := all(reports.PeopleUnsubscribed); len(u) != 1 || u[0].ContactID != ids[3] {
		t.Errorf("unsubscribed = %+v, want contact 3", u)
	}
	if u := all(reports.PeopleUnknown); len(u) != 1 || u[0].ContactID != ids[3] || u[0].Detail == "" || u[0].Resent {
		t.Errorf("unknown = %+v, want contact 3 with its reason, not yet resent", u)
	}
	var inv *errs.InvalidError
	if _, _, err := w.Rep.People(ctx, c.ID, "everyone", 0, 10); !errors.As(err, &inv) {
		t.Errorf("an unknown list: %v, want invalid", err)
	}
}

func TestOverviewFiltersByStatusPagesAndCountsPeople(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	sent, ids := statsCampaign(t, w, 4, nil)
	cid := sent.ID
	w.RecordEvents(t,
		contacts.EventInput{ContactID: ids[0], Type: contacts.EventOpen, CampaignID: &cid, OccurredAt: time.Now().UTC().Add(-time.Minute)},
		contacts.EventInput{ContactID: ids[1], Type: contacts.EventOpen, CampaignID: &cid, OccurredAt: time.Now().UTC().Add(-time.Minute), Machine: true},
	)
	draft := w.Campaign(t, []int64{w.Segment(t, "NL2", campaigntest.EqSegment("NL"))}, nil)

	all, next, err := w.Rep.Overview(ctx, "", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].ID != draft.ID || next != draft.ID {
		t.Fatalf("first page %+v next %d, want the draft and a cursor", all, next)
	}
	if all[0].Audience != 4 {
		t.Errorf("draft audience %d, want the 4 its segment holds now", all[0].Audience)
	}
	rest, next, err := w.Rep.Overview(ctx, "", next, 1)
	if err != nil || len(rest) != 1 || rest[0].ID != sent.ID || next != 0 {
		t.Fatalf("second page %+v next %d err %v", rest, next, err)
	}
	s := rest[0]
	if s.Sent != 4 || s.Delivered != 4 || s.OpensUnique != 1 || s.OpensUniqueMachine != 1 || s.OpenRate != 0.25 {
		t.Errorf("sent campaign %+v, want 4 sent, 1 person opened (25%%), 1 machine apart", s)
	}
	only, _, err := w.Rep.Overview(ctx, campaigns.CampaignDraft, 0, 10)
	if err != nil || len(only) != 1 || only[0].ID != draft.ID {
		t.Errorf("drafts = %+v, %v", only, err)
	}
}
