package campaigns_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/campaigntest"
)

// engagementRow is a contact's engagement roll-up: how many
// campaigns were sent to them and, per kind of engagement, the rank
// (1 = latest campaign) of the latest campaign engaged with and of the
// latest one not.
type engagementRow struct {
	ContactID      int64
	Sent           int
	OpenedHit      *int
	OpenedMiss     *int
	OpenedAnyHit   *int
	OpenedAnyMiss  *int
	ClickedHit     *int
	ClickedMiss    *int
	ClickedAnyHit  *int
	ClickedAnyMiss *int
}

func (r engagementRow) String() string {
	p := func(v *int) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprint(*v)
	}
	return fmt.Sprintf("contact %d: sent %d, opened %s/%s, opened+machines %s/%s, clicked %s/%s, clicked+machines %s/%s",
		r.ContactID, r.Sent, p(r.OpenedHit), p(r.OpenedMiss), p(r.OpenedAnyHit), p(r.OpenedAnyMiss),
		p(r.ClickedHit), p(r.ClickedMiss), p(r.ClickedAnyHit), p(r.ClickedAnyMiss))
}

func storedEngagement(t *testing.T, g *gorm.DB) map[int64]string {
	t.Helper()
	var rows []engagementRow
	if err := g.Raw(`SELECT id AS contact_id, eng_sent AS sent, eng_opened_hit AS opened_hit, eng_opened_miss AS opened_miss,
		eng_opened_any_hit AS opened_any_hit, eng_opened_any_miss AS opened_any_miss, eng_clicked_hit AS clicked_hit,
		eng_clicked_miss AS clicked_miss, eng_clicked_any_hit AS clicked_any_hit, eng_clicked_any_miss AS clicked_any_miss
		FROM contacts WHERE eng_sent <> 0 OR eng_opened_hit IS NOT NULL OR eng_opened_miss IS NOT NULL OR eng_opened_any_hit IS NOT NULL
		OR eng_opened_any_miss IS NOT NULL OR eng_clicked_hit IS NOT NULL OR eng_clicked_miss IS NOT NULL
		OR eng_clicked_any_hit IS NOT NULL OR eng_clicked_any_miss IS NOT NULL`).Scan(&rows).Error; err != nil {
		t.Fatalf("read the engagement roll-ups: %v", err)
	}
	out := map[int64]string{}
	for _, r := range rows {
		out[r.ContactID] = r.String()
	}
	return out
}

// expectedEngagement computes the roll-ups of every contact from
// deliveries and events in Go: the campaigns sent to each contact, latest send first
// (ties by the larger campaign id), and the ranks of the first engaged
// and the first not engaged for each kind.
func expectedEngagement(t *testing.T, g *gorm.DB) map[int64]string {
	t.Helper()
	type pair struct{ contact, campaign int64 }
	var ds []campaigns.Delivery
	if err := g.Where("status = ?", campaigns.DeliverySent).Find(&ds).Error; err != nil {
		t.Fatal(err)
	}
	last := map[pair]time.Time{}
	for _, d := range ds {
		if d.SentAt == nil {
			t.Fatalf("delivery %d is sent without a time", d.ID)
		}
		p := pair{d.ContactID, d.CampaignID}
		if at, ok := last[p]; !ok || d.SentAt.After(at) {
			last[p] = *d.SentAt
		}
	}
	var evs []contacts.Event
	if err := g.Where("campaign_id IS NOT NULL AND type IN ?", []string{contacts.EventOpen, contacts.EventClick}).Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	flags := map[pair]map[string]bool{}
	for _, e := range evs {
		p := pair{e.ContactID, *e.CampaignID}
		if flags[p] == nil {
			flags[p] = map[string]bool{}
		}
		kind := "opened"
		if e.Type == contacts.EventClick {
			kind = "clicked"
		}
		flags[p][kind+"_any"] = true
		if !e.Machine {
			flags[p][kind] = true
		}
	}
	var existing []int64
	if err := g.Model(&contacts.Contact{}).Pluck("id", &existing).Error; err != nil {
		t.Fatal(err)
	}
	exists := map[int64]bool{}
	for _, id := range existing {
		exists[id] = true
	}
	byContact := map[int64][]int64{}
	for p := range last {
		if exists[p.contact] {
			byContact[p.contact] = append(byContact[p.contact], p.campaign)
		}
	}
	out := map[int64]string{}
	for c, ks := range byContact {
		sort.Slice(ks, func(i, j int) bool {
			a, b := last[pair{c, ks[i]}], last[pair{c, ks[j]}]
			if !a.Equal(b) {
				return a.After(b)
			}
			return ks[i] > ks[j]
		})
		r := engagementRow{ContactID: c, Sent: len(ks)}
		slots := map[string][2]**int{
			"opened": {&r.OpenedHit, &r.OpenedMiss}, "opened_any": {&r.OpenedAnyHit, &r.OpenedAnyMiss},
			"clicked": {&r.ClickedHit, &r.ClickedMiss}, "clicked_any": {&r.ClickedAnyHit, &r.ClickedAnyMiss},
		}
		for kind, s := range slots {
			for i, k := range ks {
				rank := i + 1
				slot := s[1]
				if flags[pair{c, k}][kind] {
					slot = s[0]
				}
				if *slot == nil {
					*slot = &rank
				}
			}
		}
		out[c] = r.String()
	}
	return out
}

func checkEngagement(t *testing.T, g *gorm.DB, step string) {
	t.Helper()
	got, want := storedEngagement(t, g), expectedEngagement(t, g)
	for c, w := range want {
		if got[c] != w {
			t.Errorf("%s: stored %q, want %q", step, got[c], w)
		}
	}
	for c, s := range got {
		if _, ok := want[c]; !ok {
			t.Errorf("%s: stored %q for a contact sent nothing", step, s)
		}
	}
}

// TestEngagementRollupsFollowEveryWrite checks that the engagement
// roll-ups segments read stay what deliveries and events say, step after
// step, whichever way a row is written: sends out of time order, repeats
// of a campaign, an open recorded before its send is settled, machine
// opens, a delivery falling back from sent, a deleted contact's events
// and a deleted campaign's deliveries.
func TestEngagementRollupsFollowEveryWrite(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	w.AddContacts(t, 3, "NL")
	var ids []int64
	if err := w.DB.Model(&contacts.Contact{}).Order("id").Pluck("id", &ids).Error; err != nil {
		t.Fatal(err)
	}
	a, b, c := ids[0], ids[1], ids[2]
	var ks []int64
	for i := 0; i < 4; i++ {
		ks = append(ks, w.Campaign(t, nil, nil).ID)
	}
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	deliver := func(campaign, contact int64, day int, occurrence string, status campaigns.DeliveryStatus) func(t *testing.T) {
		return func(t *testing.T) {
			d := campaigns.Delivery{CampaignID: campaign, ContactID: contact, Occurrence: occurrence, Status: status, Batch: 1}
			if status == campaigns.DeliverySent {
				at := base.AddDate(0, 0, day)
				d.SentAt = &at
			}
			if err := w.DB.Create(&d).Error; err != nil {
				t.Fatal(err)
			}
		}
	}
	event := func(typ string, campaign, contact int64, machine bool) func(t *testing.T) {
		return func(t *testing.T) {
			w.RecordEvents(t, contacts.EventInput{ContactID: contact, Type: typ, CampaignID: &campaign, Machine: machine})
		}
	}
	settle := func(campaign, contact int64, day int) func(t *testing.T) {
		return func(t *testing.T) {
			at := base.AddDate(0, 0, day)
			if err := w.DB.Model(&campaigns.Delivery{}).Where("campaign_id = ? AND contact_id = ?", campaign, contact).
				Updates(map[string]any{"status": campaigns.DeliverySent, "sent_at": at}).Error; err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, step := range []struct {
		name string
		do   func(t *testing.T)
		// want is contact a's row after the step, spelled out.
		want string
	}{
		{"a first campaign", deliver(ks[0], a, 0, "", campaigns.DeliverySent),
			fmt.Sprintf("contact %d: sent 1, opened -/1, opened+machines -/1, clicked -/1, clicked+machines -/1", a)},
		{"a person opens it", event(contacts.EventOpen, ks[0], a, false),
			fmt.Sprintf("contact %d: sent 1, opened 1/-, opened+machines 1/-, clicked -/1, clicked+machines -/1", a)},
		{"a newer campaign", deliver(ks[1], a, 10, "", campaigns.DeliverySent),
			fmt.Sprintf("contact %d: sent 2, opened 2/1, opened+machines 2/1, clicked -/1, clicked+machines -/1", a)},
		{"a machine opens the newer one", event(contacts.EventOpen, ks[1], a, true),
			fmt.Sprintf("contact %d: sent 2, opened 2/1, opened+machines 1/-, clicked -/1, clicked+machines -/1", a)},
		{"a send recorded late ranks by its time", deliver(ks[2], a, 5, "", campaigns.DeliverySent),
			fmt.Sprintf("contact %d: sent 3, opened 3/1, opened+machines 1/2, clicked -/1, clicked+machines -/1", a)},
		{"a repeat of the oldest campaign makes it the latest", deliver(ks[0], a, 20, "again", campaigns.DeliverySent),
			fmt.Sprintf("contact %d: sent 3, opened 1/2, opened+machines 1/3, clicked -/1, clicked+machines -/1", a)},
		{"a click", event(contacts.EventClick, ks[2], a, false),
			fmt.Sprintf("contact %d: sent 3, opened 1/2, opened+machines 1/3, clicked 3/1, clicked+machines 3/1", a)},
		{"a queued delivery counts for nothing", deliver(ks[3], a, 0, "", campaigns.DeliveryQueued),
			fmt.Sprintf("contact %d: sent 3, opened 1/2, opened+machines 1/3, clicked 3/1, clicked+machines 3/1", a)},
		{"an open before the send is settled", event(contacts.EventOpen, ks[3], a, false),
			fmt.Sprintf("contact %d: sent 3, opened 1/2, opened+machines 1/3, clicked 3/1, clicked+machines 3/1", a)},
		{"the send settles", settle(ks[3], a, 30),
			fmt.Sprintf("contact %d: sent 4, opened 1/3, opened+machines 1/4, clicked 4/1, clicked+machines 4/1", a)},
		{"same time, larger campaign id first", func(t *testing.T) {
			deliver(ks[1], b, 3, "", campaigns.DeliverySent)(t)
			deliver(ks[2], b, 3, "", campaigns.DeliverySent)(t)
			deliver(ks[0], b, 3, "", campaigns.DeliverySent)(t)
			event(contacts.EventOpen, ks[2], b, false)(t)
			deliver(ks[0], c, 1, "", campaigns.DeliverySent)(t)
			event(contacts.EventClick, ks[0], c, false)(t)
		}, ""},
		{"a sent delivery falls back to unknown", func(t *testing.T) {
			if err := w.DB.Model(&campaigns.Delivery{}).Where("campaign_id = ? AND contact_id = ?", ks[3], a).
				Update("status", campaigns.DeliveryUnknown).Error; err != nil {
				t.Fatal(err)
			}
		}, fmt.Sprintf("contact %d: sent 3, opened 1/2, opened+machines 1/3, clicked 3/1, clicked+machines 3/1", a)},
		{"a deleted contact's events go with it", func(t *testing.T) {
			if err := w.Contacts.Delete(ctx, c); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"a deleted campaign's deliveries go with it", func(t *testing.T) {
			if err := w.DB.Where("campaign_id = ?", ks[2]).Delete(&campaigns.Delivery{}).Error; err != nil {
				t.Fatal(err)
			}
		}, fmt.Sprintf("contact %d: sent 2, opened 1/2, opened+machines 1/-, clicked -/1, clicked+machines -/1", a)},
		{"a person opens what a machine opened", event(contacts.EventOpen, ks[1], a, false),
			fmt.Sprintf("contact %d: sent 2, opened 1/-, opened+machines 1/-, clicked -/1, clicked+machines -/1", a)},
	} {
		step.do(t)
		checkEngagement(t, w.DB, step.name)
		if step.want != "" {
			if got := storedEngagement(t, w.DB)[a]; got != step.want {
				t.Errorf("%s: %q, want %q", step.name, got, step.want)
			}
		}
	}
}

// TestEngagementRollupsWithSeveralSenders sends three campaigns to the
// same contacts with four senders at once, every batch handed to two of
// them (as a queue may run a task twice), then resends deliveries left in
// doubt: the roll-ups hold exactly what the ledger says.
func TestEngagementRollupsWithSeveralSenders(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	w.AddContacts(t, 20, "NL")
	seg := w.Segment(t, "NL", campaigntest.EqSegment("NL"))
	type job struct {
		campaign int64
		ids      []int64
	}
	var jobs []job
	var ks []int64
	for i := 0; i < 3; i++ {
		k := w.Campaign(t, []int64{seg}, nil).ID
		ks = append(ks, k)
		if _, err := w.Svc.Send(ctx, k, nil); err != nil {
			t.Fatal(err)
		}
		if err := w.Svc.Launch(ctx, k); err != nil {
			t.Fatal(err)
		}
		for _, ids := range w.Q.Pending() {
			jobs = append(jobs, job{k, ids}, job{k, ids})
		}
	}
	m := &campaigntest.Mailer{}
	ch := make(chan job)
	var wg sync.WaitGroup
	errc := make(chan error, len(jobs))
	for i := 0; i < 4; i++ {
		sender := campaigns.NewSender(w.Svc, m, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				if err := sender.SendBatch(ctx, j.campaign, j.ids, false); err != nil && !errors.Is(err, campaigns.ErrRetryLater) {
					errc <- err
				}
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	checkEngagement(t, w.DB, "after the sends")
	var sent int64
	w.DB.Model(&campaigns.Delivery{}).Where("status = ?", campaigns.DeliverySent).Count(&sent)
	if sent != 60 {
		t.Fatalf("%d deliveries sent, want 60", sent)
	}

	var contactIDs []int64
	w.DB.Model(&contacts.Contact{}).Order("id").Pluck("id", &contactIDs)
	for i, id := range contactIDs {
		if i%3 == 0 {
			w.RecordEvents(t, campaigntest.Open(id, ks[i%2]))
		}
	}
	checkEngagement(t, w.DB, "after the opens")

	// Two deliveries of the second campaign end in doubt and are resent.
	if err := w.DB.Model(&campaigns.Delivery{}).Where("campaign_id = ? AND contact_id IN ?", ks[1], contactIDs[:2]).
		Update("status", campaigns.DeliveryUnknown).Error; err != nil {
		t.Fatal(err)
	}
	checkEngagement(t, w.DB, "in doubt")
	if _, err := w.Svc.ResendUnknown(ctx, ks[1], "ana@shop.example"); err != nil {
		t.Fatal(err)
	}
	sender := campaigns.NewSender(w.Svc, m, nil)
	w.Drain(t, ks[1], sender)
	checkEngagement(t, w.DB, "after the resend")
	for _, id := range contactIDs[:2] {
		if got := storedEngagement(t, w.DB)[id]; got == "" {
			t.Errorf("contact %d resent to has no roll-up", id)
		}
	}
}

// TestMigrateBuildsEngagementRollupsFromExistingData checks the upgrade:
// deliveries and events written while the roll-ups were not kept (before
// the version that has them, or by a bulk load that dropped their
// triggers) are summed up by the next migration, which keeps them from
// then on.
func TestMigrateBuildsEngagementRollupsFromExistingData(t *testing.T) {
	w := campaigntest.NewWorld(t)
	w.AddContacts(t, 4, "NL")
	var ids []int64
	w.DB.Model(&contacts.Contact{}).Order("id").Pluck("id", &ids)
	k1, k2 := w.Campaign(t, nil, nil).ID, w.Campaign(t, nil, nil).ID
	if err := campaigns.DropEngagementTriggers(w.DB); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for i, id := range ids {
		for j, k := range []int64{k1, k2} {
			if i == 3 && j == 1 {
				continue
			}
			at := base.AddDate(0, 0, 10*j+i)
			if err := w.DB.Create(&campaigns.Delivery{CampaignID: k, ContactID: id, Status: campaigns.DeliverySent, Batch: 1, SentAt: &at}).Error; err != nil {
				t.Fatal(err)
			}
		}
		if i%2 == 0 {
			w.RecordEvents(t, campaigntest.Open(id, k1))
		}
	}
	if n := len(storedEngagement(t, w.DB)); n != 0 {
		t.Fatalf("%d roll-ups kept without triggers; the test needs none", n)
	}
	if err := campaigns.Migrate(w.DB); err != nil {
		t.Fatal(err)
	}
	if n := len(storedEngagement(t, w.DB)); n != 4 {
		t.Errorf("%d contacts summed up, want 4", n)
	}
	checkEngagement(t, w.DB, "after the migration")
	w.RecordEvents(t, campaigntest.Open(ids[1], k2))
	checkEngagement(t, w.DB, "an open after the migration")
	// A second migration finds everything in place and keeps it.
	if err := campaigns.Migrate(w.DB); err != nil {
		t.Fatal(err)
	}
	checkEngagement(t, w.DB, "after a second migration")
}
