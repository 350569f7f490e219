package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/hibiken/asynq"

	"herald/internal/app"
	"herald/internal/imaptest"
	"herald/worker"
)

// TestBounceInTheMailboxSuppressesTheContactAndCountsOnTheCampaign runs
// Herald with a return path and a bounce mailbox: a campaign goes out
// with VERP envelope senders, a receiving server's bounce to one of them
// lands in the mailbox, and one bounces:poll later (run by the worker
// like the scheduler's) the contact is bounced and the campaign counts it.
func TestBounceInTheMailboxSuppressesTheContactAndCountsOnTheCampaign(t *testing.T) {
	mbox := imaptest.Start(t)
	a := startAppWith(t, func(c *app.Config) {
		c.ReturnPath, c.BounceMailbox = "bounces@shop.example", mbox.URL("INBOX")
	})
	var batch struct{ Created int }
	if code := a.call("POST", "/api/contacts", `[{"email": "anna@example.nl", "country": "NL"}, {"email": "bram@example.nl", "country": "NL"}]`, &batch); code != 200 || batch.Created != 2 {
		t.Fatalf("create contacts: %d %+v", code, batch)
	}
	var seg struct{ ID int64 }
	if code := a.call("POST", "/api/segments", `{"name": "NL", "definition": {"field": "country", "op": "eq", "value": "NL"}}`, &seg); code != 201 {
		t.Fatalf("create segment: %d", code)
	}
	var camp struct{ ID int64 }
	if code := a.call("POST", "/api/campaigns", fmt.Sprintf(`{"name": "Spring", "subject": "Spring", "html_body": "<p>Hi</p>", "from_email": "news@shop.example", "segment_ids": [%d]}`, seg.ID), &camp); code != 201 {
		t.Fatalf("create campaign: %d", code)
	}
	if code := a.call("POST", fmt.Sprintf("/api/campaigns/%d/send", camp.ID), nil, nil); code != 200 && code != 202 {
		t.Fatalf("send: %d", code)
	}
	var st struct {
		Sent             int
		BouncedAfterSend int `json:"bounced_after_send"`
		Delivered        int
	}
	statsPath := fmt.Sprintf("/api/campaigns/%d/stats", camp.ID)
	eventually(t, "the campaign to be sent", func() bool { a.call("GET", statsPath, nil, &st); return st.Sent == 2 })

	var out struct {
		Data []struct{ From, To string }
	}
	a.call("GET", "/api/outbox", nil, &out)
	envelope := ""
	for _, m := range out.Data {
		if m.To == "bram@example.nl" {
			envelope = m.From
		}
	}
	if len(envelope) < len("bounces+x@shop.example") || envelope[:8] != "bounces+" {
		t.Fatalf("outbox %+v: want bram's message with a VERP envelope sender", out.Data)
	}
	mbox.Append("INBOX", []byte("Return-Path: <>\r\nTo: "+envelope+"\r\nFrom: Mail Delivery System <MAILER-DAEMON@mx.example.nl>\r\n"+
		"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-e2e@mx.example.nl>\r\nContent-Type: text/plain\r\n\r\n"+
		"This is the mail system at host mx.example.nl.\r\n\r\n<bram@example.nl>: host mx.example.nl said: 550 5.1.1 User unknown\r\n"))

	task, err := worker.NewBouncesPollTask()
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClientFromRedisClient(a.Redis)
	t.Cleanup(func() { client.Close() })
	if _, err := client.EnqueueContext(context.Background(), task); err != nil {
		t.Fatal(err)
	}
	var contacts struct {
		Data []struct{ Email, Status string }
	}
	bramStatus := func() string {
		a.call("GET", "/api/contacts?limit=10", nil, &contacts)
		for _, c := range contacts.Data {
			if c.Email == "bram@example.nl" {
				return c.Status
			}
		}
		return ""
	}
	eventually(t, "the bounce to be read from the mailbox", func() bool { return bramStatus() == "bounced" })
	a.call("GET", statsPath, nil, &st)
	if st.Sent != 2 || st.BouncedAfterSend != 1 || st.Delivered != 1 {
		t.Errorf("stats %+v, want 2 sent, 1 bounced after the send, 1 delivered", st)
	}
	for _, c := range contacts.Data {
		if c.Email == "anna@example.nl" && c.Status != "subscribed" {
			t.Errorf("anna is %s, want subscribed", c.Status)
		}
	}
	// The message is marked once the events are committed, just after.
	eventually(t, "the bounce to be marked in the mailbox", func() bool {
		m := mbox.Messages("INBOX")
		return len(m) == 1 && m[0].Has("$HeraldBounce")
	})
}
