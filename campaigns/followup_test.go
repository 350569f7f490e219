package campaigns_test

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/campaigntest"
	"herald/internal/errs"
	"herald/internal/testenv"
)

// followUpWorld is a sent campaign to ten contacts on a fake clock, with
// what its readers did afterwards.
type followUpWorld struct {
	*campaigntest.World
	svc    *campaigns.Service
	clock  *time.Time
	m      *campaigntest.Mailer
	sender *campaigns.Sender
	ids    map[string]int64 // email -> contact id
	emails []string
}

func newFollowUpWorld(t *testing.T) *followUpWorld {
	t.Helper()
	w := campaigntest.NewWorld(t)
	clock := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	svc := campaigns.NewService(w.DB, w.Contacts, w.Segments, w.Q, nil, campaigns.Config{
		BaseURL: "https://h.example", LaunchPage: 4, ClaimSize: 3, Log: testenv.Logger(),
		Now: func() time.Time { return clock },
	})
	w.Svc = svc
	fw := &followUpWorld{World: w, svc: svc, clock: &clock, ids: map[string]int64{}}
	fw.emails = w.AddContacts(t, 10, "NL")
	for _, e := range fw.emails {
		ct, err := w.Contacts.GetByEmail(context.Background(), e)
		if err != nil {
			t.Fatal(err)
		}
		fw.ids[e] = ct.ID
	}
	// The bounced address is refused by the receiving server.
	fw.m = &campaigntest.Mailer{Fail: func(to string, _ int) error {
		if to == fw.emails[9] {
			return &campaigns.SendError{Recipient: true, Code: 550, Msg: "5.1.1 no such user"}
		}
		return nil
	}}
	fw.sender = campaigns.NewSender(svc, fw.m, nil)
	return fw
}

// send sends campaign id now and runs it to the end.
func (fw *followUpWorld) send(t *testing.T, id int64) {
	t.Helper()
	if _, err := fw.svc.Send(context.Background(), id, nil); err != nil {
		t.Fatal(err)
	}
	fw.Drain(t, id, fw.sender)
}

func (fw *followUpWorld) open(t *testing.T, campaignID int64, machine bool, emails ...string) {
	t.Helper()
	for _, e := range emails {
		cid := campaignID
		fw.RecordEvents(t, contacts.EventInput{ContactID: fw.ids[e], Type: contacts.EventOpen, CampaignID: &cid, OccurredAt: *fw.clock, Machine: machine})
	}
}

// recipients are the contacts campaign id has delivery rows for, sorted.
func (fw *followUpWorld) recipients(t *testing.T, id int64) []string {
	t.Helper()
	var ds []campaigns.Delivery
	if err := fw.DB.Where("campaign_id = ?", id).Find(&ds).Error; err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range ds {
		for e, cid := range fw.ids {
			if cid == d.ContactID {
				out = append(out, e)
			}
		}
	}
	sort.Strings(out)
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The follow-up goes to exactly those the original was delivered to who
// did not open it in person, as they stand when it launches: openers,
// a contact who unsubscribed, a bounced address and a contact who moved
// into an excluded segment are left out; a privacy proxy's open does not
// count as reading. A follow-up of the follow-up leaves out whoever
// opened either.
func TestFollowUpGoesToThoseWhoDidNotOpenWhenItLaunches(t *testing.T) {
	fw := newFollowUpWorld(t)
	ctx := context.Background()
	e := fw.emails
	nl := fw.Segment(t, "NL", campaigntest.EqSegment("NL"))
	paris := fw.Segment(t, "Paris", map[string]any{"field": "city", "op": "eq", "value": "Paris"})
	orig := fw.Campaign(t, []int64{nl}, []int64{paris})
	fw.send(t, orig.ID)
	if got := fw.Stats(t, orig.ID); got.Sent != 9 || got.Bounced != 1 {
		t.Fatalf("original: %d sent, %d bounced; want 9 and 1", got.Sent, got.Bounced)
	}

	*fw.clock = fw.clock.Add(2 * time.Hour)
	fw.open(t, orig.ID, false, e[0], e[1], e[2])
	fw.open(t, orig.ID, true, e[3]) // Apple's proxy fetched the pixel; nobody read it
	cid := orig.ID
	fw.RecordEvents(t, contacts.EventInput{ContactID: fw.ids[e[4]], Type: contacts.EventUnsubscribe, CampaignID: &cid, OccurredAt: *fw.clock})

	subject, days := "Did you miss this?", 3
	fu, err := fw.svc.CreateFollowUp(ctx, orig.ID, campaigns.FollowUpInput{Subject: &subject, AfterDays: &days})
	if err != nil {
		t.Fatal(err)
	}
	if fu.Status != campaigns.CampaignScheduled || fu.ScheduledAt == nil || !fu.ScheduledAt.Equal(fw.Get(t, orig.ID).StartedAt.AddDate(0, 0, 3)) {
		t.Fatalf("follow-up %s at %v, want scheduled 3 days after the original started", fu.Status, fu.ScheduledAt)
	}
	if fu.ResendOf == nil || *fu.ResendOf != orig.ID || fu.Subject != subject || fu.HTMLBody != orig.HTMLBody || fu.Name != "Spring (follow-up)" {
		t.Fatalf("follow-up = %+v", fu)
	}

	// Before it goes out: one more reads the original, one moves to Paris.
	*fw.clock = fw.clock.Add(24 * time.Hour)
	fw.open(t, orig.ID, false, e[5])
	city := "Paris"
	if _, err := fw.Contacts.Update(ctx, fw.ids[e[6]], contacts.Input{City: &city}); err != nil {
		t.Fatal(err)
	}

	if a, err := fw.svc.AudienceOfCampaign(ctx, fu); err != nil || a.Count != 3 || a.FirstContactID != fw.ids[e[3]] {
		t.Fatalf("follow-up audience before launch = %+v, %v; want 3 from %s", a, err, e[3])
	}
	*fw.clock = *fu.ScheduledAt
	fw.Drain(t, fu.ID, fw.sender)
	want := []string{e[3], e[7], e[8]}
	if got := fw.recipients(t, fu.ID); !equal(got, want) {
		t.Fatalf("follow-up went to %v, want %v", got, want)
	}
	for _, addr := range e {
		wantN := 1
		if addr == e[3] || addr == e[7] || addr == e[8] {
			wantN = 2
		}
		if addr == e[9] {
			wantN = 0 // refused, never delivered
		}
		if n := fw.m.Count(addr); n != wantN {
			t.Errorf("%s got %d messages, want %d", addr, n, wantN)
		}
	}
	// Running the launch and its batches again sends nothing more.
	fw.Drain(t, fu.ID, fw.sender)
	if got := fw.Stats(t, fu.ID); got.Sent != 3 || got.Total != 3 {
		t.Errorf("follow-up: %d sent of %d, want 3 of 3", got.Sent, got.Total)
	}
	if got := fw.Get(t, fu.ID); got.Status != campaigns.CampaignSent {
		t.Errorf("follow-up is %s, want sent", got.Status)
	}

	// A follow-up of the follow-up: e[7] opens the follow-up, e[8] the
	// original, late; only e[3] is left.
	*fw.clock = fw.clock.Add(time.Hour)
	fw.open(t, fu.ID, false, e[7])
	fw.open(t, orig.ID, false, e[8])
	last := "Last chance"
	fu2, err := fw.svc.CreateFollowUp(ctx, fu.ID, campaigns.FollowUpInput{Subject: &last})
	if err != nil {
		t.Fatal(err)
	}
	if fu2.Status != campaigns.CampaignDraft || *fu2.ResendOf != fu.ID {
		t.Fatalf("second follow-up is %s of %v, want a draft of %d", fu2.Status, fu2.ResendOf, fu.ID)
	}
	fw.send(t, fu2.ID)
	if got := fw.recipients(t, fu2.ID); !equal(got, []string{e[3]}) {
		t.Fatalf("second follow-up went to %v, want %v", got, []string{e[3]})
	}
}

func (fw *followUpWorld) Get(t *testing.T, id int64) campaigns.Campaign {
	t.Helper()
	c, err := fw.svc.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A follow-up scheduled while its original is still going out waits for
// the original to finish, and then goes to its non-openers.
func TestFollowUpWaitsForItsOriginalToFinish(t *testing.T) {
	fw := newFollowUpWorld(t)
	ctx := context.Background()
	orig := fw.Campaign(t, []int64{fw.Segment(t, "NL", campaigntest.EqSegment("NL"))}, nil)
	if _, err := fw.svc.Send(ctx, orig.ID, nil); err != nil {
		t.Fatal(err)
	}
	subject := "Again"
	at := fw.clock.Add(time.Hour)
	fu, err := fw.svc.CreateFollowUp(ctx, orig.ID, campaigns.FollowUpInput{Subject: &subject, SendAt: &at})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.svc.Send(ctx, fu.ID, nil); !errors.Is(err, errs.ErrConflict) {
		t.Fatalf("sending the follow-up now while the original sends: %v, want a conflict", err)
	}
	*fw.clock = at
	if err := fw.svc.Launch(ctx, fu.ID); err != nil {
		t.Fatal(err)
	}
	if got := fw.Get(t, fu.ID); got.Status != campaigns.CampaignScheduled || len(fw.recipients(t, fu.ID)) != 0 {
		t.Fatalf("follow-up is %s with %d deliveries while the original sends; want scheduled with none", got.Status, len(fw.recipients(t, fu.ID)))
	}
	fw.Drain(t, orig.ID, fw.sender)
	fw.Drain(t, fu.ID, fw.sender)
	if got := fw.recipients(t, fu.ID); len(got) != 9 {
		t.Fatalf("follow-up went to %d contacts, want the 9 the original reached", len(got))
	}
}

func TestFollowUpRefusesBadRequestsWithTheirPath(t *testing.T) {
	fw := newFollowUpWorld(t)
	ctx := context.Background()
	nl := fw.Segment(t, "NL", campaigntest.EqSegment("NL"))
	draft := fw.Campaign(t, []int64{nl}, nil)
	sent := fw.Campaign(t, []int64{nl}, nil)
	fw.send(t, sent.ID)
	*fw.clock = fw.clock.Add(5 * 24 * time.Hour)
	str := func(s string) *string { return &s }
	num := func(n int) *int { return &n }
	past := fw.clock.Add(-time.Minute)
	cases := []struct {
		name     string
		id       int64
		in       campaigns.FollowUpInput
		wantPath string // empty: a conflict
	}{
		{"no subject", sent.ID, campaigns.FollowUpInput{AfterDays: num(7)}, "subject"},
		{"blank subject", sent.ID, campaigns.FollowUpInput{Subject: str("  ")}, "subject"},
		{"subject that does not compile", sent.ID, campaigns.FollowUpInput{Subject: str("Hi {{.Nope}}")}, "subject"},
		{"zero days", sent.ID, campaigns.FollowUpInput{Subject: str("Again"), AfterDays: num(0)}, "after_days"},
		{"days already past", sent.ID, campaigns.FollowUpInput{Subject: str("Again"), AfterDays: num(3)}, "after_days"},
		{"send_at in the past", sent.ID, campaigns.FollowUpInput{Subject: str("Again"), SendAt: &past}, "send_at"},
		{"both times", sent.ID, campaigns.FollowUpInput{Subject: str("Again"), AfterDays: num(7), SendAt: &past}, "send_at"},
		{"a draft original", draft.ID, campaigns.FollowUpInput{Subject: str("Again")}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fw.svc.CreateFollowUp(ctx, tc.id, tc.in)
			if tc.wantPath == "" {
				if !errors.Is(err, errs.ErrConflict) {
					t.Fatalf("got %v, want a conflict", err)
				}
				return
			}
			ie, ok := errs.AsInvalid(err)
			if !ok || ie.Path != tc.wantPath {
				t.Fatalf("got %v, want an invalid %s", err, tc.wantPath)
			}
		})
	}
	var n int64
	if err := fw.DB.Model(&campaigns.Campaign{}).Where("resend_of IS NOT NULL").Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d follow-ups stored from refused requests", n)
	}
	ids := []int64{nl}
	fu, err := fw.svc.CreateFollowUp(ctx, sent.ID, campaigns.FollowUpInput{Subject: str("Again")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.svc.Update(ctx, fu.ID, campaigns.Input{SegmentIDs: &ids}); err == nil {
		t.Error("a follow-up took segments")
	} else if ie, ok := errs.AsInvalid(err); !ok || ie.Path != "segment_ids" {
		t.Errorf("got %v, want an invalid segment_ids", err)
	}
	if err := fw.svc.Delete(ctx, sent.ID); !errors.Is(err, errs.ErrConflict) {
		t.Errorf("deleting the original of a draft follow-up: %v, want a conflict", err)
	}
}
