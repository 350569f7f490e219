package segments

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"herald/contacts"
)

// Catalog describes what a definition can say, for editors that build
// definitions from forms: the fields by group, the operators each one
// takes and the kind of value each operator wants. It is made from the
// same tables the compiler checks against, so an editor driven by it
// offers exactly what the compiler accepts.
type Catalog struct {
	// Currency is the store currency that money values are in, and
	// CurrencyDecimals its number of decimals.
	Currency         string       `json:"currency"`
	CurrencyDecimals int          `json:"currency_decimals"`
	Groups           []FieldGroup `json:"groups"`
	// Countries are the ISO 3166-1 alpha-2 codes a country picker offers.
	Countries []string `json:"countries"`
	// EventPrefix starts every event field: "event." + an event type
	// (EventNamePattern) names any event, not only those listed.
	EventPrefix      string `json:"event_prefix"`
	EventNamePattern string `json:"event_name_pattern"`
}

// FieldGroup is a heading of the field picker.
type FieldGroup struct {
	Key    string      `json:"key"`
	Label  string      `json:"label"`
	Fields []FieldInfo `json:"fields"`
}

// FieldInfo is one field a rule can name.
type FieldInfo struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	// Type is the field's kind: text, number, money, time, date, yearly,
	// engagement, events or bool.
	Type string `json:"type"`
	// Values are the only texts the field holds (status), when fixed.
	Values []string `json:"values,omitempty"`
	// Machines tells that the rule may count opens and clicks by privacy
	// proxies and link scanners too (the rule's "machines" key).
	Machines bool     `json:"machines,omitempty"`
	Ops      []OpInfo `json:"ops"`
}

// OpInfo is an operator of a field and the value it takes.
type OpInfo struct {
	Op    string `json:"op"`
	Label string `json:"label"`
	// Value is the kind of value: none, text, texts (a list), choice and
	// choices (from the field's Values), country and countries, number,
	// number_range ([low, high]), money and money_range (major units of
	// the store currency), date (YYYY-MM-DD or RFC 3339), duration ("90d"),
	// month (1-12, "current" or "next"), days (0-366), percent (1-99),
	// campaigns (the last N campaigns, 1-100), campaign (a campaign id),
	// bool, or event_count ({"n", "within" or "since_campaign", "where"}).
	Value string `json:"value"`
}

// Value kinds of OpInfo.
const (
	ValueNone        = "none"
	ValueText        = "text"
	ValueTexts       = "texts"
	ValueChoice      = "choice"
	ValueChoices     = "choices"
	ValueCountry     = "country"
	ValueCountries   = "countries"
	ValueNumber      = "number"
	ValueNumberRange = "number_range"
	ValueMoney       = "money"
	ValueMoneyRange  = "money_range"
	ValueDate        = "date"
	ValueDuration    = "duration"
	ValueMonth       = "month"
	ValueDays        = "days"
	ValuePercent     = "percent"
	ValueCampaigns   = "campaigns"
	ValueCampaign    = "campaign"
	ValueBool        = "bool"
	ValueEventCount  = "event_count"
)

// catalogGroups orders the built-in fields under their headings, with the
// words a marketer reads. Every built-in field is in exactly one group
// (catalog_test checks it against builtinFields).
var catalogGroups = []struct {
	key, label string
	fields     [][2]string // name, label
}{
	{"profile", "Profile", [][2]string{
		{"email", "Email"}, {"first_name", "First name"}, {"last_name", "Last name"},
		{"city", "City"}, {"country", "Country"}, {"language", "Language"}, {"timezone", "Time zone"},
		{"birthday", "Birthday"}, {"anniversary", "Anniversary"}, {"family_status", "Family status"},
		{"source", "Signup source"}, {"signup_at", "Signed up"}, {"created_at", "Added to Herald"},
		{"status", "Subscription status"},
	}},
	{"activity", "Purchases and visits", [][2]string{
		{"orders_count", "Number of orders"}, {"total_spent", "Total spent"},
		{"avg_days_between_purchases", "Average days between purchases"},
		{"first_purchase_at", "First purchase"}, {"last_purchase_at", "Last purchase"},
		{"last_visit_at", "Last visit"},
	}},
	{"engagement", "Email engagement", [][2]string{
		{"opened", "Opened"}, {"clicked", "Clicked"},
		{"last_open_at", "Last open"}, {"last_click_at", "Last click"},
	}},
}

// catalogEvents are the event types Herald itself records or the demo
// and shop integrations send; any other type can be named too.
var catalogEvents = [][2]string{
	{contacts.EventPurchase, "Purchase"}, {contacts.EventVisit, "Visit"}, {contacts.EventSignup, "Signup"},
	{contacts.EventOpen, "Email opened"}, {contacts.EventClick, "Email link clicked"},
	{contacts.EventSent, "Email sent"}, {contacts.EventBounce, "Email bounced"},
	{contacts.EventComplaint, "Marked as spam"}, {contacts.EventUnsubscribe, "Unsubscribed"},
}

var opLabels = map[string]string{
	"eq": "is", "neq": "is not", "contains": "contains", "starts_with": "starts with",
	"in": "is any of", "not_in": "is none of", "is_set": "has a value", "is_not_set": "has no value",
	"gt": "is more than", "gte": "is at least", "lt": "is less than", "lte": "is at most", "between": "is between",
	"before": "is before", "after": "is after", "within_last": "is in the last", "not_within_last": "is not in the last (or never)",
	"month_is": "is in the month", "is_today": "is today", "within_next_days": "is in the next",
	"any_of_last": "any of the last", "all_of_last": "all of the last", "none_of_last": "none of the last",
	"campaign": "the campaign", "count_gte": "happened at least", "count_lt": "happened fewer than",
	"top_percent": "is in the top percent",
}

// valueKind is the value an op of a field wants.
func valueKind(f field, name, op string) string {
	switch op {
	case "is_set", "is_not_set", "is_today":
		return ValueNone
	case "top_percent":
		return ValuePercent
	}
	switch f.kind {
	case kText:
		list := op == "in" || op == "not_in"
		switch {
		case len(f.values) > 0 && (op == "eq" || op == "neq" || list):
			if list {
				return ValueChoices
			}
			return ValueChoice
		case name == "country" && (op == "eq" || op == "neq" || list):
			if list {
				return ValueCountries
			}
			return ValueCountry
		case list:
			return ValueTexts
		}
		return ValueText
	case kNumber:
		switch {
		case f.money && op == "between":
			return ValueMoneyRange
		case f.money:
			return ValueMoney
		case op == "between":
			return ValueNumberRange
		}
		return ValueNumber
	case kTime, kDate:
		if op == "within_last" || op == "not_within_last" {
			return ValueDuration
		}
		return ValueDate
	case kYearly:
		if op == "month_is" {
			return ValueMonth
		}
		return ValueDays
	case kEngagement:
		if op == "campaign" {
			return ValueCampaign
		}
		return ValueCampaigns
	case kEvent:
		return ValueEventCount
	case kBool:
		return ValueBool
	}
	return ValueText
}

var typeNames = map[kind]string{
	kText: "text", kNumber: "number", kTime: "time", kDate: "date", kYearly: "yearly",
	kEngagement: "engagement", kEvent: "events", kBool: "bool",
}

func fieldInfo(name, label string, f field) FieldInfo {
	ops := kindOps[f.kind]
	if f.top {
		ops = append(ops[:len(ops):len(ops)], "top_percent")
	}
	info := FieldInfo{Name: name, Label: label, Type: typeNames[f.kind], Values: f.values,
		Machines: f.kind == kEngagement || (f.kind == kEvent && strings.HasPrefix(f.event, "email."))}
	if f.money {
		info.Type = "money"
	}
	for _, op := range ops {
		info.Ops = append(info.Ops, OpInfo{Op: op, Label: opLabels[op], Value: valueKind(f, name, op)})
	}
	return info
}

// Catalog describes the fields of definitions with the custom fields
// defined now.
func (s *Service) Catalog(ctx context.Context) (Catalog, error) {
	fields, err := s.fields.Fields(ctx)
	if err != nil {
		return Catalog{}, fmt.Errorf("segments: catalog: %w", err)
	}
	cur := s.fields.Currency()
	if cur == "" {
		cur = contacts.DefaultCurrency
	}
	return buildCatalog(fields, cur), nil
}

func buildCatalog(custom map[string]contacts.CustomField, currency string) Catalog {
	cat := Catalog{Currency: currency, CurrencyDecimals: contacts.CurrencyExponent(currency),
		Countries: contacts.Countries(), EventPrefix: "event.", EventNamePattern: contacts.EventNameRe.String()}
	for _, g := range catalogGroups {
		fg := FieldGroup{Key: g.key, Label: g.label}
		for _, nl := range g.fields {
			fg.Fields = append(fg.Fields, fieldInfo(nl[0], nl[1], builtinFields[nl[0]]))
		}
		cat.Groups = append(cat.Groups, fg)
	}
	events := FieldGroup{Key: "events", Label: "Events"}
	c := &Compiler{Fields: custom}
	for _, ev := range catalogEvents {
		f, _ := c.lookup("event." + ev[0])
		events.Fields = append(events.Fields, fieldInfo("event."+ev[0], ev[1], f))
	}
	cat.Groups = append(cat.Groups, events)
	names := make([]string, 0, len(custom))
	for n := range custom {
		names = append(names, n)
	}
	sort.Strings(names)
	attrs := FieldGroup{Key: "custom", Label: "Custom fields", Fields: []FieldInfo{}}
	for _, n := range names {
		f, ok := c.lookup("attr." + n)
		if ok {
			attrs.Fields = append(attrs.Fields, fieldInfo("attr."+n, n, f))
		}
	}
	cat.Groups = append(cat.Groups, attrs)
	return cat
}
