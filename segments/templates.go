package segments

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"

	"herald/contacts"
	"herald/internal/errs"
)

// Template is a built-in segment a marketer starts from. Creating a
// segment from it stores an ordinary definition, built from the
// template's parameters, which the marketer can then edit like any other.
type Template struct {
	Key         string  `json:"key"`
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Params      []Param `json:"params"`

	build func(p map[string]any) *Node
}

// Param is one parameter of a template. A nil Default makes it required.
type Param struct {
	Name string `json:"name"`
	// Type is integer, number (money in major units), text, country (ISO
	// 3166-1 alpha-2), campaign (a campaign id) or month (1-12, "current"
	// or "next").
	Type        string   `json:"type"`
	Default     any      `json:"default"`
	Min         *float64 `json:"min,omitempty"`
	Max         *float64 `json:"max,omitempty"`
	Description string   `json:"description"`
}

// Parameter types.
const (
	ParamInteger  = "integer"
	ParamNumber   = "number"
	ParamText     = "text"
	ParamCountry  = "country"
	ParamCampaign = "campaign"
	ParamMonth    = "month"
)

func bound(v float64) *float64 { return &v }

func intParam(name string, def, lo, hi int, desc string) Param {
	return Param{Name: name, Type: ParamInteger, Default: def, Min: bound(float64(lo)), Max: bound(float64(hi)), Description: desc}
}

func days(n any) string { return fmt.Sprintf("%dd", n) }

// Templates lists the built-in templates.
func (s *Service) Templates() []Template {
	return builtinTemplates()
}

func builtinTemplates() []Template {
	list := templateList()
	for i := range list {
		if list[i].Params == nil {
			list[i].Params = []Param{} // listed as [], not null
		}
	}
	return list
}

func templateList() []Template {
	monthParam := Param{Name: "month", Type: ParamMonth, Default: MonthCurrent,
		Description: `"current" (the default) for whatever month it is at each refresh, "next" for the month after it, or a month number, 1-12, for always that month`}
	return []Template{
		{Key: "birthdays_this_month", Name: "Birthdays this month", Description: "Contacts whose birthday is this month (whatever month it is at each refresh) or in a given month",
			Params: []Param{monthParam},
			build: func(p map[string]any) *Node {
				return Rule("birthday", "month_is", p["month"])
			}},
		{Key: "birthdays_next_days", Name: "Birthdays in the next days", Description: "Contacts whose birthday is today or in the next N days (across the year end)",
			Params: []Param{intParam("days", 7, 0, 366, "days ahead, today included")},
			build: func(p map[string]any) *Node {
				return Rule("birthday", "within_next_days", p["days"])
			}},
		{Key: "anniversaries_this_month", Name: "Anniversaries this month", Description: "Contacts whose anniversary is this month (whatever month it is at each refresh) or in a given month",
			Params: []Param{monthParam},
			build: func(p map[string]any) *Node {
				return Rule("anniversary", "month_is", p["month"])
			}},
		{Key: "high_value", Name: "High value", Description: "Contacts who spent more than an amount in total",
			Params: []Param{{Name: "min_spent", Type: ParamNumber, Default: 500, Min: bound(0), Max: bound(1e13), Description: "total spent must be over this amount (major units, such as euros)"}},
			build: func(p map[string]any) *Node {
				return Rule("total_spent", "gt", p["min_spent"])
			}},
		{Key: "top_spenders", Name: "Top spenders", Description: "The top percent of buyers by total spent",
			Params: []Param{intParam("percent", 20, 1, 99, "percent of the contacts who bought anything")},
			build: func(p map[string]any) *Node {
				return Rule("total_spent", "top_percent", p["percent"])
			}},
		{Key: "churn_risk", Name: "Churn potential", Description: "Contacts who bought before but neither bought nor visited in the last N days",
			Params: []Param{intParam("days", 90, 1, 3650, "days without a purchase or a visit")},
			build: func(p map[string]any) *Node {
				return All(
					Rule("orders_count", "gte", 1),
					Rule("last_purchase_at", "not_within_last", days(p["days"])),
					Rule("last_visit_at", "not_within_last", days(p["days"])),
				)
			}},
		{Key: "country", Name: "Country", Description: "Contacts in one country",
			Params: []Param{{Name: "country", Type: ParamCountry, Description: "ISO 3166-1 alpha-2 code, such as NL"}},
			build: func(p map[string]any) *Node {
				return Rule("country", "eq", p["country"])
			}},
		{Key: "viewed_not_bought", Name: "Viewed a campaign and did not buy", Description: "Contacts who opened a campaign and made no purchase since it was sent to them",
			Params: []Param{{Name: "campaign_id", Type: ParamCampaign, Description: "the campaign"}},
			build: func(p map[string]any) *Node {
				return All(
					Rule("opened", "campaign", p["campaign_id"]),
					Rule("event.purchase", "count_lt", map[string]any{"n": 1, "since_campaign": p["campaign_id"]}),
				)
			}},
		{Key: "engaged", Name: "Engaged", Description: "Contacts who opened or clicked any of the last campaigns they were sent",
			Params: []Param{intParam("campaigns", 5, 1, 100, "how many of the latest campaigns sent to each contact")},
			build: func(p map[string]any) *Node {
				return Any(
					Rule("opened", "any_of_last", p["campaigns"]),
					Rule("clicked", "any_of_last", p["campaigns"]),
				)
			}},
		{Key: "unengaged", Name: "Unengaged", Description: "Contacts who neither opened nor clicked any of the last campaigns they were sent",
			Params: []Param{intParam("campaigns", 5, 1, 100, "how many of the latest campaigns sent to each contact")},
			build: func(p map[string]any) *Node {
				return All(
					Rule("opened", "none_of_last", p["campaigns"]),
					Rule("clicked", "none_of_last", p["campaigns"]),
				)
			}},
		{Key: "new_subscribers", Name: "New subscribers", Description: "Contacts who signed up in the last N days",
			Params: []Param{intParam("days", 30, 1, 3650, "days since signing up")},
			build: func(p map[string]any) *Node {
				return Rule("signup_at", "within_last", days(p["days"]))
			}},
		{Key: "signup_source", Name: "Signup source", Description: "Contacts who signed up through one source",
			Params: []Param{{Name: "source", Type: ParamText, Description: "the source, such as website or instagram (case is ignored)"}},
			build: func(p map[string]any) *Node {
				return Rule("source", "eq", p["source"])
			}},
		{Key: "one_time_buyers", Name: "One-time buyers", Description: "Contacts with exactly one order",
			build: func(map[string]any) *Node {
				return Rule("orders_count", "eq", 1)
			}},
		{Key: "repeat_buyers", Name: "Repeat buyers", Description: "Contacts with two orders or more",
			build: func(map[string]any) *Node {
				return Rule("orders_count", "gte", 2)
			}},
		{Key: "loyal_buyers", Name: "Loyal buyers", Description: "Contacts with at least N orders",
			Params: []Param{intParam("min_orders", 5, 1, 1000000, "orders at least")},
			build: func(p map[string]any) *Node {
				return Rule("orders_count", "gte", p["min_orders"])
			}},
		{Key: "winback_lapsing", Name: "Win-back: lapsing", Description: "Contacts whose last purchase was between from_days and to_days ago",
			Params: []Param{
				intParam("from_days", 60, 1, 3650, "the last purchase is at least this many days ago"),
				intParam("to_days", 180, 2, 3650, "and at most this many"),
			},
			build: func(p map[string]any) *Node {
				return All(
					Rule("last_purchase_at", "not_within_last", days(p["from_days"])),
					Rule("last_purchase_at", "within_last", days(p["to_days"])),
				)
			}},
		{Key: "winback_lapsed", Name: "Win-back: lapsed", Description: "Contacts who bought before, but not in the last N days",
			Params: []Param{intParam("days", 180, 1, 3650, "days since the last purchase")},
			build: func(p map[string]any) *Node {
				return All(
					Rule("last_purchase_at", "is_set", nil),
					Rule("last_purchase_at", "not_within_last", days(p["days"])),
				)
			}},
		{Key: "rfm_whales", Name: "RFM whales", Description: "Contacts in the top percent on recency (last purchase), frequency (orders) and monetary value (total spent) at once",
			Params: []Param{intParam("percent", 20, 1, 99, "percent of the buyers on each of the three")},
			build: func(p map[string]any) *Node {
				return All(
					Rule("last_purchase_at", "top_percent", p["percent"]),
					Rule("orders_count", "top_percent", p["percent"]),
					Rule("total_spent", "top_percent", p["percent"]),
				)
			}},
	}
}

// FromTemplate checks params (a JSON object; empty for the defaults)
// against the template key and returns the template and its definition.
// Bad input is an *errs.InvalidError with a path such as params.min_spent.
func (s *Service) FromTemplate(key string, params json.RawMessage) (Template, json.RawMessage, error) {
	return buildTemplate(builtinTemplates(), key, params)
}

func buildTemplate(list []Template, key string, params json.RawMessage) (Template, json.RawMessage, error) {
	var t *Template
	keys := make([]string, len(list))
	for i := range list {
		keys[i] = list[i].Key
		if list[i].Key == key {
			t = &list[i]
		}
	}
	if t == nil {
		return Template{}, nil, errs.Invalid("template", "unknown template %q: use one of %s", key, strings.Join(keys, ", "))
	}
	given := map[string]any{}
	if raw := bytes.TrimSpace(params); len(raw) > 0 && string(raw) != "null" {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&given); err != nil || dec.More() {
			return Template{}, nil, errs.Invalid("params", "expected an object of parameter: value")
		}
	}
	names := make([]string, 0, len(given))
	for n := range given {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !t.hasParam(n) {
			return Template{}, nil, errs.Invalid("params."+n, "unknown parameter of %s: %s", t.Key, t.paramList())
		}
	}
	values := map[string]any{}
	for _, p := range t.Params {
		v, ok := given[p.Name]
		if !ok || v == nil {
			if p.Default == nil {
				return Template{}, nil, errs.Invalid("params."+p.Name, "is required")
			}
			v = p.Default
		}
		checked, err := p.check(v, "params."+p.Name)
		if err != nil {
			return Template{}, nil, err
		}
		values[p.Name] = checked
	}
	if from, to := values["from_days"], values["to_days"]; from != nil && to != nil && from.(int64) >= to.(int64) {
		return Template{}, nil, errs.Invalid("params.to_days", "must be more than from_days (%d)", from)
	}
	def, err := json.Marshal(t.build(values))
	if err != nil {
		return Template{}, nil, fmt.Errorf("segments: template %s: %w", t.Key, err)
	}
	return *t, def, nil
}

func (t *Template) hasParam(name string) bool {
	for _, p := range t.Params {
		if p.Name == name {
			return true
		}
	}
	return false
}

func (t *Template) paramList() string {
	if len(t.Params) == 0 {
		return "it takes none"
	}
	names := make([]string, len(t.Params))
	for i, p := range t.Params {
		names[i] = p.Name
	}
	return "use " + strings.Join(names, ", ")
}

// check validates one value and returns it as the definition needs it:
// int64 for integers, campaigns and month numbers, float64 for numbers, a
// trimmed text, MonthCurrent or MonthNext.
func (p Param) check(v any, path string) (any, error) {
	inRange := func(x float64) error {
		if p.Min != nil && x < *p.Min || p.Max != nil && x > *p.Max {
			return errs.Invalid(path, "must be from %v to %v", *p.Min, *p.Max)
		}
		return nil
	}
	switch p.Type {
	case ParamInteger, ParamCampaign:
		i, ok := asInt(v)
		if !ok {
			if p.Type == ParamCampaign {
				return nil, errs.Invalid(path, "expected a campaign id")
			}
			return nil, errs.Invalid(path, "expected a whole number")
		}
		if p.Type == ParamCampaign && i <= 0 {
			return nil, errs.Invalid(path, "expected a campaign id")
		}
		if err := inRange(float64(i)); err != nil {
			return nil, err
		}
		return i, nil
	case ParamNumber:
		x, ok := asNumber(v)
		if !ok {
			return nil, errs.Invalid(path, "expected a number")
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, errs.Invalid(path, "is out of range")
		}
		if err := inRange(x); err != nil {
			return nil, err
		}
		return x, nil
	case ParamMonth:
		m, relative, err := parseMonth(v, path)
		if err != nil {
			return nil, err
		}
		if relative != "" {
			return relative, nil
		}
		return m, nil
	case ParamText, ParamCountry:
		str, ok := v.(string)
		if !ok {
			return nil, errs.Invalid(path, "expected a text")
		}
		str = strings.TrimSpace(str)
		if str == "" {
			return nil, errs.Invalid(path, "must not be empty")
		}
		if err := checkText(str, path); err != nil {
			return nil, err
		}
		if p.Type == ParamCountry {
			str = strings.ToUpper(str)
			if !contacts.ValidCountry(str) {
				return nil, errs.Invalid(path, "%q is not an ISO 3166-1 alpha-2 country code such as NL", str)
			}
		}
		return str, nil
	}
	return nil, fmt.Errorf("segments: parameter type %s not handled", p.Type)
}
