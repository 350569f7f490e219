package campaigns_test

import (
	"context"
	"testing"

	"herald/campaigns"
	"herald/contacts"
)

func TestAnAddressOnTheSuppressionListIsNeverSentToWhateverItsRowSays(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	nl := w.addContacts(t, 4, "NL")
	seg := w.segment(t, "NL", eqSegment("NL"))
	c := w.campaign(t, []int64{seg}, nil)
	if _, err := w.svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Launch(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	// Between launch and send the address lands on the list by a path
	// that leaves the row subscribed (a restore, a manual fix).
	if err := w.db.Create(&contacts.Suppression{EmailHash: contacts.EmailHash(nl[1]), Reason: "unsubscribed"}).Error; err != nil {
		t.Fatal(err)
	}
	m := &mailer{}
	sender := campaigns.NewSender(w.svc, m, nil)
	for _, ids := range w.q.pending() {
		if err := sender.SendBatch(ctx, c.ID, ids, false); err != nil {
			t.Fatal(err)
		}
	}
	if m.count(nl[1]) != 0 || len(m.msgs) != 3 {
		t.Fatalf("sent %d messages, %d to the suppressed address", len(m.msgs), m.count(nl[1]))
	}
	if st := w.stats(t, c.ID); st.Sent != 3 {
		t.Fatalf("stats %+v", st)
	}
}
