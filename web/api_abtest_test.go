package web

import (
	"context"
	"fmt"
	"net/http"
	"testing"
)

// An A/B test through the API: set with the campaign, refused with the
// path of a fault, previewed per variant, split by the launch, and its
// winner picked by hand once, with the pick's author recorded.
func TestABTestThroughTheAPI(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.sentCampaign(t) // a contact and a segment to send to
	var segID int64
	if err := f.db.Table("segments").Select("id").Limit(1).Scan(&segID).Error; err != nil {
		t.Fatal(err)
	}
	body := func(variantB string) string {
		return fmt.Sprintf(`{"name": "Spring", "subject": "Spring sale", "html_body": "<p>Hi</p>", "from_email": "news@shop.example.com",
			"segment_ids": [%d], "ab_test": {"test_percent": 50, "winner_metric": "clicks", "test_hours": 6,
			"variants": [{"subject": "Alpha"}, %s]}}`, segID, variantB)
	}

	code, out := f.api(t, "POST", "/api/campaigns", body(`{"subject": "Hi {{.FirstNme}}"}`))
	if code != http.StatusBadRequest || out["error"].(map[string]any)["path"] != "ab_test.variants[1].subject" {
		t.Fatalf("a template error in a variant: %d %v", code, out)
	}
	code, out = f.api(t, "POST", "/api/campaigns", body(`{"subject": "Beta", "html_body": "<p>B</p><a href=\"https://shop.example.com/b\">b</a>"}`))
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, out)
	}
	id := int64(out["id"].(float64))
	ab := out["ab_test"].(map[string]any)
	vs := ab["variants"].([]any)
	if ab["state"] != "waiting" || ab["test_percent"] != 50.0 || ab["winner_metric"] != "clicks" || ab["test_hours"] != 6.0 ||
		len(vs) != 2 || vs[1].(map[string]any)["label"] != "B" || vs[1].(map[string]any)["subject"] != "Beta" {
		t.Fatalf("ab_test = %v", ab)
	}

	code, out = f.api(t, "POST", fmt.Sprintf("/api/campaigns/%d/preview", id), `{"variant": "B"}`)
	if code != http.StatusOK || out["subject"] != "Beta" || out["html"] == "" {
		t.Fatalf("preview of B: %d %v", code, out)
	}
	code, out = f.api(t, "POST", fmt.Sprintf("/api/campaigns/%d/preview", id), `{"variant": "E"}`)
	if code != http.StatusBadRequest || out["error"].(map[string]any)["path"] != "variant" {
		t.Fatalf("preview of E: %d %v", code, out)
	}
	code, out = f.api(t, "POST", fmt.Sprintf("/api/campaigns/%d/winner", id), `{"variant": "B"}`)
	if code != http.StatusConflict {
		t.Fatalf("a pick before the send: %d %v", code, out)
	}

	if code, out = f.api(t, "POST", fmt.Sprintf("/api/campaigns/%d/send", id), ``); code != http.StatusAccepted {
		t.Fatalf("send: %d %v", code, out)
	}
	if err := f.camps.Launch(ctx, id); err != nil {
		t.Fatal(err)
	}
	// B's own link is tracked under its own number.
	if code, loc := f.click(id, 200001); code != http.StatusFound || loc != "https://shop.example.com/b" {
		t.Fatalf("click on B's link: %d %q", code, loc)
	}
	code, out = f.api(t, "GET", fmt.Sprintf("/api/campaigns/%d/stats", id), ``)
	sab, _ := out["ab_test"].(map[string]any)
	if code != http.StatusOK || sab == nil || sab["state"] != "testing" || len(sab["variants"].([]any)) != 2 || out["queued"] != 1.0 {
		t.Fatalf("stats: %d %v", code, out)
	}

	code, out = f.api(t, "POST", fmt.Sprintf("/api/campaigns/%d/winner", id), `{"variant": "X"}`)
	if code != http.StatusBadRequest || out["error"].(map[string]any)["path"] != "variant" {
		t.Fatalf("pick X: %d %v", code, out)
	}
	code, out = f.api(t, "POST", fmt.Sprintf("/api/campaigns/%d/winner", id), `{"variant": "b"}`)
	if code != http.StatusAccepted || out["released"] != 0.0 {
		t.Fatalf("pick B: %d %v", code, out)
	}
	ab = out["campaign"].(map[string]any)["ab_test"].(map[string]any)
	if ab["winner"] != "B" || ab["state"] != "decided" || ab["winner_picked_by"] == "" {
		t.Fatalf("after the pick: %v", ab)
	}
	if code, out = f.api(t, "POST", fmt.Sprintf("/api/campaigns/%d/winner", id), `{"variant": "A"}`); code != http.StatusConflict {
		t.Fatalf("a second pick: %d %v", code, out)
	}
}

// An automation's message cannot carry an A/B test: its trigger brings
// contacts in one by one, so there is no audience to split.
func TestAnAutomationMessageRefusesAnABTest(t *testing.T) {
	f := newFixture(t)
	code, out := f.api(t, "POST", "/api/automations", `{"name": "Win-back",
		"trigger": {"type": "inactivity", "factor": 1.5, "one_time_days": 60},
		"steps": [{"type": "send", "message": {"subject": "We miss you", "html_body": "<p>Hi</p>", "from_email": "hello@shop.example.com",
			"ab_test": {"variants": [{"subject": "A"}, {"subject": "B"}]}}}]}`)
	if code != http.StatusBadRequest || out["error"].(map[string]any)["path"] != "steps[0].message.ab_test" {
		t.Fatalf("a flow message with an A/B test: %d %v", code, out)
	}
	var n int64
	f.db.Table("campaigns").Count(&n)
	if n != 0 {
		t.Fatalf("%d campaigns stored", n)
	}
}
