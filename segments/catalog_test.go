package segments

import (
	"encoding/json"
	"testing"

	"herald/contacts"
)

// sampleValues holds a value of each kind the catalog names, as an editor
// would send it.
var sampleValues = map[string]any{
	ValueText: "x", ValueTexts: []any{"a", "b, c"}, ValueCountry: "NL", ValueCountries: []any{"NL", "BE"},
	ValueNumber: 5, ValueNumberRange: []any{1, 2}, ValueMoney: 800.5, ValueMoneyRange: []any{10, 20.25},
	ValueDate: "2026-01-31", ValueDuration: "90d", ValueMonth: "current", ValueDays: 7, ValuePercent: 20,
	ValueCampaigns: 5, ValueCampaign: 1, ValueBool: true,
	ValueEventCount: map[string]any{"n": 1, "within": "30d", "where": map[string]any{"category": "watercolor"}},
}

func TestCatalogOffersEveryBuiltinFieldOnceWithTheCompilersOperators(t *testing.T) {
	custom := map[string]contacts.CustomField{
		"shoe_size": {Name: "shoe_size", Type: contacts.FieldNumber}, "vip": {Name: "vip", Type: contacts.FieldBool},
		"renewal": {Name: "renewal", Type: contacts.FieldDate}, "team": {Name: "team", Type: contacts.FieldText},
	}
	cat := buildCatalog(custom, "JPY")
	if cat.Currency != "JPY" || cat.CurrencyDecimals != 0 {
		t.Errorf("currency %s with %d decimals, want JPY with 0", cat.Currency, cat.CurrencyDecimals)
	}
	seen := map[string]int{}
	var groups []string
	for _, g := range cat.Groups {
		groups = append(groups, g.Key)
		for _, f := range g.Fields {
			seen[f.Name]++
		}
	}
	if want := `["profile","activity","engagement","events","custom"]`; mustJSON(t, groups) != want {
		t.Errorf("groups %s, want %s", mustJSON(t, groups), want)
	}
	for name := range builtinFields {
		if seen[name] != 1 {
			t.Errorf("built-in field %s is in the catalog %d times, want once", name, seen[name])
		}
	}
	for _, n := range []string{"attr.shoe_size", "attr.vip", "attr.renewal", "attr.team", "event.purchase", "event.email.open"} {
		if seen[n] != 1 {
			t.Errorf("field %s is in the catalog %d times, want once", n, seen[n])
		}
	}
}

// Every operator of every field, given a value of the kind the catalog
// says, compiles: an editor that follows the catalog builds only valid
// rules.
func TestCatalogValueKindsAreWhatTheCompilerAccepts(t *testing.T) {
	custom := map[string]contacts.CustomField{
		"shoe_size": {Name: "shoe_size", Type: contacts.FieldNumber}, "vip": {Name: "vip", Type: contacts.FieldBool},
		"renewal": {Name: "renewal", Type: contacts.FieldDate}, "team": {Name: "team", Type: contacts.FieldText},
	}
	c := &Compiler{Fields: custom, Threshold: func(string, int) (any, bool, error) { return 1, true, nil }}
	for _, g := range buildCatalog(custom, "EUR").Groups {
		for _, f := range g.Fields {
			if len(f.Ops) == 0 {
				t.Errorf("%s has no operators", f.Name)
			}
			for _, op := range f.Ops {
				if op.Label == "" {
					t.Errorf("%s %s has no label", f.Name, op.Op)
				}
				rule := map[string]any{"field": f.Name, "op": op.Op}
				if op.Value != ValueNone {
					v, ok := sampleValues[op.Value]
					switch op.Value {
					case ValueChoice:
						v, ok = f.Values[0], len(f.Values) > 0
					case ValueChoices:
						v, ok = []any{f.Values[0]}, len(f.Values) > 0
					}
					if !ok {
						t.Fatalf("%s %s: no sample for value kind %q", f.Name, op.Op, op.Value)
					}
					rule["value"] = v
				}
				n, err := Parse([]byte(mustJSON(t, rule)))
				if err == nil {
					_, err = c.Compile(n)
				}
				if err != nil {
					t.Errorf("%s %s with a %s value: %v", f.Name, op.Op, op.Value, err)
				}
			}
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
