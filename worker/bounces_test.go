package worker

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"herald/bounces"
	"herald/campaigns"
	"herald/contacts"
	"herald/internal/campaigntest"
	"herald/internal/imaptest"
	"herald/internal/testenv"
)

// TestBouncesPollReadsTheMailboxOnlyUnderItsLock: a worker that finds
// another holding the poll's lock reads nothing; once the lock is free it
// reads the mailbox, records the bounce, marks the message, logs counts
// without addresses and gives the lock back.
func TestBouncesPollReadsTheMailboxOnlyUnderItsLock(t *testing.T) {
	ctx := context.Background()
	w := campaigntest.NewWorld(t)
	emails := w.AddContacts(t, 1, "NL")
	c := w.Campaign(t, []int64{w.Segment(t, "NL", campaigntest.EqSegment("NL"))}, nil)
	if _, err := w.Svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	w.Drain(t, c.ID, campaigns.NewSender(w.Svc, &campaigntest.Mailer{}, nil))
	var d campaigns.Delivery
	if err := w.DB.Where("campaign_id = ?", c.ID).Take(&d).Error; err != nil {
		t.Fatal(err)
	}
	srv := imaptest.Start(t)
	srv.Append("INBOX", []byte(fmt.Sprintf(`From: MAILER-DAEMON@mx.example.com
To: news@shop.example.com
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-1@mx.example.com>
Content-Type: multipart/report; report-type=delivery-status; boundary=b

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com

Final-Recipient: rfc822; %s
Action: failed
Status: 5.1.1

--b
Content-Type: text/rfc822-headers

Message-ID: <%s>

--b--
`, emails[0], w.Svc.MessageID(c.ID, d.ID))))
	set, err := bounces.ParseMailboxURL(srv.URL("INBOX"))
	if err != nil {
		t.Fatal(err)
	}
	rec := bounces.NewRecorder(w.DB, w.Contacts, w.Svc, nil, bounces.DefaultSoftBouncePolicy)
	opt, err := redis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	logs := &logBuffer{}
	wk := New(Deps{Redis: rdb, Bounces: bounces.NewMailbox(set, rec, nil, testenv.Logger()), Log: slog.New(slog.NewTextHandler(logs, nil))}, Config{})
	task, err := NewBouncesPollTask()
	if err != nil {
		t.Fatal(err)
	}
	status := func() contacts.Status {
		t.Helper()
		ct, err := w.Contacts.GetByEmail(ctx, emails[0])
		if err != nil {
			t.Fatal(err)
		}
		return ct.Status
	}

	if err := rdb.Set(ctx, bouncesPollLock, "another worker", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := wk.Mux().ProcessTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	if st, m := status(), srv.Messages("INBOX")[0]; st != contacts.Subscribed || len(m.Flags) != 0 {
		t.Fatalf("while another worker held the lock: status %s, flags %v; want nothing read", st, m.Flags)
	}

	rdb.Del(ctx, bouncesPollLock)
	if err := wk.Mux().ProcessTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	if st, m := status(), srv.Messages("INBOX")[0]; st != contacts.Bounced || !m.Has(bounces.KeywordProcessed) {
		t.Fatalf("after the poll: status %s, flags %v; want bounced and %s", st, m.Flags, bounces.KeywordProcessed)
	}
	if n, err := rdb.Exists(ctx, bouncesPollLock).Result(); err != nil || n != 0 {
		t.Errorf("lock left behind (%d, %v)", n, err)
	}
	read := logs.lines("bounce mailbox read")
	if len(read) != 1 || !strings.Contains(read[0], "messages=1") || !strings.Contains(read[0], "suppressed=1") {
		t.Errorf("log lines %q, want one with messages=1 suppressed=1", read)
	}
	if strings.Contains(logs.buf.String(), emails[0]) {
		t.Errorf("the log names the contact:\n%s", logs.buf.String())
	}
}
