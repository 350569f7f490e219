package segments_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"herald/internal/testenv"
	"herald/segments"
)

// templateCase creates a segment from a template of the shop world (today
// is 2026-12-28) and names exactly who it holds.
type templateCase struct {
	key    string
	params string // JSON object; empty for the defaults
	want   string
}

var templateCases = []templateCase{
	{key: "birthdays_this_month", want: "ann cleo ida"},
	{key: "birthdays_this_month", params: `{"month":2}`, want: "bob gus leo"},
	{key: "birthdays_this_month", params: `{"month":"next"}`, want: "dan hal"},
	{key: "birthdays_next_days", want: "ann cleo hal ida"},
	{key: "birthdays_next_days", params: `{"days":0}`, want: "cleo"},
	{key: "anniversaries_this_month", want: "cleo jon"},
	{key: "anniversaries_this_month", params: `{"month":1}`, want: "ann"},
	{key: "anniversaries_this_month", params: `{"month":"current"}`, want: "cleo jon"},
	{key: "high_value", want: "ann bob gus"},
	{key: "high_value", params: `{"min_spent":199.99}`, want: "ann bob fay gus jon"},
	{key: "top_spenders", want: "ann gus"},
	{key: "top_spenders", params: `{"percent":50}`, want: "ann bob gus jon"},
	{key: "churn_risk", want: ""},
	{key: "churn_risk", params: `{"days":30}`, want: "jon"},
	{key: "country", params: `{"country":"nl"}`, want: "ann bob dan ida mia"},
	{key: "viewed_not_bought", params: `{"campaign_id":$C3}`, want: "ann"},
	{key: "viewed_not_bought", params: `{"campaign_id":$C1}`, want: ""},
	{key: "engaged", want: "ann bob cleo fay gus ida"},
	{key: "engaged", params: `{"campaigns":1}`, want: "ann cleo fay gus ida"},
	{key: "unengaged", want: "dan"},
	{key: "unengaged", params: `{"campaigns":1}`, want: "bob dan"},
	{key: "new_subscribers", want: "eve hal kim leo mia ned ola"},
	{key: "new_subscribers", params: `{"days":2}`, want: "hal leo mia ned ola"},
	{key: "signup_source", params: `{"source":"Website"}`, want: "ann cleo eve kim mia ola"},
	{key: "one_time_buyers", want: "bob gus ida jon"},
	{key: "repeat_buyers", want: "ann cleo fay"},
	{key: "loyal_buyers", want: ""},
	{key: "loyal_buyers", params: `{"min_orders":3}`, want: "cleo"},
	{key: "winback_lapsing", want: ""},
	{key: "winback_lapsing", params: `{"from_days":10,"to_days":30}`, want: "ann"},
	{key: "winback_lapsed", want: ""},
	{key: "winback_lapsed", params: `{"days":10}`, want: "ann jon"},
	{key: "rfm_whales", want: ""},
	{key: "rfm_whales", params: `{"percent":50}`, want: "bob gus"},
}

// TestTemplatesBuildTheirSegments creates a segment from every case, on
// the engine under test, and checks its members, its name and description
// (the template's), that the stored definition is an ordinary one that
// previews to the same members, and that the marketer can edit it.
func TestTemplatesBuildTheirSegments(t *testing.T) {
	w := newShop(t)
	svc := segments.NewService(w.g, w.store, fixedClock(now), nil)
	ctx := context.Background()
	byKey := map[string]segments.Template{}
	for _, tpl := range svc.Templates() {
		byKey[tpl.Key] = tpl
	}
	covered := map[string]bool{}
	for _, tc := range templateCases {
		t.Run(tc.key+" "+tc.params, func(t *testing.T) {
			tpl, ok := byKey[tc.key]
			if !ok {
				t.Fatalf("no template %s", tc.key)
			}
			covered[tc.key] = true
			key := tc.key
			in := segments.Input{Template: &key}
			if tc.params != "" {
				in.Params = json.RawMessage(w.expand(tc.params))
			}
			seg, err := svc.Create(ctx, in)
			if err != nil {
				t.Fatalf("Create(%s %s): %v", tc.key, tc.params, err)
			}
			want := names(tc.want)
			if got := members(t, svc, seg.ID); !got.equal(want) {
				t.Errorf("members = %v, want %v (definition %s)", got, want, seg.Definition)
			}
			if seg.Name != tpl.Name || seg.Description != tpl.Description {
				t.Errorf("name %q, description %q; want the template's %q, %q", seg.Name, seg.Description, tpl.Name, tpl.Description)
			}
			n, _, err := svc.Preview(ctx, seg.Definition, 0)
			if err != nil {
				t.Fatalf("Preview(%s): %v", seg.Definition, err)
			}
			if n != int64(len(want)) {
				t.Errorf("Preview(%s) = %d, want %d", seg.Definition, n, len(want))
			}
			edited := `{"all":[` + string(seg.Definition) + `,{"field":"country","op":"eq","value":"NL"}]}`
			if _, err := svc.Update(ctx, seg.ID, segments.Input{Definition: json.RawMessage(edited)}); err != nil {
				t.Errorf("editing the definition: %v", err)
			}
		})
	}
	for key := range byKey {
		if !covered[key] {
			t.Errorf("template %s has no case", key)
		}
	}
}

// TestThisMonthTemplatesFollowTheCalendar checks that "birthdays this
// month" and "anniversaries this month" made with the defaults mean the
// month it is at each refresh, not the month they were created in, and
// that the periodic check moves them on once the month has changed.
func TestThisMonthTemplatesFollowTheCalendar(t *testing.T) {
	clk := testenv.NewClock(now)
	w := newShop(t)
	svc := segments.NewService(w.g, w.store, clk.Now, nil)
	ctx := context.Background()
	create := func(key string) segments.Segment {
		t.Helper()
		seg, err := svc.Create(ctx, segments.Input{Template: &key})
		if err != nil {
			t.Fatal(err)
		}
		if !seg.TimeRelative {
			t.Errorf("%s is not time-relative: it would never move on", key)
		}
		return seg
	}
	birthdays := create("birthdays_this_month")
	anniversaries := create("anniversaries_this_month")
	checkSegment(t, svc, birthdays.ID, "ann cleo ida")
	checkSegment(t, svc, anniversaries.ID, "cleo jon")

	// 1 January 2027, five minutes past midnight.
	clk.Add(time.Date(2027, 1, 1, 0, 5, 0, 0, time.UTC).Sub(clk.Now()))
	n, err := svc.RefreshStale(ctx, 24*time.Hour)
	if err != nil || n != 2 {
		t.Fatalf("RefreshStale on 1 January: %d, %v; want both segments refreshed", n, err)
	}
	checkSegment(t, svc, birthdays.ID, "dan hal")
	checkSegment(t, svc, anniversaries.ID, "ann")
}

// TestTemplateNamesAndDescriptionsCanBeGiven checks that a name and a
// description given with a template replace the template's.
func TestTemplateNamesAndDescriptionsCanBeGiven(t *testing.T) {
	w := newShop(t)
	svc := segments.NewService(w.g, w.store, fixedClock(now), nil)
	key, name, desc := "high_value", "Big spenders", "over 1000"
	seg, err := svc.Create(context.Background(), segments.Input{Template: &key, Params: json.RawMessage(`{"min_spent":1000}`), Name: &name, Description: &desc})
	if err != nil {
		t.Fatal(err)
	}
	if seg.Name != name || seg.Description != desc {
		t.Errorf("name %q, description %q", seg.Name, seg.Description)
	}
	if seg.MemberCount != 0 {
		t.Errorf("member_count %d, want 0 (nobody spent over 1000)", seg.MemberCount)
	}
	var def map[string]any
	if err := json.Unmarshal(seg.Definition, &def); err != nil {
		t.Fatal(err)
	}
	if def["field"] != "total_spent" || def["op"] != "gt" || def["value"] != 1000.0 {
		t.Errorf("definition %s, want total_spent gt 1000", seg.Definition)
	}
}

// TestTemplateListDescribesEveryParameter checks the listing a client
// renders a form from.
func TestTemplateListDescribesEveryParameter(t *testing.T) {
	w := newWorld(t, fixedClock(now), nil, nil)
	svc := segments.NewService(w.g, w.store, fixedClock(now), nil)
	list := svc.Templates()
	if len(list) < 18 {
		t.Errorf("%d templates, want at least 18", len(list))
	}
	seen := map[string]bool{}
	for _, tpl := range list {
		if tpl.Key == "" || tpl.Name == "" || tpl.Description == "" || tpl.Params == nil {
			t.Errorf("template %+v lacks a key, name, description or parameter list", tpl)
		}
		if seen[tpl.Key] {
			t.Errorf("template %s listed twice", tpl.Key)
		}
		seen[tpl.Key] = true
		for _, p := range tpl.Params {
			if p.Name == "" || p.Description == "" {
				t.Errorf("%s: parameter %+v lacks a name or description", tpl.Key, p)
			}
			switch p.Type {
			case segments.ParamInteger, segments.ParamNumber, segments.ParamText, segments.ParamCountry, segments.ParamCampaign, segments.ParamMonth:
			default:
				t.Errorf("%s.%s: type %q", tpl.Key, p.Name, p.Type)
			}
		}
		if tpl.Key == "birthdays_this_month" && (len(tpl.Params) != 1 || tpl.Params[0].Default != segments.MonthCurrent) {
			t.Errorf("birthdays_this_month params %+v, want month defaulting to %q", tpl.Params, segments.MonthCurrent)
		}
	}
}

// TestTemplateBadInputNamesTheParameter checks that unknown templates and
// bad parameters are *errs.InvalidError with the path of the fault, and
// that nothing is created.
func TestTemplateBadInputNamesTheParameter(t *testing.T) {
	w := newWorld(t, fixedClock(now), nil, nil)
	svc := segments.NewService(w.g, w.store, fixedClock(now), nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name, key, params, def, path string
	}{
		{name: "unknown template", key: "vips", path: "template"},
		{name: "empty template", key: "", path: "template"},
		{name: "params not an object", key: "high_value", params: `[1000]`, path: "params"},
		{name: "params with data after", key: "high_value", params: `{} {}`, path: "params"},
		{name: "unknown parameter", key: "high_value", params: `{"min_spend":1000}`, path: "params.min_spend"},
		{name: "parameter of a template without any", key: "repeat_buyers", params: `{"min_orders":2}`, path: "params.min_orders"},
		{name: "text for a number", key: "high_value", params: `{"min_spent":"1000"}`, path: "params.min_spent"},
		{name: "negative amount", key: "high_value", params: `{"min_spent":-1}`, path: "params.min_spent"},
		{name: "fraction for a whole number", key: "birthdays_next_days", params: `{"days":1.5}`, path: "params.days"},
		{name: "too many days", key: "birthdays_next_days", params: `{"days":367}`, path: "params.days"},
		{name: "month 13", key: "birthdays_this_month", params: `{"month":13}`, path: "params.month"},
		{name: "month 0", key: "anniversaries_this_month", params: `{"month":0}`, path: "params.month"},
		{name: "unknown relative month", key: "birthdays_this_month", params: `{"month":"last"}`, path: "params.month"},
		{name: "month as a text number", key: "birthdays_this_month", params: `{"month":"2"}`, path: "params.month"},
		{name: "percent 100", key: "top_spenders", params: `{"percent":100}`, path: "params.percent"},
		{name: "percent 0", key: "rfm_whales", params: `{"percent":0}`, path: "params.percent"},
		{name: "missing country", key: "country", path: "params.country"},
		{name: "null country", key: "country", params: `{"country":null}`, path: "params.country"},
		{name: "unknown country", key: "country", params: `{"country":"XX"}`, path: "params.country"},
		{name: "country as a number", key: "country", params: `{"country":31}`, path: "params.country"},
		{name: "missing campaign", key: "viewed_not_bought", params: `{}`, path: "params.campaign_id"},
		{name: "campaign id 0", key: "viewed_not_bought", params: `{"campaign_id":0}`, path: "params.campaign_id"},
		{name: "campaign id as text", key: "viewed_not_bought", params: `{"campaign_id":"7"}`, path: "params.campaign_id"},
		{name: "empty source", key: "signup_source", params: `{"source":"  "}`, path: "params.source"},
		{name: "source with NUL", key: "signup_source", params: `{"source":"a\u0000"}`, path: "params.source"},
		{name: "window upside down", key: "winback_lapsing", params: `{"from_days":180,"to_days":60}`, path: "params.to_days"},
		{name: "template and definition", key: "repeat_buyers", def: `{"all":[]}`, path: "definition"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.key
			in := segments.Input{Template: &key}
			if tc.params != "" {
				in.Params = json.RawMessage(tc.params)
			}
			if tc.def != "" {
				in.Definition = json.RawMessage(tc.def)
			}
			_, err := svc.Create(ctx, in)
			if got := invalidPath(t, err); got != tc.path {
				t.Errorf("path %q (%v), want %q", got, err, tc.path)
			}
			if strings.HasPrefix(tc.path, "params") || tc.path == "template" {
				if _, _, err := svc.FromTemplate(tc.key, json.RawMessage(tc.params)); invalidPath(t, err) != tc.path {
					t.Errorf("FromTemplate: %v, want the path %q", err, tc.path)
				}
			}
		})
	}
	name := "x"
	if _, err := svc.Create(ctx, segments.Input{Name: &name, Definition: json.RawMessage(`{"all":[]}`), Params: json.RawMessage(`{}`)}); invalidPath(t, err) != "params" {
		t.Errorf("params without a template: %v", err)
	}
	seg, err := svc.Create(ctx, segments.Input{Name: &name, Definition: json.RawMessage(`{"all":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	key := "repeat_buyers"
	if _, err := svc.Update(ctx, seg.ID, segments.Input{Template: &key}); invalidPath(t, err) != "template" {
		t.Errorf("Update with a template: %v", err)
	}
	ids, err := svc.IDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 {
		t.Errorf("%d segments, want only the valid one", len(ids))
	}
}
