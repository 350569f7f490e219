package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"herald/campaigns"
	"herald/contacts"
	"herald/internal/db"
	"herald/segments"
)

// Figures of a thousand and more print with their thousands grouped
// (1,100), as the page scripts print them when they refresh: the editor's
// audience when a refused form comes back, the confirmation of an A/B
// pick and the decision it records.
func TestCampaignPagesGroupTheThousandsOfTheirFigures(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := time.Now().UTC()
	rows := make([]contacts.Contact, 1100)
	for i := range rows {
		rows[i] = contacts.Contact{Email: fmt.Sprintf("r%05d@example.com", i), Source: "bulk", Status: contacts.Subscribed,
			Attributes: db.JSONMap{}, CreatedAt: now, UpdatedAt: now}
	}
	if err := f.db.CreateInBatches(&rows, 200).Error; err != nil {
		t.Fatal(err)
	}
	segName := "Everyone"
	seg, err := f.srv.d.Segments.Create(ctx, segments.Input{Name: &segName, Definition: []byte(`{"field": "source", "op": "eq", "value": "bulk"}`)})
	if err != nil {
		t.Fatal(err)
	}
	page := editorSession(t, f)

	// The editor refuses a test share out of range and keeps the audience.
	vals := editorForm("Spring", "Spring sale", "<p>Hi</p>")
	vals.Set("segment_ids", fmt.Sprint(seg.ID))
	vals.Set("ab_on", "on")
	vals.Set("ab_test_percent", "70")
	vals.Set("ab_subject_1", "Alpha")
	vals.Set("ab_subject_2", "Beta")
	code, body, _ := page("POST", "/campaigns/new", vals)
	if code != http.StatusBadRequest || !strings.Contains(body, `<b id="audience-count">1,100</b>`) {
		t.Fatalf("refused form: %d; want 400 with the audience as 1,100", code)
	}

	name, subj, html, from := "Spring", "Spring sale", "<p>Hi</p>", "news@shop.example.com"
	ids := []int64{seg.ID}
	cp, err := f.camps.Create(ctx, campaigns.Input{Name: &name, Subject: &subj, HTMLBody: &html, FromEmail: &from, SegmentIDs: &ids,
		ABTest: &campaigns.ABTest{TestPercent: 5, Variants: []campaigns.Variant{{Subject: "Alpha"}, {Subject: "Beta"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.camps.Send(ctx, cp.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.camps.Launch(ctx, cp.ID); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/campaigns/%d", cp.ID)
	// 5% of 1,100 is 55 tested; 1,045 wait for the winner.
	_, body, _ = page("GET", path, nil)
	if want := `data-confirm="Send variant B to the 1,045 recipients waiting for the winner? The test ends now."`; !strings.Contains(body, want) {
		t.Errorf("the pick's confirmation lacks %s", want)
	}
	if code, _, _ := page("POST", path+"/winner", url.Values{"variant": {"B"}}); code != http.StatusSeeOther {
		t.Fatalf("pick B: %d", code)
	}
	_, body, _ = page("GET", path, nil)
	if want := `A/B test winner picked, sent to <b>1,045</b> recipients`; !strings.Contains(body, want) {
		t.Errorf("the decisions lack %s", want)
	}
}
