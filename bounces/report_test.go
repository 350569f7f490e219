package bounces_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"herald/bounces"
	"herald/campaigns"
	"herald/contacts"
	"herald/internal/campaigntest"
	"herald/internal/testenv"
)

// sentWorld is a campaign sent to n contacts, with a Recorder on a clock.
type sentWorld struct {
	*campaigntest.World
	campaign   campaigns.Campaign
	emails     []string
	deliveries map[string]campaigns.Delivery // by email
	clock      *testenv.Clock
	rec        *bounces.Recorder
}

var testNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func newSentWorld(t *testing.T, n int, policy bounces.SoftBouncePolicy) *sentWorld {
	t.Helper()
	return newSentWorldTo(t, nil, policy, n)
}

// newSentWorldTo is a campaign sent to emails, or to n made-up addresses.
func newSentWorldTo(t *testing.T, emails []string, policy bounces.SoftBouncePolicy, n ...int) *sentWorld {
	t.Helper()
	w := campaigntest.NewWorld(t)
	if err := bounces.Migrate(w.DB); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if len(emails) == 0 {
		emails = w.AddContacts(t, n[0], "NL")
	} else {
		for _, e := range emails {
			e, nl := e, "NL"
			if _, _, err := w.Contacts.Upsert(ctx, contacts.Input{Email: &e, Country: &nl}); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := w.Campaign(t, []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}, nil)
	if _, err := w.Svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	w.Drain(t, c.ID, campaigns.NewSender(w.Svc, &campaigntest.Mailer{}, nil))
	var ds []campaigns.Delivery
	if err := w.DB.Where("campaign_id = ?", c.ID).Find(&ds).Error; err != nil {
		t.Fatal(err)
	}
	byEmail := map[string]campaigns.Delivery{}
	for _, d := range ds {
		ct, err := w.Contacts.Get(ctx, d.ContactID)
		if err != nil {
			t.Fatal(err)
		}
		byEmail[ct.Email] = d
	}
	clock := testenv.NewClock(testNow)
	cs := contacts.NewStore(w.DB, contacts.Options{Now: clock.Now})
	return &sentWorld{World: w, campaign: c, emails: emails, deliveries: byEmail, clock: clock,
		rec: bounces.NewRecorder(w.DB, cs, w.Svc, clock.Now, policy)}
}

func (w *sentWorld) record(t *testing.T, reps ...bounces.Report) bounces.Result {
	t.Helper()
	res, err := w.rec.Record(context.Background(), reps)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (w *sentWorld) contact(t *testing.T, email string) contacts.Contact {
	t.Helper()
	c, err := w.Contacts.GetByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// events returns the contact's events of typ.
func (w *sentWorld) events(t *testing.T, email, typ string) []contacts.Event {
	t.Helper()
	var evs []contacts.Event
	if err := w.DB.Where("contact_id = ? AND type = ?", w.contact(t, email).ID, typ).Order("id").Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	return evs
}

func (w *sentWorld) suppressed(t *testing.T, email string) string {
	t.Helper()
	got, err := w.Contacts.Suppressed(context.Background(), []string{email})
	if err != nil {
		t.Fatal(err)
	}
	return got[email]
}

func TestRecordHardBounceByMessageIDSuppressesAtOnceAndCountsOnTheCampaignOnce(t *testing.T) {
	w := newSentWorld(t, 3, bounces.DefaultSoftBouncePolicy)
	email := w.emails[1]
	d := w.deliveries[email]
	rep := bounces.Report{
		Kind: bounces.Hard, Email: email, MessageID: w.Svc.MessageID(w.campaign.ID, d.ID),
		Diagnostic: "smtp; 550 5.1.1 user unknown", Source: bounces.SourceSES, ProviderID: "feedback-1",
		OccurredAt: testNow.Add(-time.Minute),
	}
	if got, want := w.record(t, rep), (bounces.Result{Received: 1, Recorded: 1, Suppressed: 1}); got != want {
		t.Fatalf("first report: %+v, want %+v", got, want)
	}
	// The same bounce replayed, and reported again under another provider
	// id (the mailbox's DSN of the same message): counted once.
	again := rep
	again.ProviderID, again.Source = "", bounces.SourceMailbox
	if got, want := w.record(t, rep, again), (bounces.Result{Received: 2, Duplicates: 2}); got != want {
		t.Fatalf("replay: %+v, want %+v", got, want)
	}
	if st := w.contact(t, email).Status; st != contacts.Bounced {
		t.Errorf("status = %s, want bounced", st)
	}
	if r := w.suppressed(t, email); r != string(contacts.Bounced) {
		t.Errorf("suppression reason = %q, want bounced", r)
	}
	evs := w.events(t, email, contacts.EventBounce)
	if len(evs) != 1 {
		t.Fatalf("%d bounce events, want 1", len(evs))
	}
	ev := evs[0]
	if ev.CampaignID == nil || *ev.CampaignID != w.campaign.ID {
		t.Errorf("campaign = %v, want %d", ev.CampaignID, w.campaign.ID)
	}
	if ev.Properties["hard"] != true || ev.Properties["diagnostic"] != "smtp; 550 5.1.1 user unknown" || ev.Properties["source"] != "ses" {
		t.Errorf("properties = %v", ev.Properties)
	}
	if !ev.OccurredAt.Equal(testNow.Add(-time.Minute)) {
		t.Errorf("occurred at %v, want %v", ev.OccurredAt, testNow.Add(-time.Minute))
	}
	st := w.Stats(t, w.campaign.ID)
	if st.BouncedAfterSend != 1 || st.Delivered != 2 {
		t.Errorf("bounced after send = %d, delivered = %d; want 1 and 2", st.BouncedAfterSend, st.Delivered)
	}
	for _, other := range []string{w.emails[0], w.emails[2]} {
		if st := w.contact(t, other).Status; st != contacts.Subscribed {
			t.Errorf("%s is %s, want subscribed", other, st)
		}
	}
}

func TestRecordComplaintSuppressesAtOnce(t *testing.T) {
	w := newSentWorld(t, 2, bounces.DefaultSoftBouncePolicy)
	email := w.emails[0]
	d := w.deliveries[email]
	got := w.record(t, bounces.Report{Kind: bounces.Complaint, Email: email, DeliveryID: d.ID, Source: bounces.SourceMailgun, ProviderID: "ev-1"})
	if want := (bounces.Result{Received: 1, Recorded: 1, Suppressed: 1}); got != want {
		t.Fatalf("result %+v, want %+v", got, want)
	}
	if st := w.contact(t, email).Status; st != contacts.Complained {
		t.Errorf("status = %s, want complained", st)
	}
	if r := w.suppressed(t, email); r != string(contacts.Complained) {
		t.Errorf("suppression reason = %q, want complained", r)
	}
	evs := w.events(t, email, contacts.EventComplaint)
	if len(evs) != 1 || evs[0].CampaignID == nil || *evs[0].CampaignID != w.campaign.ID {
		t.Fatalf("complaint events = %+v, want one on campaign %d", evs, w.campaign.ID)
	}
	if st := w.Stats(t, w.campaign.ID); st.Complained != 1 || st.BouncedAfterSend != 0 {
		t.Errorf("complained = %d, bounced after send = %d; want 1 and 0", st.Complained, st.BouncedAfterSend)
	}
}

func TestRecordMatchesDeliveryOnlyWhenItWentToTheReportedAddress(t *testing.T) {
	w := newSentWorld(t, 3, bounces.DefaultSoftBouncePolicy)
	a, b := w.emails[0], w.emails[1]
	da := w.deliveries[a]
	cases := []struct {
		name         string
		rep          bounces.Report
		result       bounces.Result
		email        string // whose bounce event to look at
		wantCampaign bool
	}{
		{"VERP delivery id without an address", bounces.Report{DeliveryID: da.ID}, bounces.Result{Received: 1, Recorded: 1, Suppressed: 1}, a, true},
		{"Message-ID in angle brackets, address in other case", bounces.Report{MessageID: "<" + w.Svc.MessageID(w.campaign.ID, w.deliveries[b].ID) + ">", Email: "  " + strings.ToUpper(b)}, bounces.Result{Received: 1, Recorded: 1, Suppressed: 1}, b, true},
		{"Message-ID of another's delivery falls back to the address", bounces.Report{MessageID: w.Svc.MessageID(w.campaign.ID, da.ID), Email: w.emails[2], ProviderID: "x"}, bounces.Result{Received: 1, Recorded: 1, Suppressed: 1}, w.emails[2], false},
		{"unknown address", bounces.Report{Email: "nobody@example.org", ProviderID: "y"}, bounces.Result{Received: 1, Unmatched: 1}, "", false},
		{"neither address nor Message-ID", bounces.Report{ProviderID: "z"}, bounces.Result{Received: 1, Unmatched: 1}, "", false},
		{"Message-ID of a delivery that does not exist, no address", bounces.Report{MessageID: w.Svc.MessageID(w.campaign.ID, 99999)}, bounces.Result{Received: 1, Unmatched: 1}, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.rep.Kind, tc.rep.Source = bounces.Hard, bounces.SourceWebhook
			if got := w.record(t, tc.rep); got != tc.result {
				t.Fatalf("result %+v, want %+v", got, tc.result)
			}
			if tc.email == "" {
				return
			}
			evs := w.events(t, tc.email, contacts.EventBounce)
			if len(evs) != 1 {
				t.Fatalf("%d bounce events, want 1", len(evs))
			}
			if got := evs[0].CampaignID != nil && *evs[0].CampaignID == w.campaign.ID; got != tc.wantCampaign {
				t.Errorf("on the campaign: %v, want %v", got, tc.wantCampaign)
			}
		})
	}
}

func TestSoftBouncesSuppressAtTheLimitWithinTheWindow(t *testing.T) {
	policy := bounces.SoftBouncePolicy{Limit: 3, Window: 30 * 24 * time.Hour}
	soft := func(email, id string, at time.Time) bounces.Report {
		return bounces.Report{Kind: bounces.Soft, Email: email, Source: bounces.SourceSendGrid, ProviderID: id, OccurredAt: at, Diagnostic: "452 mailbox full"}
	}
	day := 24 * time.Hour
	cases := []struct {
		name       string
		ats        []time.Duration // before now
		want       contacts.Status
		suppressed int // by the last report
	}{
		{"two within the window", []time.Duration{2 * day, day}, contacts.Subscribed, 0},
		{"three within the window", []time.Duration{20 * day, 2 * day, day}, contacts.Bounced, 1},
		{"three, one outside the window", []time.Duration{31 * day, 2 * day, day}, contacts.Subscribed, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newSentWorld(t, 1, policy)
			email := w.emails[0]
			var last bounces.Result
			for i, ago := range tc.ats {
				last = w.record(t, soft(email, tc.name+string(rune('a'+i)), testNow.Add(-ago)))
				if last.Recorded != 1 {
					t.Fatalf("report %d: %+v", i, last)
				}
			}
			if last.Suppressed != tc.suppressed {
				t.Errorf("suppressed by the last report = %d, want %d", last.Suppressed, tc.suppressed)
			}
			if st := w.contact(t, email).Status; st != tc.want {
				t.Errorf("status = %s, want %s", st, tc.want)
			}
			wantList := ""
			if tc.want == contacts.Bounced {
				wantList = string(contacts.Bounced)
			}
			if r := w.suppressed(t, email); r != wantList {
				t.Errorf("suppression reason = %q, want %q", r, wantList)
			}
		})
	}
}

func TestSoftBounceReplaysDoNotCountTowardTheLimit(t *testing.T) {
	w := newSentWorld(t, 1, bounces.SoftBouncePolicy{Limit: 2, Window: 30 * 24 * time.Hour})
	email := w.emails[0]
	rep := bounces.Report{Kind: bounces.Soft, Email: email, Source: bounces.SourceMailgun, ProviderID: "same", OccurredAt: testNow.Add(-time.Hour)}
	w.record(t, rep)
	if got, want := w.record(t, rep), (bounces.Result{Received: 1, Duplicates: 1}); got != want {
		t.Fatalf("replay: %+v, want %+v", got, want)
	}
	if st := w.contact(t, email).Status; st != contacts.Subscribed {
		t.Errorf("status = %s, want subscribed", st)
	}
	if evs := w.events(t, email, contacts.EventBounce); len(evs) != 1 || evs[0].Properties["hard"] != false {
		t.Errorf("bounce events = %+v, want one soft", evs)
	}
}
