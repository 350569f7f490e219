package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"herald/campaigns"
)

// The page of an A/B tested campaign that has not been sent says so
// before the send: how many variants, to what share, by what measure and
// when the rest follow. Once it sends, the A/B test section takes over.
func TestDraftPageOfAnABTestedCampaignDescribesItsTest(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	name, subj, body, from := "Spring", "Spring sale", "<p>Hi</p>", "news@shop.example.com"
	tests := []struct {
		name string
		ab   campaigns.ABTest
		want string
	}{
		{"the defaults", campaigns.ABTest{Variants: []campaigns.Variant{{Subject: "Alpha"}, {Subject: "Beta"}}},
			"2 variants, each to an equal part of 20% of the audience; the one with the most unique opens per message sent goes to the rest 4 hours later"},
		{"clicks after an hour", campaigns.ABTest{TestPercent: 30, WinnerMetric: campaigns.MetricClicks, TestHours: 1,
			Variants: []campaigns.Variant{{Subject: "Alpha"}, {Subject: "Beta"}, {Subject: "Gamma"}}},
			"3 variants, each to an equal part of 30% of the audience; the one with the most unique clicks per message sent goes to the rest an hour later"},
	}
	page := editorSession(t, f)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ab := tc.ab
			cp, err := f.camps.Create(ctx, campaigns.Input{Name: &name, Subject: &subj, HTMLBody: &body, FromEmail: &from, ABTest: &ab})
			if err != nil {
				t.Fatal(err)
			}
			code, html, _ := page("GET", fmt.Sprintf("/campaigns/%d", cp.ID), nil)
			if code != http.StatusOK || !strings.Contains(html, `<dt>A/B test</dt><dd id="ab-test-fact">`+tc.want+`</dd>`) {
				t.Fatalf("%d; the draft's page does not say %q", code, tc.want)
			}
		})
	}
	cp, err := f.camps.Create(ctx, campaigns.Input{Name: &name, Subject: &subj, HTMLBody: &body, FromEmail: &from})
	if err != nil {
		t.Fatal(err)
	}
	if _, html, _ := page("GET", fmt.Sprintf("/campaigns/%d", cp.ID), nil); strings.Contains(html, "ab-test-fact") {
		t.Error("a campaign without a test describes one")
	}
}

// While the variants have the same rate (no opens yet) none is marked
// ahead, and the note says they are level.
func TestCampaignPageMarksNoVariantAheadWhileTheyAreLevel(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sent, _ := f.sentCampaign(t) // a contact and a segment
	name, subj, body, from := "Spring", "Spring sale", "<p>Hi</p>", "news@shop.example.com"
	ids := []int64(sent.SegmentIDs)
	cp, err := f.camps.Create(ctx, campaigns.Input{Name: &name, Subject: &subj, HTMLBody: &body, FromEmail: &from, SegmentIDs: &ids,
		ABTest: &campaigns.ABTest{Variants: []campaigns.Variant{{Subject: "Alpha"}, {Subject: "Beta"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.camps.Send(ctx, cp.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.camps.Launch(ctx, cp.ID); err != nil {
		t.Fatal(err)
	}
	_, html, _ := editorSession(t, f)("GET", fmt.Sprintf("/campaigns/%d", cp.ID), nil)
	if !strings.Contains(html, `id="ab-test"`) {
		t.Fatal("the page has no A/B test section")
	}
	if strings.Contains(html, `>ahead</span>`) {
		t.Error("a variant is marked ahead while the variants are level")
	}
}
