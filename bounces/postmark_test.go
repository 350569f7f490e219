package bounces_test

import (
	"context"
	"strings"
	"testing"

	"herald/bounces"
	"herald/contacts"
)

// Postmark returns the message's X-PM-Metadata-herald-message-id header
// as Metadata["herald-message-id"]: with it a report counts on the
// campaign, without it only on the contact.
func TestPostmarkMetadataMatchesTheReportToItsDelivery(t *testing.T) {
	cases := []struct {
		name, file, email      string
		metadata               bool
		event                  string
		status                 contacts.Status
		bounced, complained    int64
		wantCampaignOnTheEvent bool
	}{
		{"bounce with the metadata counts on the campaign", "postmark-bounce.json", jane, true, contacts.EventBounce, contacts.Bounced, 1, 0, true},
		{"complaint with the metadata counts on the campaign", "postmark-spamcomplaint.json", richard, true, contacts.EventComplaint, contacts.Complained, 0, 1, true},
		{"bounce without the metadata lands on the contact only", "postmark-bounce.json", jane, false, contacts.EventBounce, contacts.Bounced, 0, 0, false},
		{"complaint without the metadata lands on the contact only", "postmark-spamcomplaint.json", richard, false, contacts.EventComplaint, contacts.Complained, 0, 0, false},
	}
	pm := bounces.Postmark{PathSecret: "s3cret-path-segment"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newSampleWorld(t)
			body := string(sample(t, tc.file))
			if tc.metadata {
				body = strings.ReplaceAll(body, "custom-message-ID", "<"+w.Svc.MessageID(w.campaign.ID, w.deliveries[tc.email].ID)+">")
			} else {
				body = strings.ReplaceAll(body, `, "herald-message-id": "custom-message-ID"`, "")
			}
			reps, err := pm.Parse(context.Background(), bounces.Request{Body: []byte(body), PathSecret: "s3cret-path-segment"})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := w.record(t, reps...), (bounces.Result{Received: 1, Recorded: 1, Suppressed: 1}); got != want {
				t.Fatalf("recorded %+v, want %+v", got, want)
			}
			if st := w.contact(t, tc.email).Status; st != tc.status {
				t.Errorf("%s is %s, want %s", tc.email, st, tc.status)
			}
			evs := w.events(t, tc.email, tc.event)
			if len(evs) != 1 {
				t.Fatalf("%d %s events, want 1", len(evs), tc.event)
			}
			if got := evs[0].CampaignID != nil && *evs[0].CampaignID == w.campaign.ID; got != tc.wantCampaignOnTheEvent {
				t.Errorf("event campaign = %v, want it on campaign %d: %v", evs[0].CampaignID, w.campaign.ID, tc.wantCampaignOnTheEvent)
			}
			st := w.Stats(t, w.campaign.ID)
			if st.BouncedAfterSend != tc.bounced || st.Complained != tc.complained {
				t.Errorf("bounced after send = %d, complained = %d; want %d and %d", st.BouncedAfterSend, st.Complained, tc.bounced, tc.complained)
			}
		})
	}
}
