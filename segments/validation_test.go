package segments_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"herald/contacts"
	"herald/segments"
)

// compilerFields types attr.NAME rules in compiler-only tests, as the
// shop world's custom fields do.
func compilerFields() map[string]contacts.CustomField {
	out := map[string]contacts.CustomField{}
	for n, typ := range shopFields {
		out[n] = contacts.CustomField{Name: n, Type: typ}
	}
	return out
}

// nest wraps a rule in depth "not" groups.
func nest(depth int) string {
	return strings.Repeat(`{"not":`, depth) + `{"field":"city","op":"is_set"}` + strings.Repeat(`}`, depth)
}

// inRules are rules with in-lists of size items each.
func inRules(rules, size int) []string {
	rule := `{"field":"city","op":"in","value":[` + strings.TrimSuffix(strings.Repeat(`"x",`, size), ",") + `]}`
	out := make([]string, rules)
	for i := range out {
		out[i] = rule
	}
	return out
}

// anyOf is an any-group of the rules of every list, in order.
func anyOf(lists ...[]string) string {
	var all []string
	for _, l := range lists {
		all = append(all, l...)
	}
	return `{"any":[` + strings.Join(all, ",") + `]}`
}

// whereRules are event rules with props "where" properties each.
func whereRules(rules, props int) []string {
	where := make([]string, props)
	for i := range where {
		where[i] = fmt.Sprintf(`"p%d":"x"`, i)
	}
	rule := `{"field":"event.purchase","op":"count_gte","value":{"n":1,"where":{` + strings.Join(where, ",") + `}}}`
	out := make([]string, rules)
	for i := range out {
		out[i] = rule
	}
	return out
}

// manyRules is an all-group of n rules.
func manyRules(n int) string {
	rules := make([]string, n)
	for i := range rules {
		rules[i] = `{"field":"city","op":"is_set"}`
	}
	return `{"all":[` + strings.Join(rules, ",") + `]}`
}

type invalidCase struct {
	name string
	def  string
	path string
}

var invalidCases = []invalidCase{
	// The document itself.
	{name: "empty", def: ``, path: "definition"},
	{name: "null", def: `null`, path: "definition"},
	{name: "not JSON", def: `{"field":`, path: "definition"},
	{name: "data after the document", def: `{"all":[]} {"any":[]}`, path: "definition"},
	{name: "garbage after the document", def: `{"all":[]}x`, path: "definition"},
	{name: "a list at the top", def: `[{"field":"city","op":"is_set"}]`, path: "definition"},
	{name: "a text at the top", def: `"city"`, path: "definition"},
	{name: "empty object", def: `{}`, path: "definition"},
	{name: "rule without field", def: `{"op":"eq","value":"x"}`, path: "definition"},
	{name: "nested rule without field", def: `{"all":[{"field":"city","op":"is_set"},{"op":"eq","value":"x"}]}`, path: "all[1]"},
	{name: "group item is not an object", def: `{"any":[{"field":"city","op":"is_set"},"city"]}`, path: "any[1]"},
	{name: "group is not a list", def: `{"all":{"field":"city","op":"is_set"}}`, path: "all"},
	{name: "not of a list", def: `{"not":[{"field":"city","op":"is_set"}]}`, path: "not"},
	{name: "not of null", def: `{"not":null}`, path: "not"},

	// Shape: one group or one rule, known keys.
	{name: "group and rule in one node", def: `{"all":[],"field":"city","op":"is_set"}`, path: "definition"},
	{name: "nested group and rule in one node", def: `{"all":[{"any":[{"not":{"field":"city","op":"is_set"},"field":"city","op":"is_set"}]}]}`, path: "all[0].any[0]"},
	{name: "two groups in one node", def: `{"all":[],"any":[]}`, path: "definition"},
	{name: "unknown key in a group", def: `{"all":[],"name":"x"}`, path: "name"},
	{name: "unknown key in a nested group", def: `{"any":[{"not":{"field":"city","op":"is_set"},"comment":"x"}]}`, path: "any[0].comment"},
	{name: "first unknown key is named", def: `{"all":[],"zeta":1,"alpha":2}`, path: "alpha"},
	{name: "unknown key in a rule", def: `{"field":"city","op":"in","values":["x"]}`, path: "values"},
	{name: "unknown key in a nested rule", def: `{"all":[{"field":"city","op":"is_set"},{"any":[{"field":"city","op":"is_set","negate":true}]}]}`, path: "all[1].any[0].negate"},
	{name: "field is not a text", def: `{"field":1,"op":"eq","value":"x"}`, path: "field"},
	{name: "op is not a text", def: `{"field":"city","op":["eq"],"value":"x"}`, path: "op"},
	{name: "missing op", def: `{"field":"city","value":"x"}`, path: "op"},
	{name: "machines is not a bool", def: `{"field":"opened","op":"any_of_last","value":1,"machines":"yes"}`, path: "machines"},
	{name: "too deep", def: nest(13), path: strings.TrimSuffix(strings.Repeat("not.", 13), ".")},
	{name: "too many conditions", def: manyRules(300), path: "all[299]"},
	{name: "299 conditions of 1000 list items", def: anyOf(inRules(299, 1000)), path: "any[10].value[0]"},
	{name: "more than 10000 list items and event properties in all", def: anyOf(inRules(9, 1000), whereRules(11, 100)), path: "any[19].value.where.p0"},

	// Fields and ops.
	{name: "unknown field", def: `{"field":"shoe_size","op":"eq","value":"x"}`, path: "field"},
	{name: "unknown field deep in the tree", def: `{"all":[{"field":"city","op":"is_set"},{"any":[{"field":"nope","op":"eq","value":1}]}]}`, path: "all[1].any[0].field"},
	{name: "unknown custom field", def: `{"field":"attr.shoe_size","op":"eq","value":"x"}`, path: "field"},
	{name: "empty field", def: `{"field":"","op":"eq","value":"x"}`, path: "field"},
	{name: "invalid event type", def: `{"field":"event.Purchase","op":"count_gte","value":{"n":1}}`, path: "field"},
	{name: "empty event type", def: `{"field":"event.","op":"count_gte","value":{"n":1}}`, path: "field"},
	{name: "op of another field type", def: `{"field":"city","op":"gt","value":1}`, path: "op"},
	{name: "op of another field type deep in the tree", def: `{"not":{"any":[{"field":"total_spent","op":"contains","value":"1"}]}}`, path: "not.any[0].op"},
	{name: "unknown op", def: `{"field":"city","op":"like","value":"x"}`, path: "op"},
	{name: "text op on a number attribute", def: `{"field":"attr.score","op":"contains","value":"4"}`, path: "op"},
	{name: "number op on a bool attribute", def: `{"field":"attr.vip","op":"gt","value":1}`, path: "op"},
	{name: "yearly op on a time", def: `{"field":"signup_at","op":"month_is","value":1}`, path: "op"},
	{name: "time op on a yearly date", def: `{"field":"birthday","op":"within_last","value":"30d"}`, path: "op"},
	{name: "event op on engagement", def: `{"field":"opened","op":"count_gte","value":{"n":1}}`, path: "op"},
	{name: "machines on a text field", def: `{"field":"city","op":"is_set","machines":true}`, path: "machines"},
	{name: "machines on a non-email event", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1},"machines":true}`, path: "machines"},

	// Value types.
	{name: "number for a text", def: `{"field":"city","op":"eq","value":5}`, path: "value"},
	{name: "missing text", def: `{"field":"city","op":"eq"}`, path: "value"},
	{name: "list for eq", def: `{"field":"city","op":"eq","value":["a"]}`, path: "value"},
	{name: "text in list is not a text", def: `{"field":"city","op":"in","value":["a",2]}`, path: "value[1]"},
	{name: "in is not a list", def: `{"field":"city","op":"in","value":"a"}`, path: "value"},
	{name: "empty in-list", def: `{"field":"city","op":"in","value":[]}`, path: "value"},
	{name: "empty not_in-list", def: `{"all":[{"field":"country","op":"not_in","value":[]}]}`, path: "all[0].value"},
	{name: "in-list too long", def: `{"field":"city","op":"in","value":[` + strings.TrimSuffix(strings.Repeat(`"x",`, 1001), ",") + `]}`, path: "value"},
	{name: "text too long", def: `{"field":"city","op":"eq","value":"` + strings.Repeat("x", 1001) + `"}`, path: "value"},
	{name: "text with NUL", def: `{"field":"city","op":"eq","value":"a\u0000b"}`, path: "value"},
	{name: "text with NUL in a list", def: `{"field":"city","op":"not_in","value":["a","\u0000"]}`, path: "value[1]"},
	{name: "empty contains", def: `{"field":"city","op":"contains","value":""}`, path: "value"},
	{name: "empty starts_with", def: `{"field":"email","op":"starts_with","value":"  "}`, path: "value"},
	{name: "unknown status", def: `{"field":"status","op":"eq","value":"active"}`, path: "value"},
	{name: "unknown status in a list", def: `{"field":"status","op":"in","value":["subscribed","gone"]}`, path: "value[1]"},
	{name: "value for is_set", def: `{"field":"city","op":"is_set","value":"x"}`, path: "value"},
	{name: "value for is_today", def: `{"field":"birthday","op":"is_today","value":true}`, path: "value"},
	{name: "text for a number", def: `{"field":"total_spent","op":"gt","value":"800"}`, path: "value"},
	{name: "missing number", def: `{"field":"orders_count","op":"gte"}`, path: "value"},
	{name: "number out of range", def: `{"field":"total_spent","op":"gt","value":1e16}`, path: "value"},
	{name: "number beyond float range", def: `{"field":"orders_count","op":"gt","value":1e400}`, path: "value"},
	{name: "between is not a pair", def: `{"field":"orders_count","op":"between","value":[1,2,3]}`, path: "value"},
	{name: "between is a number", def: `{"field":"orders_count","op":"between","value":1}`, path: "value"},
	{name: "between low is a text", def: `{"field":"attr.score","op":"between","value":["a",1]}`, path: "value[0]"},
	{name: "between high is null", def: `{"field":"attr.score","op":"between","value":[1,null]}`, path: "value[1]"},
	{name: "between low above high", def: `{"field":"total_spent","op":"between","value":[500,100]}`, path: "value"},
	{name: "text for a bool", def: `{"field":"attr.vip","op":"eq","value":"yes"}`, path: "value"},
	{name: "number for a bool", def: `{"field":"attr.vip","op":"neq","value":1}`, path: "value"},
	{name: "number for a time", def: `{"field":"signup_at","op":"before","value":20260101}`, path: "value"},
	{name: "not a time", def: `{"field":"signup_at","op":"after","value":"yesterday"}`, path: "value"},
	{name: "month 13 in a date", def: `{"field":"signup_at","op":"before","value":"2026-13-01"}`, path: "value"},
	{name: "date out of range", def: `{"field":"last_open_at","op":"after","value":"1800-01-01"}`, path: "value"},
	{name: "not a date for a date attribute", def: `{"field":"attr.renewal","op":"before","value":"soon"}`, path: "value"},
	{name: "bare number duration", def: `{"field":"last_open_at","op":"within_last","value":90}`, path: "value"},
	{name: "duration without unit", def: `{"field":"last_open_at","op":"within_last","value":"90"}`, path: "value"},
	{name: "duration with unknown unit", def: `{"field":"last_open_at","op":"within_last","value":"3m"}`, path: "value"},
	{name: "zero duration", def: `{"field":"last_open_at","op":"within_last","value":"0d"}`, path: "value"},
	{name: "negative duration", def: `{"field":"last_visit_at","op":"not_within_last","value":"-5d"}`, path: "value"},
	{name: "duration over 20 years", def: `{"field":"last_visit_at","op":"within_last","value":"7301d"}`, path: "value"},
	{name: "duration that overflows", def: `{"field":"last_visit_at","op":"within_last","value":"585y"}`, path: "value"},
	{name: "weeks that overflow", def: `{"field":"last_visit_at","op":"within_last","value":"99999w"}`, path: "value"},
	{name: "zero duration on a date attribute", def: `{"field":"attr.renewal","op":"not_within_last","value":"0h"}`, path: "value"},
	{name: "month 13", def: `{"field":"birthday","op":"month_is","value":13}`, path: "value"},
	{name: "month 0", def: `{"field":"anniversary","op":"month_is","value":0}`, path: "value"},
	{name: "month as text", def: `{"field":"birthday","op":"month_is","value":"2"}`, path: "value"},
	{name: "month as fraction", def: `{"field":"birthday","op":"month_is","value":2.5}`, path: "value"},
	{name: "unknown relative month", def: `{"field":"birthday","op":"month_is","value":"last"}`, path: "value"},
	{name: "relative month in capitals", def: `{"field":"anniversary","op":"month_is","value":"Current"}`, path: "value"},
	{name: "within_next_days 400", def: `{"field":"birthday","op":"within_next_days","value":400}`, path: "value"},
	{name: "within_next_days negative", def: `{"field":"birthday","op":"within_next_days","value":-1}`, path: "value"},
	{name: "within_next_days as text", def: `{"field":"birthday","op":"within_next_days","value":"7d"}`, path: "value"},
	{name: "any_of_last 0", def: `{"field":"opened","op":"any_of_last","value":0}`, path: "value"},
	{name: "all_of_last 101", def: `{"field":"clicked","op":"all_of_last","value":101}`, path: "value"},
	{name: "none_of_last as text", def: `{"field":"opened","op":"none_of_last","value":"3"}`, path: "value"},
	{name: "campaign id 0", def: `{"field":"opened","op":"campaign","value":0}`, path: "value"},
	{name: "campaign id negative", def: `{"field":"clicked","op":"campaign","value":-4}`, path: "value"},
	{name: "campaign id as text", def: `{"field":"clicked","op":"campaign","value":"4"}`, path: "value"},
	{name: "top_percent 0", def: `{"field":"total_spent","op":"top_percent","value":0}`, path: "value"},
	{name: "top_percent 100", def: `{"field":"orders_count","op":"top_percent","value":100}`, path: "value"},
	{name: "top_percent a fraction", def: `{"field":"last_purchase_at","op":"top_percent","value":2.5}`, path: "value"},
	{name: "top_percent as text", def: `{"field":"signup_at","op":"top_percent","value":"20"}`, path: "value"},
	{name: "top_percent without a value", def: `{"field":"total_spent","op":"top_percent"}`, path: "value"},
	{name: "top_percent negative deep in the tree", def: `{"all":[{"field":"city","op":"is_set"},{"not":{"field":"last_open_at","op":"top_percent","value":-5}}]}`, path: "all[1].not.value"},
	{name: "top_percent on an average", def: `{"field":"avg_days_between_purchases","op":"top_percent","value":20}`, path: "op"},
	{name: "top_percent on a number attribute", def: `{"field":"attr.score","op":"top_percent","value":20}`, path: "op"},
	{name: "top_percent on created_at", def: `{"field":"created_at","op":"top_percent","value":20}`, path: "op"},
	{name: "top_percent on a yearly date", def: `{"any":[{"field":"birthday","op":"top_percent","value":20}]}`, path: "any[0].op"},
	{name: "top_percent on a text", def: `{"field":"country","op":"top_percent","value":20}`, path: "op"},
	{name: "event value is a number", def: `{"field":"event.purchase","op":"count_gte","value":1}`, path: "value"},
	{name: "event count missing", def: `{"field":"event.purchase","op":"count_gte","value":{"within":"30d"}}`, path: "value.n"},
	{name: "event count negative", def: `{"field":"event.purchase","op":"count_gte","value":{"n":-1}}`, path: "value.n"},
	{name: "event count a fraction", def: `{"field":"event.purchase","op":"count_lt","value":{"n":1.5}}`, path: "value.n"},
	{name: "event count too large", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1000001}}`, path: "value.n"},
	{name: "event count_lt 0", def: `{"field":"event.visit","op":"count_lt","value":{"n":0}}`, path: "value.n"},
	{name: "event unknown key", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1,"inside":"30d"}}`, path: "value.inside"},
	{name: "event within zero", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1,"within":"0d"}}`, path: "value.within"},
	{name: "event within negative deep in the tree", def: `{"all":[{"field":"city","op":"is_set"},{"any":[{"field":"event.visit","op":"count_gte","value":{"n":1,"within":"-3d"}}]}]}`, path: "all[1].any[0].value.within"},
	{name: "event within a number", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1,"within":30}}`, path: "value.within"},
	{name: "event within and since_campaign", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1,"within":"30d","since_campaign":1}}`, path: "value"},
	{name: "event since_campaign 0", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1,"since_campaign":0}}`, path: "value.since_campaign"},
	{name: "event since_campaign text", def: `{"field":"event.purchase","op":"count_lt","value":{"n":1,"since_campaign":"x"}}`, path: "value.since_campaign"},
	{name: "event where is a list", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1,"where":["category"]}}`, path: "value.where"},
	{name: "event where is empty", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1,"where":{}}}`, path: "value.where"},
	{name: "event where null value", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1,"where":{"category":null}}}`, path: "value.where.category"},
	{name: "event where object value", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1,"where":{"category":{"eq":"oil"}}}}`, path: "value.where.category"},
	{name: "event where list value", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1,"where":{"category":["oil"]}}}`, path: "value.where.category"},
	{name: "event where bad property name", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1,"where":{"bad-name":"x"}}}`, path: "value.where.bad-name"},
	{name: "event where NUL text", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1,"where":{"category":"oil\u0000"}}}`, path: "value.where.category"},
	{name: "event where number out of range", def: `{"field":"event.purchase","op":"count_gte","value":{"n":1,"where":{"qty":1e300}}}`, path: "value.where.qty"},
}

// TestInvalidDefinitions checks that every bad definition is an
// *errs.InvalidError naming the exact place in the tree, from the
// compiler of either dialect and from the service (Preview, Create and
// Update), so that the API can answer 400 with the path.
func TestInvalidDefinitions(t *testing.T) {
	w := newWorld(t, fixedClock(now), shopFields, nil)
	svc := segments.NewService(w.g, w.store, fixedClock(now), nil)
	ctx := context.Background()
	name := "valid"
	existing, err := svc.Create(ctx, segments.Input{Name: &name, Definition: json.RawMessage(`{"all":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range invalidCases {
		t.Run(tc.name, func(t *testing.T) {
			for _, pg := range []bool{false, true} {
				c := &segments.Compiler{Postgres: pg, Now: now, Fields: compilerFields()}
				n, err := segments.Parse([]byte(tc.def))
				if err == nil {
					_, err = c.Compile(n)
				}
				if got := invalidPath(t, err); got != tc.path {
					t.Errorf("postgres=%v: path %q (%v), want %q", pg, got, err, tc.path)
				}
			}
			_, _, err := svc.Preview(ctx, []byte(tc.def), 10)
			if got := invalidPath(t, err); got != tc.path {
				t.Errorf("Preview: path %q (%v), want %q", got, err, tc.path)
			}
			if tc.def == "" {
				return // an empty definition is "not given" to Create and Update
			}
			n := tc.name
			_, err = svc.Create(ctx, segments.Input{Name: &n, Definition: json.RawMessage(tc.def)})
			if got := invalidPath(t, err); got != tc.path {
				t.Errorf("Create: path %q (%v), want %q", got, err, tc.path)
			}
			_, err = svc.Update(ctx, existing.ID, segments.Input{Definition: json.RawMessage(tc.def)})
			if got := invalidPath(t, err); got != tc.path {
				t.Errorf("Update: path %q (%v), want %q", got, err, tc.path)
			}
		})
	}
	ids, err := svc.IDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 {
		t.Errorf("invalid definitions left %d segments, want only the valid one", len(ids))
	}
	got, err := svc.Get(ctx, existing.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Definition) != `{"all":[]}` && !strings.Contains(string(got.Definition), `"all": []`) {
		t.Errorf("failed updates changed the definition to %s", got.Definition)
	}
}

// TestLimits checks the largest definitions that are still accepted.
func TestLimits(t *testing.T) {
	for _, tc := range []struct{ name, def string }{
		{"nested 12 deep", nest(12)},
		{"299 conditions", manyRules(299)},
		{"in-list of 1000", `{"field":"city","op":"in","value":[` + strings.TrimSuffix(strings.Repeat(`"x",`, 1000), ",") + `]}`},
		{"10000 list items in all", anyOf(inRules(10, 1000))},
		{"20 years", `{"field":"last_visit_at","op":"within_last","value":"20y"}`},
		{"7300 days", `{"field":"last_visit_at","op":"within_last","value":"7300d"}`},
		{"1042 weeks", `{"field":"last_visit_at","op":"within_last","value":"1042w"}`},
		{"within_next_days 366", `{"field":"birthday","op":"within_next_days","value":366}`},
		{"last 100 campaigns", `{"field":"opened","op":"all_of_last","value":100}`},
		{"text of 1000 bytes", `{"field":"city","op":"eq","value":"` + strings.Repeat("x", 1000) + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := segments.Parse([]byte(tc.def))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			c := &segments.Compiler{Now: now, Fields: compilerFields()}
			if _, err := c.Compile(n); err != nil {
				t.Fatalf("Compile: %v", err)
			}
		})
	}
}

// TestLargestDefinitionsRunOnBothEngines checks that what the size limits
// let through runs, and that past them is a 400 naming the rule where the
// SQL would bind more than a statement may (32,766 arguments on SQLite,
// 65,535 on PostgreSQL): never an error of the engine, and never one
// engine answering where the other fails.
func TestLargestDefinitionsRunOnBothEngines(t *testing.T) {
	w := newWorld(t, fixedClock(now), shopFields, townPeople)
	svc := segments.NewService(w.g, w.store, fixedClock(now), nil)
	ctx := context.Background()
	for _, tc := range []struct{ name, def string }{
		{"10000 list items", anyOf(inRules(10, 1000))},
		{"9900 event properties", anyOf(whereRules(99, 100))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, _, err := svc.Preview(ctx, []byte(tc.def), 0)
			if err != nil || n != 0 {
				t.Errorf("Preview: %d, %v; want 0 contacts", n, err)
			}
		})
	}
	// 9,900 event properties bind close to 30,000 arguments; date rules
	// bind a few each and take the definition over, within the limit on
	// list items and properties.
	var dates []string
	for i := 0; i < 200; i++ {
		dates = append(dates, `{"field":"attr.renewal","op":"not_within_last","value":"30d"}`)
	}
	def := anyOf(whereRules(99, 100), dates)
	for _, pg := range []bool{false, true} {
		n, err := segments.Parse([]byte(def))
		if err != nil {
			t.Fatal(err)
		}
		_, err = (&segments.Compiler{Postgres: pg, Now: now, Fields: compilerFields()}).Compile(n)
		if path := invalidPath(t, err); !regexp.MustCompile(`^any\[\d+\]$`).MatchString(path) || !strings.Contains(err.Error(), "values in all") {
			t.Errorf("postgres=%v: %v, want a rule's path and the limit", pg, err)
		}
	}
	_, _, err := svc.Preview(ctx, []byte(def), 0)
	invalidPath(t, err)
}

func TestCompileNil(t *testing.T) {
	c := &segments.Compiler{Now: now}
	if got := invalidPath(t, func() error { _, err := c.Compile(nil); return err }()); got != "definition" {
		t.Errorf("Compile(nil): path %q, want definition", got)
	}
	if got := invalidPath(t, func() error { _, err := c.Compile(segments.All(segments.Rule("city", "is_set", nil), nil)); return err }()); got != "all[1]" {
		t.Errorf("Compile(all with a nil child): path %q, want all[1]", got)
	}
}

func TestParseDuration(t *testing.T) {
	const day = 24 * 60 * 60
	for _, tc := range []struct {
		in      string
		seconds int64
		ok      bool
	}{
		{"90d", 90 * day, true},
		{"12h", 12 * 60 * 60, true},
		{"2w", 14 * day, true},
		{"1y", 365 * day, true},
		{" 30D ", 30 * day, true},
		{"7 d", 7 * day, true},
		{"20y", 20 * 365 * day, true},
		{"99999h", 99999 * 60 * 60, true},
		{"7300d", 7300 * day, true},
		{"7301d", 0, false},
		{"1042w", 1042 * 7 * day, true},
		{"1043w", 0, false},
		{"21y", 0, false},
		{"292y", 0, false},
		{"585y", 0, false},
		{"99999y", 0, false},
		{"99999w", 0, false},
		{"99999d", 0, false},
		{"0d", 0, false},
		{"0h", 0, false},
		{"-1d", 0, false},
		{"1.5d", 0, false},
		{"d", 0, false},
		{"100000h", 0, false},
		{"1m", 0, false},
		{"", 0, false},
		{"١d", 0, false}, // Arabic-Indic digit
	} {
		d, err := segments.ParseDuration(tc.in)
		if tc.ok {
			if err != nil || int64(d.Seconds()) != tc.seconds {
				t.Errorf("ParseDuration(%q) = %v, %v; want %ds", tc.in, d, err, tc.seconds)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", tc.in, d)
		} else if !strings.HasPrefix(err.Error(), "segments: ") {
			t.Errorf("ParseDuration(%q): %q lacks the package prefix", tc.in, err)
		}
	}
}

// TestGoBuiltNodes checks that definitions built in Go (with the helpers,
// as literals, or decoded by encoding/json) mean what their JSON means.
func TestGoBuiltNodes(t *testing.T) {
	const def = `{"any":[{"field":"city","op":"eq","value":"Paris"},{"not":{"all":[{"field":"total_spent","op":"gt","value":800},{"field":"attr.vip","op":"eq","value":true}]}}]}`
	parsed, err := segments.Parse([]byte(def))
	if err != nil {
		t.Fatal(err)
	}
	var decoded segments.Node
	if err := json.Unmarshal([]byte(def), &decoded); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		node *segments.Node
	}{
		{"helpers", segments.Any(
			segments.Rule("city", "eq", "Paris"),
			segments.Not(segments.All(segments.Rule("total_spent", "gt", 800), segments.Rule("attr.vip", "eq", true))),
		)},
		{"literals", &segments.Node{Any: []*segments.Node{
			{Field: "city", Op: "eq", Value: "Paris"},
			{Not: &segments.Node{All: []*segments.Node{
				{Field: "total_spent", Op: "gt", Value: 800.0},
				{Field: "attr.vip", Op: "eq", Value: true},
			}}},
		}}},
		{"json.Unmarshal", &decoded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, pg := range []bool{false, true} {
				c := &segments.Compiler{Postgres: pg, Now: now, Fields: compilerFields()}
				want, err := c.Compile(parsed)
				if err != nil {
					t.Fatal(err)
				}
				got, err := c.Compile(tc.node)
				if err != nil {
					t.Fatal(err)
				}
				if got.SQL != want.SQL || len(got.Args) != len(want.Args) {
					t.Errorf("postgres=%v:\n got %s %v\nwant %s %v", pg, got.SQL, got.Args, want.SQL, want.Args)
				}
			}
			b, err := json.Marshal(tc.node)
			if err != nil {
				t.Fatal(err)
			}
			if canon, _ := json.Marshal(parsed); string(b) != string(canon) {
				t.Errorf("Marshal = %s, want %s", b, canon)
			}
		})
	}
	if err := json.Unmarshal([]byte(`{"any":[{"field":"city"}]}`), &decoded); invalidPath(t, err) != "any[0].op" {
		t.Errorf("json.Unmarshal of a rule without op: %v, want the path any[0].op", err)
	}
}
