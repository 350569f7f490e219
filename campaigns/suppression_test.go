package campaigns_test

import (
	"context"
	"testing"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/campaigntest"
)

func TestAnAddressOnTheSuppressionListIsNeverSentToWhateverItsRowSays(t *testing.T) {
	w := campaigntest.NewWorld(t)
	ctx := context.Background()
	nl := w.AddContacts(t, 4, "NL")
	seg := w.Segment(t, "NL", campaigntest.EqSegment("NL"))
	c := w.Campaign(t, []int64{seg}, nil)
	if _, err := w.Svc.Send(ctx, c.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Svc.Launch(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	// Between launch and send the address lands on the list by a path
	// that leaves the row subscribed (a restore, a manual fix).
	if err := w.DB.Create(&contacts.Suppression{EmailHash: contacts.EmailHash(nl[1]), Reason: "unsubscribed"}).Error; err != nil {
		t.Fatal(err)
	}
	m := &campaigntest.Mailer{}
	sender := campaigns.NewSender(w.Svc, m, nil)
	for _, ids := range w.Q.Pending() {
		if err := sender.SendBatch(ctx, c.ID, ids, false); err != nil {
			t.Fatal(err)
		}
	}
	if m.Count(nl[1]) != 0 || len(m.Msgs) != 3 {
		t.Fatalf("sent %d messages, %d to the suppressed address", len(m.Msgs), m.Count(nl[1]))
	}
	if st := w.Stats(t, c.ID); st.Sent != 3 {
		t.Fatalf("stats %+v", st)
	}
}
