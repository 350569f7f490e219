package segments_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"herald/internal/errs"
	"herald/segments"
)

// FuzzParseCompile feeds definitions to Parse and Compile in both SQL
// dialects. Neither may panic; every error must be an *errs.InvalidError
// (a 400 naming a path, never a 500); a compiled expression must bind
// exactly one argument per placeholder; a definition must compile to the
// same SQL after the round trip through its stored, canonical form; and
// no text of the definition may reach the SQL (see checkValuesAreBound).
func FuzzParseCompile(f *testing.F) {
	for _, tc := range membershipCases {
		f.Add([]byte(strings.NewReplacer("$C1", "1", "$C2", "2", "$C3", "3", "$C4", "4").Replace(tc.def)))
	}
	for _, tc := range invalidCases {
		if len(tc.def) < 2000 {
			f.Add([]byte(tc.def))
		}
	}
	for _, s := range []string{
		`{"all":[{"not":{"any":[]}},{"field":"attr.score","op":"between","value":[-1e15,1e15]}]}`,
		`{"field":"event.a.b_c","op":"count_lt","value":{"n":1000000,"where":{"x":1.5,"y":true,"z":"\u00e9"}},"machines":false}`,
		`{"field":"event.email.open","op":"count_gte","value":{"n":2,"since_campaign":9223372036854775807},"machines":true}`,
		`{"field":"birthday","op":"within_next_days","value":366}`,
		`{"field":"signup_at","op":"after","value":"2200-12-31T23:59:59.999999999+14:00"}`,
		`{"field":"total_spent","op":"eq","value":-0.005}`,
		`{"field":"opened","op":"all_of_last","value":1e2}`,
		`{"any":[{"field":"attr.vip","op":"eq","value":true},{"field":"attr.renewal","op":"within_last","value":"1h"}]}`,
		`{"all":[{"field":"total_spent","op":"top_percent","value":99},{"not":{"field":"last_visit_at","op":"top_percent","value":1}}]}`,
		`{"any":[{"field":"city","op":"eq","value":"x' OR '1'='1"},{"field":"attr.plan","op":"not_in","value":["a\"); DROP TABLE contacts; --","b"]}]}`,
		`{"field":"event.purchase","op":"count_gte","value":{"n":2,"within":"30d","where":{"category":"'; DELETE FROM events; --","qty":2,"gift":true}}}`,
		`{"field":"source","op":"contains","value":"50%_off' --"}`,
		`{"field":"birthday","op":"month_is","value":"next"}`,
	} {
		f.Add([]byte(s))
	}
	fields := compilerFields()
	at := time.Date(2027, 2, 28, 23, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, def []byte) {
		n, err := segments.Parse(def)
		if err != nil {
			mustBeInvalid(t, "Parse", def, err)
			return
		}
		canon, err := json.Marshal(n)
		if err != nil {
			t.Fatalf("Marshal(Parse(%q)): %v", def, err)
		}
		again, err := segments.Parse(canon)
		if err != nil {
			t.Fatalf("the canonical form %s of %q does not parse: %v", canon, def, err)
		}
		for _, pg := range []bool{false, true} {
			c := &segments.Compiler{Postgres: pg, Now: at, Fields: fields, Threshold: stubThreshold}
			expr, err := c.Compile(n)
			if err != nil {
				mustBeInvalid(t, "Compile", def, err)
				if _, err2 := c.Compile(again); err2 == nil || err2.Error() != err.Error() {
					t.Fatalf("postgres=%v: %q fails with %v but its canonical form %s with %v", pg, def, err, canon, err2)
				}
				continue
			}
			if got := strings.Count(expr.SQL, "?"); got != len(expr.Args) {
				t.Fatalf("postgres=%v: %q compiles to %d placeholders and %d arguments:\n%s\n%#v", pg, def, got, len(expr.Args), expr.SQL, expr.Args)
			}
			for i, a := range expr.Args {
				switch a.(type) {
				case string, int, int64, float64, bool, time.Time:
				default:
					t.Fatalf("postgres=%v: %q binds argument %d of type %T", pg, def, i, a)
				}
			}
			checkValuesAreBound(t, c, canon)
			// UsingField looks for custom field rules among the segments
			// that read "attributes" only.
			if bytes.Contains(canon, []byte(`"field":"attr.`)) && !slices.Contains(expr.Reads, "attributes") {
				t.Fatalf("postgres=%v: %q reads a custom field but its reads %v leave out attributes", pg, def, expr.Reads)
			}
			expr2, err := c.Compile(again)
			if err != nil {
				t.Fatalf("postgres=%v: %q compiles but its canonical form %s does not: %v", pg, def, canon, err)
			}
			if expr.SQL != expr2.SQL || !reflect.DeepEqual(expr.Args, expr2.Args) {
				t.Fatalf("postgres=%v: %q and its canonical form %s compile differently:\n%s %#v\n%s %#v", pg, def, canon, expr.SQL, expr.Args, expr2.SQL, expr2.Args)
			}
		}
	})
}

// stubThreshold stands in for the database in compiler-only tests: a
// time for time columns, a number for the others, and no values at all
// for last_click_at.
func stubThreshold(column string, percent int) (any, bool, error) {
	switch column {
	case "last_click_at":
		return nil, false, nil
	case "orders_count", "total_spent":
		return int64(100 - percent), true, nil
	}
	return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -percent), true, nil
}

func mustBeInvalid(t *testing.T, what string, def []byte, err error) {
	t.Helper()
	var ie *errs.InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("%s(%q): %v (%T) is not an *errs.InvalidError", what, def, err, err)
	}
	if ie.Message == "" {
		t.Fatalf("%s(%q): an InvalidError without a message", what, def)
	}
	if strings.HasPrefix(ie.Message, "segments:") {
		t.Fatalf("%s(%q): the message %q, for the user, has the package prefix", what, def, ie.Message)
	}
}

// marker is a text that no SQL the compiler writes contains, in any case.
const marker = "zqxjv"

// maxMarked bounds the texts of one definition that checkValuesAreBound
// marks, so that large inputs stay quick.
const maxMarked = 64

// checkValuesAreBound marks, one at a time, each text of the canonical
// definition canon (a rule's value, a list item, an event property's name
// or value, an event type) with marker, and compiles the result: when it
// still compiles, marker must not be in the SQL. Were any of these texts
// spliced into the SQL rather than bound, its marked copy would be.
func checkValuesAreBound(t *testing.T, c *segments.Compiler, canon []byte) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(canon)))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("decode %s: %v", canon, err)
	}
	texts := 0
	markNode(doc, -1, &texts)
	for i := 0; i < min(texts, maxMarked); i++ {
		k := 0
		b, err := json.Marshal(markNode(doc, i, &k))
		if err != nil {
			t.Fatal(err)
		}
		n, err := segments.Parse(b)
		if err != nil {
			continue // the marked text is no longer valid there (a duration, a status)
		}
		expr, err := c.Compile(n)
		if err != nil {
			continue
		}
		if strings.Contains(strings.ToLower(expr.SQL), marker) {
			t.Fatalf("postgres=%v: text %d of %s reaches the SQL:\n%s", c.Postgres, i, b, expr.SQL)
		}
	}
}

// markNode copies a decoded definition, prefixing its text number target
// (counted in key order from *n) with marker.
func markNode(v any, target int, n *int) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := make(map[string]any, len(m))
	for _, k := range sortedKeys(m) {
		val := m[k]
		switch k {
		case "all", "any":
			list, _ := val.([]any)
			items := make([]any, len(list))
			for i, item := range list {
				items[i] = markNode(item, target, n)
			}
			out[k] = items
		case "not":
			out[k] = markNode(val, target, n)
		case "field":
			f, _ := val.(string)
			if typ, ok := strings.CutPrefix(f, "event."); ok {
				if *n == target {
					f = "event." + marker + typ
				}
				*n++
			}
			out[k] = f
		case "value":
			out[k] = markValue(val, false, target, n)
		default:
			out[k] = val
		}
	}
	return out
}

// markValue is markNode within a rule's value. keysAreText is set for the
// object of an event rule's "where", whose keys are property names.
func markValue(v any, keysAreText bool, target int, n *int) any {
	switch x := v.(type) {
	case string:
		if *n == target {
			x = marker + x
		}
		*n++
		return x
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			out[i] = markValue(item, false, target, n)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for _, k := range sortedKeys(x) {
			key := k
			if keysAreText {
				if *n == target {
					key = marker + k
				}
				*n++
			}
			out[key] = markValue(x[k], !keysAreText && k == "where", target, n)
		}
		return out
	}
	return v
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
