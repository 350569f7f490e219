package bounces_test

import (
	"context"
	"strings"
	"testing"

	"github.com/emersion/go-imap"

	"herald/bounces"
	"herald/campaigns"
	"herald/contacts"
	"herald/internal/campaigntest"
	"herald/internal/imaptest"
	"herald/internal/testenv"
)

// mailboxSample is a sample DSN rewritten to be about one of the world's
// deliveries: its recipient, Message-ID and VERP token replaced.
type mailboxSample struct {
	file          string
	email, msgID  string // in the sample, replaced by the delivery's
	verp          bool   // the sample's VERP token becomes the delivery's
	contact       int    // index in the world's emails; -1 for none
	wantStatus    contacts.Status
	wantProcessed bool
}

const sampleToken = "fihhpxvf2lxv54q"

func (w *sentWorld) dsnFor(t *testing.T, s mailboxSample) []byte {
	t.Helper()
	raw := string(dsnSample(t, s.file))
	if s.contact < 0 {
		return []byte(raw)
	}
	email := w.emails[s.contact]
	d := w.deliveries[email]
	if s.email != "" {
		raw = strings.ReplaceAll(raw, s.email, email)
	}
	if s.msgID != "" {
		raw = strings.ReplaceAll(raw, s.msgID, w.Svc.MessageID(w.campaign.ID, d.ID))
	}
	if s.verp {
		addr := testReturnPath(t).Address(d.ID)
		token := strings.TrimSuffix(strings.TrimPrefix(addr, "bounces+"), "@shop.example")
		raw = strings.ReplaceAll(raw, sampleToken, token)
	}
	return []byte(raw)
}

// mailboxSamples are the shapes the mailbox holds in the poll tests.
var mailboxSamples = []mailboxSample{
	{file: "rfc3464-hard-postfix.eml", email: "anna.jansen@example.nl", msgID: "herald.7.42@shop.example", contact: 0, wantStatus: contacts.Bounced, wantProcessed: true},
	{file: "rfc3464-soft-expired.eml", email: "piet@example.org", msgID: "herald.7.43@shop.example", contact: 1, wantStatus: contacts.Subscribed, wantProcessed: true},
	{file: "arf-complaint.eml", msgID: "herald.7.46@shop.example", verp: true, contact: 2, wantStatus: contacts.Complained, wantProcessed: true},
	{file: "exim-plain.eml", email: "sam.smith@example.co.uk", msgID: "herald.7.47@shop.example", contact: 3, wantStatus: contacts.Bounced, wantProcessed: true},
	{file: "autoreply-out-of-office.eml", contact: -1},
	{file: "verp-only.eml", email: "anna.jansen@example.nl", verp: true, contact: 4, wantStatus: contacts.Bounced, wantProcessed: true},
}

func newPoller(t *testing.T, w *sentWorld, url string) *bounces.Mailbox {
	t.Helper()
	set, err := bounces.ParseMailboxURL(url)
	if err != nil {
		t.Fatal(err)
	}
	return bounces.NewMailbox(set, w.rec, testReturnPath(t), testenv.Logger())
}

func TestPollRecordsEachBounceOnceAndMarksEveryMessage(t *testing.T) {
	for _, mode := range []struct{ name, query string }{{"flagged", ""}, {"moved", "&move=Processed"}} {
		t.Run(mode.name, func(t *testing.T) {
			w := newSentWorld(t, 6, bounces.DefaultSoftBouncePolicy)
			srv := imaptest.Start(t)
			uids := map[uint32]mailboxSample{}
			for _, s := range mailboxSamples {
				uids[srv.Append("INBOX", w.dsnFor(t, s))] = s
			}
			// A message a person already read is still a bounce to record.
			srv.Append("INBOX", w.dsnFor(t, mailboxSample{file: "qmail-plain.eml", email: "noor@example.net", msgID: "herald.7.48@shop.example", contact: 5}), imap.SeenFlag)
			p := newPoller(t, w, srv.URL("INBOX")+mode.query)

			got, err := p.Poll(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := bounces.PollResult{Messages: 7, NotBounces: 1, Result: bounces.Result{Received: 6, Recorded: 6, Suppressed: 5}}
			if got != want {
				t.Fatalf("first poll: %+v, want %+v", got, want)
			}
			for _, s := range mailboxSamples {
				if s.contact < 0 {
					continue
				}
				if st := w.contact(t, w.emails[s.contact]).Status; st != s.wantStatus {
					t.Errorf("%s: contact status %s, want %s", s.file, st, s.wantStatus)
				}
			}
			if st := w.contact(t, w.emails[5]).Status; st != contacts.Bounced {
				t.Errorf("qmail bounce read before: status %s, want bounced", st)
			}
			// Five bounces of the campaign's messages (the soft one too)
			// count after the send, and the complaint beside them.
			if st := w.Stats(t, w.campaign.ID); st.BouncedAfterSend != 5 || st.Delivered != st.Sent-5 || st.Complained != 1 {
				t.Errorf("stats: bounced_after_send %d, delivered %d of %d sent, complained %d; want 5, sent less 5, 1", st.BouncedAfterSend, st.Delivered, st.Sent, st.Complained)
			}

			inbox := srv.Messages("INBOX")
			processed := srv.Messages("Processed")
			if mode.query == "" {
				if len(inbox) != 7 || len(processed) != 0 {
					t.Fatalf("INBOX %d, Processed %d messages; want all 7 left in INBOX", len(inbox), len(processed))
				}
				for _, m := range inbox {
					s, known := uids[m.UID]
					bounce := !known || s.wantProcessed
					if bounce && !(m.Has(bounces.KeywordProcessed) && m.Has(imap.SeenFlag)) {
						t.Errorf("%s: flags %v, want \\Seen and %s", s.file, m.Flags, bounces.KeywordProcessed)
					}
					if !bounce && (m.Has(imap.SeenFlag) || m.Has(bounces.KeywordProcessed) || !m.Has(bounces.KeywordNotBounce)) {
						t.Errorf("%s (not a bounce): flags %v, want only %s, left unread", s.file, m.Flags, bounces.KeywordNotBounce)
					}
				}
			} else {
				if len(inbox) != 1 || len(processed) != 6 {
					t.Fatalf("INBOX %d, Processed %d messages; want the auto-reply left and 6 moved", len(inbox), len(processed))
				}
				if !strings.Contains(string(inbox[0].Raw), "Automatic reply") || !inbox[0].Has(bounces.KeywordNotBounce) || inbox[0].Has(imap.SeenFlag) {
					t.Errorf("left in INBOX: flags %v, want the auto-reply unread with %s", inbox[0].Flags, bounces.KeywordNotBounce)
				}
			}

			again, err := p.Poll(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if again != (bounces.PollResult{}) {
				t.Fatalf("second poll: %+v, want nothing read", again)
			}
		})
	}
}

// TestPollAfterACrashBetweenRecordAndMarkCountsOnce: the reports of a
// message were committed but the poller died before marking it, so the
// next poll reads it again; it is marked and counts once.
func TestPollAfterACrashBetweenRecordAndMarkCountsOnce(t *testing.T) {
	w := newSentWorld(t, 1, bounces.DefaultSoftBouncePolicy)
	srv := imaptest.Start(t)
	raw := w.dsnFor(t, mailboxSamples[0])
	srv.Append("INBOX", raw)
	reps, err := bounces.ParseDSN(raw, testReturnPath(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := w.record(t, reps...); got.Recorded != 1 {
		t.Fatalf("recorded before the crash: %+v", got)
	}
	got, err := newPoller(t, w, srv.URL("INBOX")).Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (bounces.PollResult{Messages: 1, Result: bounces.Result{Received: 1, Duplicates: 1}}); got != want {
		t.Fatalf("poll: %+v, want %+v", got, want)
	}
	if evs := w.events(t, w.emails[0], contacts.EventBounce); len(evs) != 1 {
		t.Errorf("%d bounce events, want 1", len(evs))
	}
	if m := srv.Messages("INBOX")[0]; !m.Has(bounces.KeywordProcessed) {
		t.Errorf("flags %v, want %s", m.Flags, bounces.KeywordProcessed)
	}
}

func TestPollWithWrongPasswordFailsWithoutTheSecret(t *testing.T) {
	w := newSentWorld(t, 1, bounces.DefaultSoftBouncePolicy)
	srv := imaptest.Start(t)
	url := strings.Replace(srv.URL("INBOX"), "password", "guess", 1)
	_, err := newPoller(t, w, url).Poll(context.Background())
	if err == nil || !strings.Contains(err.Error(), "log in") || strings.Contains(err.Error(), "guess") {
		t.Fatalf("err = %v, want a login failure that does not repeat the password", err)
	}
}

func TestParseMailboxURL(t *testing.T) {
	tests := []struct {
		url     string
		want    bounces.MailboxSettings
		wantErr string
	}{
		{url: "imaps://bounces%40shop.example:s3cret@imap.example.com/INBOX", want: bounces.MailboxSettings{
			Addr: "imap.example.com:993", ServerName: "imap.example.com", User: "bounces@shop.example", Password: "s3cret", Folder: "INBOX", TLS: "implicit"}},
		{url: "imap://u:p@imap.example.com/Bounces?move=Bounces/Done", want: bounces.MailboxSettings{
			Addr: "imap.example.com:143", ServerName: "imap.example.com", User: "u", Password: "p", Folder: "Bounces", MoveTo: "Bounces/Done", TLS: "starttls"}},
		{url: "imap://u:p@127.0.0.1:1143?tls=none", want: bounces.MailboxSettings{
			Addr: "127.0.0.1:1143", ServerName: "127.0.0.1", User: "u", Password: "p", Folder: "INBOX", TLS: "none"}},
		{url: "pop3s://u:secret@pop.example.com", wantErr: "POP3 is not supported"},
		{url: "imaps://imap.example.com/INBOX", wantErr: "give the user and password"},
		{url: "imap://u:secret@h/INBOX?tls=maybe", wantErr: "tls must be starttls or none"},
		{url: "imap://u:secret@h/INBOX?move=INBOX", wantErr: "another folder"},
		{url: "https://u:secret@h/", wantErr: "imaps or imap"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := bounces.ParseMailboxURL(tt.url)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "secret") {
					t.Fatalf("err = %v, want one saying %q without the password", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestCampaignSentWithVERPBounceInTheMailboxSuppressesWithinOnePoll sends
// a campaign with a return path, then puts in the mailbox the bounce a
// receiving server sends to one message's envelope sender, quoting
// nothing of it: one poll later the contact is suppressed and the
// campaign counts the bounce.
func TestCampaignSentWithVERPBounceInTheMailboxSuppressesWithinOnePoll(t *testing.T) {
	ctx := context.Background()
	rp := testReturnPath(t)
	w := campaigntest.NewWorldWith(t, func(c *campaigns.Config) { c.ReturnPath = rp })
	emails := w.AddContacts(t, 3, "NL")
	c := w.Campaign(t, []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}, nil)
	if _, err := w.Svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	m := &campaigntest.Mailer{}
	w.Drain(t, c.ID, campaigns.NewSender(w.Svc, m, nil))
	var sent *campaigns.Message
	for _, msg := range m.Msgs {
		if msg.To == emails[1] {
			sent = msg
		}
	}
	if sent == nil || !strings.HasPrefix(sent.EnvelopeFrom, "bounces+") {
		t.Fatalf("message to %s: %+v, want a VERP envelope sender", emails[1], sent)
	}
	srv := imaptest.Start(t)
	srv.Append("INBOX", []byte(`Return-Path: <>
Delivered-To: `+sent.EnvelopeFrom+`
From: Mail Delivery System <MAILER-DAEMON@mx.example.com>
To: `+sent.EnvelopeFrom+`
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-verp@mx.example.com>
Content-Type: text/plain

This is the mail system at host mx.example.com.

<`+emails[1]+`>: host mx.example.com said: 550 5.1.1 No such user
`))
	set, err := bounces.ParseMailboxURL(srv.URL("INBOX"))
	if err != nil {
		t.Fatal(err)
	}
	rec := bounces.NewRecorder(w.DB, w.Contacts, w.Svc, nil, bounces.DefaultSoftBouncePolicy)
	got, err := bounces.NewMailbox(set, rec, rp, testenv.Logger()).Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (bounces.PollResult{Messages: 1, Result: bounces.Result{Received: 1, Recorded: 1, Suppressed: 1}}); got != want {
		t.Fatalf("poll: %+v, want %+v", got, want)
	}
	ct, err := w.Contacts.GetByEmail(ctx, emails[1])
	if err != nil {
		t.Fatal(err)
	}
	sup, err := w.Contacts.Suppressed(ctx, []string{emails[1]})
	if err != nil {
		t.Fatal(err)
	}
	if ct.Status != contacts.Bounced || sup[emails[1]] != string(contacts.Bounced) {
		t.Errorf("contact %s, suppression %q; want bounced on both", ct.Status, sup[emails[1]])
	}
	var evs []contacts.Event
	if err := w.DB.Where("contact_id = ? AND type = ?", ct.ID, contacts.EventBounce).Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].CampaignID == nil || *evs[0].CampaignID != c.ID {
		t.Fatalf("bounce events %+v, want one on campaign %d", evs, c.ID)
	}
	if st := w.Stats(t, c.ID); st.Sent != 3 || st.BouncedAfterSend != 1 || st.Delivered != 2 {
		t.Errorf("stats: sent %d, bounced_after_send %d, delivered %d; want 3, 1, 2", st.Sent, st.BouncedAfterSend, st.Delivered)
	}
}

// TestPollOnAServerWithoutKeywordsUsesSeenAndFlagged: a server that keeps
// no keywords gets \Seen on the bounces read and \Flagged on the other
// messages, and the next poll reads neither again.
func TestPollOnAServerWithoutKeywordsUsesSeenAndFlagged(t *testing.T) {
	w := newSentWorld(t, 1, bounces.DefaultSoftBouncePolicy)
	srv := imaptest.Start(t)
	srv.RefuseKeywords()
	srv.Append("INBOX", w.dsnFor(t, mailboxSamples[0]))
	srv.Append("INBOX", dsnSample(t, "autoreply-out-of-office.eml"))
	p := newPoller(t, w, srv.URL("INBOX"))
	got, err := p.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (bounces.PollResult{Messages: 2, NotBounces: 1, Result: bounces.Result{Received: 1, Recorded: 1, Suppressed: 1}}); got != want {
		t.Fatalf("poll: %+v, want %+v", got, want)
	}
	msgs := srv.Messages("INBOX")
	if len(msgs) != 2 || !msgs[0].Has(imap.SeenFlag) || msgs[0].Has(imap.FlaggedFlag) || !msgs[1].Has(imap.FlaggedFlag) || msgs[1].Has(imap.SeenFlag) {
		t.Fatalf("messages %+v, want the bounce \\Seen and the auto-reply \\Flagged, unread", msgs)
	}
	if again, err := p.Poll(context.Background()); err != nil || again != (bounces.PollResult{}) {
		t.Fatalf("second poll: %+v, %v; want nothing read", again, err)
	}
}

// TestPollTrustsAVerifiedVERPAddressOverAForwardingTarget: the bounce
// names only the address the message was forwarded to, which is no
// contact's; its VERP address still names the delivery, and the contact
// it went to is bounced on the campaign.
func TestPollTrustsAVerifiedVERPAddressOverAForwardingTarget(t *testing.T) {
	w := newSentWorld(t, 1, bounces.DefaultSoftBouncePolicy)
	srv := imaptest.Start(t)
	raw := string(w.dsnFor(t, mailboxSample{file: "verp-only.eml", verp: true, contact: 0}))
	raw = strings.Replace(raw, "Original-Recipient: rfc822; anna.jansen@example.nl\n", "", 1)
	if !strings.Contains(raw, "Final-Recipient: rfc822; internal-7731@backend.example.org") || strings.Contains(raw, "Original-Recipient") {
		t.Fatalf("sample not as expected:\n%s", raw)
	}
	srv.Append("INBOX", []byte(raw))
	got, err := newPoller(t, w, srv.URL("INBOX")).Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (bounces.PollResult{Messages: 1, Result: bounces.Result{Received: 1, Recorded: 1, Suppressed: 1}}); got != want {
		t.Fatalf("poll: %+v, want %+v", got, want)
	}
	evs := w.events(t, w.emails[0], contacts.EventBounce)
	if len(evs) != 1 || evs[0].CampaignID == nil || *evs[0].CampaignID != w.campaign.ID {
		t.Fatalf("bounce events %+v, want one on the campaign", evs)
	}
}
