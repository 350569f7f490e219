package segments

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"herald/contacts"
	"herald/internal/errs"
)

// Expr is a compiled condition: SQL over the contacts table (as "contacts")
// with ? placeholders, its arguments, and what it reads, so that a change to
// a contact re-evaluates only the segments that read the changed fields.
type Expr struct {
	SQL  string
	Args []any
	// Reads holds contact fields ("total_spent"), event types
	// ("event.purchase") and "deliveries" for engagement rules.
	Reads []string
	// TimeRelative is true when membership changes with the clock alone
	// (within_last, birthdays), so periodic refreshes matter.
	TimeRelative bool
}

// Compiler turns validated definitions into SQL.
type Compiler struct {
	Postgres bool
	// Now anchors relative rules (within_last, birthdays).
	Now time.Time
	// Location is where "today" is for yearly dates; UTC when nil.
	Location *time.Location
	// Fields are the custom-field definitions that type attr.NAME.
	Fields map[string]contacts.CustomField
	// Threshold resolves a top_percent rule: the value of column (a
	// contacts column) that the top percent of contacts with a value
	// reach, the most recent for times. ok is false when no contact has a
	// value. It is how the compiler stays free of database access: the
	// Service supplies it, and the threshold becomes a bound argument.
	// Compiling a top_percent rule without it is an error.
	Threshold func(column string, percent int) (value any, ok bool, err error)
	// Currency is the store currency, whose decimals turn money values
	// (total_spent > 800) into the minor units stored; the default store
	// currency when empty.
	Currency string
}

type kind int

const (
	kText kind = iota
	kNumber
	kTime
	kYearly
	kEngagement
	kEvent
	kBool
	kDate // a custom date attribute: text YYYY-MM-DD
)

var kindNames = map[kind]string{
	kText: "text", kNumber: "number", kTime: "time", kYearly: "yearly date",
	kEngagement: "engagement", kEvent: "events", kBool: "true/false", kDate: "date",
}

var kindOps = map[kind][]string{
	kText:       {"eq", "neq", "contains", "starts_with", "in", "not_in", "is_set", "is_not_set"},
	kNumber:     {"eq", "neq", "gt", "gte", "lt", "lte", "between", "is_set", "is_not_set"},
	kTime:       {"before", "after", "within_last", "not_within_last", "is_set", "is_not_set"},
	kDate:       {"before", "after", "within_last", "not_within_last", "is_set", "is_not_set"},
	kYearly:     {"month_is", "is_today", "within_next_days", "is_set", "is_not_set"},
	kEngagement: {"any_of_last", "all_of_last", "none_of_last", "campaign"},
	kEvent:      {"count_gte", "count_lt"},
	kBool:       {"eq", "neq", "is_set", "is_not_set"},
}

type field struct {
	kind   kind
	column string // contacts column (for engagement, its roll-up); empty for attr and event fields
	norm   func(string) string
	money  bool
	attr   string // custom attribute name
	event  string // event type
	values []string
	// top allows top_percent: roll-ups and times where "the best P %"
	// means something (largest, or most recent).
	top bool
	// integer marks bigint columns, compared with whole numbers as
	// bigint so that PostgreSQL can use their index (see colArg).
	integer bool
}

var builtinFields = map[string]field{
	"email":                      {kind: kText, column: "email", norm: strings.ToLower},
	"first_name":                 {kind: kText, column: "first_name"},
	"last_name":                  {kind: kText, column: "last_name"},
	"city":                       {kind: kText, column: "city"},
	"country":                    {kind: kText, column: "country", norm: strings.ToUpper},
	"language":                   {kind: kText, column: "language"},
	"timezone":                   {kind: kText, column: "timezone"},
	"source":                     {kind: kText, column: "source"},
	"family_status":              {kind: kText, column: "family_status"},
	"status":                     {kind: kText, column: "status", norm: strings.ToLower, values: []string{"subscribed", "unsubscribed", "bounced", "complained"}},
	"orders_count":               {kind: kNumber, column: "orders_count", top: true, integer: true},
	"total_spent":                {kind: kNumber, column: "total_spent", top: true, money: true, integer: true},
	"avg_days_between_purchases": {kind: kNumber, column: "avg_days_between_purchases"},
	"signup_at":                  {kind: kTime, column: "signup_at", top: true},
	"created_at":                 {kind: kTime, column: "created_at"},
	"first_purchase_at":          {kind: kTime, column: "first_purchase_at", top: true},
	"last_purchase_at":           {kind: kTime, column: "last_purchase_at", top: true},
	"last_visit_at":              {kind: kTime, column: "last_visit_at", top: true},
	"last_open_at":               {kind: kTime, column: "last_open_at", top: true},
	"last_click_at":              {kind: kTime, column: "last_click_at", top: true},
	"birthday":                   {kind: kYearly, column: "birthday_md"},
	"anniversary":                {kind: kYearly, column: "anniversary_md"},
	"opened":                     {kind: kEngagement, event: contacts.EventOpen, column: "last_open_at"},
	"clicked":                    {kind: kEngagement, event: contacts.EventClick, column: "last_click_at"},
}

// exactColumns are stored normalised, so eq/in compare without LOWER() and
// can use their index.
var exactColumns = map[string]bool{"email": true, "country": true, "status": true}

// FieldNames lists the built-in fields (for documentation and the UI).
func FieldNames() []string {
	names := make([]string, 0, len(builtinFields))
	for n := range builtinFields {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (c *Compiler) lookup(name string) (field, bool) {
	if f, ok := builtinFields[name]; ok {
		return f, true
	}
	if strings.HasPrefix(name, "attr.") {
		attr := strings.TrimPrefix(name, "attr.")
		cf, ok := c.Fields[attr]
		if !ok {
			return field{}, false
		}
		f := field{attr: attr}
		switch cf.Type {
		case contacts.FieldNumber:
			f.kind = kNumber
		case contacts.FieldBool:
			f.kind = kBool
		case contacts.FieldDate:
			f.kind = kDate
		default:
			f.kind = kText
		}
		return f, true
	}
	if strings.HasPrefix(name, "event.") {
		typ := strings.TrimPrefix(name, "event.")
		if !contacts.EventNameRe.MatchString(typ) || len(typ) > 64 {
			return field{}, false
		}
		return field{kind: kEvent, event: typ}, true
	}
	return field{}, false
}

// Compile validates n and turns it into SQL.
func (c *Compiler) Compile(n *Node) (Expr, error) {
	if n == nil {
		return Expr{}, errs.Invalid("definition", "is required")
	}
	// Work on a copy so that a Compiler shared between goroutines is
	// never written to.
	cc := *c
	if cc.Now.IsZero() {
		cc.Now = time.Now().UTC()
	}
	if cc.Location == nil {
		cc.Location = time.UTC
	}
	if cc.Currency == "" {
		cc.Currency = contacts.DefaultCurrency
	}
	b := &builder{c: &cc, reads: map[string]bool{}, thresholds: map[topKey]topValue{}}
	sql, err := b.node(n, "")
	if err != nil {
		return Expr{}, err
	}
	reads := make([]string, 0, len(b.reads))
	for r := range b.reads {
		reads = append(reads, r)
	}
	sort.Strings(reads)
	return Expr{SQL: sql, Args: b.args, Reads: reads, TimeRelative: b.timeRelative}, nil
}

type builder struct {
	c    *Compiler
	args []any
	// values counts the list items and event properties bound so far
	// (see maxValues).
	values       int
	reads        map[string]bool
	timeRelative bool
	// thresholds holds what Compiler.Threshold answered, so that a
	// definition naming one column and percent twice costs one query.
	thresholds map[topKey]topValue
}

type topKey struct {
	column  string
	percent int
}

type topValue struct {
	value any
	found bool
}

func (b *builder) arg(v any) string {
	b.args = append(b.args, v)
	return "?"
}

func (b *builder) argList(vs []any) string {
	ph := make([]string, len(vs))
	for i, v := range vs {
		ph[i] = b.arg(v)
	}
	return strings.Join(ph, ", ")
}

func (b *builder) node(n *Node, path string) (string, error) {
	if n == nil {
		where := path
		if where == "" {
			where = "definition"
		}
		return "", errs.Invalid(where, "is required")
	}
	switch k := n.nodeKind(); k {
	case kindAll, kindAny:
		children, key, joiner, empty := n.All, "all", " AND ", "1=1"
		if k == kindAny {
			children, key, joiner, empty = n.Any, "any", " OR ", "1=0"
		}
		if len(children) == 0 {
			return empty, nil
		}
		parts := make([]string, len(children))
		for i, ch := range children {
			s, err := b.node(ch, join(path, fmt.Sprintf("%s[%d]", key, i)))
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		if len(parts) == 1 {
			return parts[0], nil
		}
		return "(" + strings.Join(parts, joiner) + ")", nil
	case kindNot:
		s, err := b.node(n.Not, join(path, "not"))
		if err != nil {
			return "", err
		}
		// Every rule is written never to be NULL, so NOT is exact.
		return "NOT (" + s + ")", nil
	}
	sql, err := b.rule(n, path)
	if err == nil && len(b.args) > maxArgs {
		where := path
		if where == "" {
			where = "definition"
		}
		return "", errs.Invalid(where, "the definition needs more than %d values in all: use fewer conditions, list items or event properties", maxArgs)
	}
	return sql, err
}

// countValues counts n list items or event properties against maxValues
// and returns the index of the first one over it (n when they all fit).
// The caller reports tooManyValues when it reaches that item, so that an
// error in an earlier item is still the one reported.
func (b *builder) countValues(n int) int {
	first := max(maxValues-b.values, 0)
	b.values += n
	return min(first, n)
}

func tooManyValues(path string) error {
	return errs.Invalid(path, "the definition has more than %d list items and event properties in all", maxValues)
}

func (b *builder) rule(n *Node, path string) (string, error) {
	f, ok := b.c.lookup(n.Field)
	if !ok {
		msg := fmt.Sprintf("unknown field %q", n.Field)
		if strings.HasPrefix(n.Field, "attr.") {
			msg = fmt.Sprintf("unknown custom field %q: define it at /api/custom-fields first", strings.TrimPrefix(n.Field, "attr."))
		}
		return "", errs.Invalid(join(path, "field"), "%s", msg)
	}
	ops := kindOps[f.kind]
	if f.top {
		ops = append(ops[:len(ops):len(ops)], "top_percent")
	}
	if !contains(ops, n.Op) {
		return "", errs.Invalid(join(path, "op"), "%q does not apply to %s, a %s field: use one of %s", n.Op, n.Field, kindNames[f.kind], strings.Join(ops, ", "))
	}
	if n.Machines && f.kind != kEngagement && !(f.kind == kEvent && strings.HasPrefix(f.event, "email.")) {
		return "", errs.Invalid(join(path, "machines"), "applies only to opened, clicked and email.* event rules")
	}
	vpath := join(path, "value")
	if n.Op == "is_set" || n.Op == "is_not_set" || n.Op == "is_today" {
		if n.Value != nil {
			return "", errs.Invalid(vpath, "%s takes no value", n.Op)
		}
	}
	switch f.kind {
	case kText:
		return b.text(f, n, vpath)
	case kNumber:
		return b.number(f, n, vpath)
	case kTime:
		return b.time(f, n, vpath)
	case kDate:
		return b.date(f, n, vpath)
	case kYearly:
		return b.yearly(f, n, vpath)
	case kBool:
		return b.boolean(f, n, vpath)
	case kEngagement:
		return b.engagement(f, n, vpath)
	case kEvent:
		return b.events(f, n, vpath)
	}
	return "", fmt.Errorf("segments: field kind %d not handled", f.kind)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// attrText is the SQL of a custom attribute read as text, NULL unless it
// is one: a value stored before its field was defined may be a number or
// a boolean, which the engines would otherwise turn into different texts
// (PostgreSQL 'true', SQLite 1).
func (b *builder) attrText(name string) string {
	b.reads["attributes"] = true
	if b.c.Postgres {
		return "(CASE WHEN jsonb_typeof(contacts.attributes -> CAST(" + b.arg(name) + " AS text)) = 'string' THEN (contacts.attributes ->> CAST(" + b.arg(name) + " AS text)) END)"
	}
	return "(CASE WHEN json_type(contacts.attributes, " + b.arg("$."+name) + ") = 'text' THEN json_extract(contacts.attributes, " + b.arg("$."+name) + ") END)"
}

// attrNumber reads a custom attribute as a number, NULL unless it is one
// (a stray text value must not make the whole query fail on PostgreSQL).
func (b *builder) attrNumber(name string) string {
	b.reads["attributes"] = true
	if b.c.Postgres {
		return "(CASE WHEN jsonb_typeof(contacts.attributes -> CAST(" + b.arg(name) + " AS text)) = 'number' THEN (contacts.attributes ->> CAST(" + b.arg(name) + " AS text))::numeric END)"
	}
	return "(CASE WHEN json_type(contacts.attributes, " + b.arg("$."+name) + ") IN ('integer', 'real') THEN json_extract(contacts.attributes, " + b.arg("$."+name) + ") END)"
}

// attrBool reads a custom attribute as 1/0, NULL unless it is a boolean.
func (b *builder) attrBool(name string) string {
	b.reads["attributes"] = true
	if b.c.Postgres {
		return "(CASE WHEN jsonb_typeof(contacts.attributes -> CAST(" + b.arg(name) + " AS text)) = 'boolean' THEN (CASE WHEN (contacts.attributes ->> CAST(" + b.arg(name) + " AS text)) = 'true' THEN 1 ELSE 0 END) END)"
	}
	return "(CASE WHEN json_type(contacts.attributes, " + b.arg("$."+name) + ") IN ('true', 'false') THEN json_extract(contacts.attributes, " + b.arg("$."+name) + ") END)"
}

func (b *builder) textValue(v any, path string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", errs.Invalid(path, "expected a text")
	}
	if err := checkText(s, path); err != nil {
		return "", err
	}
	return s, nil
}

// checkText rejects texts no column can hold: PostgreSQL refuses NUL
// characters and invalid UTF-8 (a query error rather than no match).
func checkText(s, path string) error {
	if len(s) > 1000 {
		return errs.Invalid(path, "is longer than 1000 characters")
	}
	if !utf8.ValidString(s) {
		return errs.Invalid(path, "is not valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return errs.Invalid(path, "must not contain NUL characters")
	}
	return nil
}

func (b *builder) text(f field, n *Node, path string) (string, error) {
	// col binds the attribute name as an argument, so it is called once
	// per place the column appears, in the order of the SQL text.
	col := func() string { return "contacts." + f.column }
	exact := false
	if f.attr != "" {
		col = func() string { return "COALESCE(" + b.attrText(f.attr) + ", '')" }
	} else {
		b.reads[f.column] = true
		exact = exactColumns[f.column]
	}
	norm := func(s string) string {
		s = strings.TrimSpace(s)
		if f.norm != nil {
			return f.norm(s)
		}
		return strings.ToLower(s)
	}
	checkValue := func(s, p string) error {
		if len(f.values) > 0 && !contains(f.values, s) {
			return errs.Invalid(p, "%q is not one of %s", s, strings.Join(f.values, ", "))
		}
		return nil
	}
	// lower picks the lower-casing function once the values are known.
	var lower string
	lhs := func() string {
		if exact {
			return col()
		}
		return lower + "(" + col() + ")"
	}
	switch n.Op {
	case "is_set":
		return "(" + col() + " <> '')", nil
	case "is_not_set":
		return "(" + col() + " = '')", nil
	case "in", "not_in":
		list, ok := n.Value.([]any)
		if !ok || len(list) == 0 {
			return "", errs.Invalid(path, "expected a non-empty list of texts")
		}
		if len(list) > maxInList {
			return "", errs.Invalid(path, "has more than %d items", maxInList)
		}
		vals := make([]any, len(list))
		over := b.countValues(len(list))
		for i, item := range list {
			p := path + "[" + strconv.Itoa(i) + "]"
			if i == over {
				return "", tooManyValues(p)
			}
			s, err := b.textValue(item, p)
			if err != nil {
				return "", err
			}
			s = norm(s)
			if err := checkValue(s, p); err != nil {
				return "", err
			}
			vals[i] = s
		}
		lower = b.lowerFunc(vals...)
		if n.Op == "in" {
			return "(" + lhs() + " IN (" + b.argList(vals) + "))", nil
		}
		return "(" + lhs() + " NOT IN (" + b.argList(vals) + "))", nil
	}
	s, err := b.textValue(n.Value, path)
	if err != nil {
		return "", err
	}
	s = norm(s)
	lower = b.lowerFunc(s)
	switch n.Op {
	case "eq", "neq":
		if err := checkValue(s, path); err != nil {
			return "", err
		}
		op := " = "
		if n.Op == "neq" {
			op = " <> "
		}
		return "(" + lhs() + op + b.arg(s) + ")", nil
	case "contains", "starts_with":
		if s == "" {
			return "", errs.Invalid(path, "must not be empty")
		}
		p := escapeLike(strings.ToLower(s)) + "%"
		if n.Op == "contains" {
			p = "%" + p
		}
		return "(" + lower + "(" + col() + ") LIKE " + b.arg(p) + " ESCAPE '\\')", nil
	}
	return "", fmt.Errorf("segments: text op %s not handled", n.Op)
}

// lowerFunc names the SQL function that lower-cases a column for a
// comparison with values. SQLite's LOWER folds only ASCII letters: that is
// exact as long as the values are ASCII (a non-ASCII letter in the column
// could not match them either way), so only values with other letters pay
// for herald_lower, the Unicode-aware function internal/db registers.
func (b *builder) lowerFunc(values ...any) string {
	if b.c.Postgres {
		return "LOWER"
	}
	for _, v := range values {
		if s, ok := v.(string); ok {
			for i := 0; i < len(s); i++ {
				if s[i] >= 0x80 {
					return "herald_lower"
				}
			}
		}
	}
	return "LOWER"
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func (b *builder) numberValue(f field, v any, path string) (any, error) {
	x, ok := asNumber(v)
	if !ok {
		return nil, errs.Invalid(path, "expected a number")
	}
	if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > 1e15 {
		return nil, errs.Invalid(path, "is out of range")
	}
	if f.money {
		// Money is stored in minor units of the store currency; the API
		// speaks major units.
		return contacts.ToMinor(x, b.c.Currency), nil
	}
	return x, nil
}

func (b *builder) number(f field, n *Node, path string) (string, error) {
	col := func() string { return "contacts." + f.column }
	if f.attr != "" {
		col = func() string { return b.attrNumber(f.attr) }
	} else {
		b.reads[f.column] = true
	}
	switch n.Op {
	case "is_set":
		return "(" + col() + " IS NOT NULL)", nil
	case "is_not_set":
		return "(" + col() + " IS NULL)", nil
	case "top_percent":
		return b.topPercent(f, n, path)
	case "between":
		list, ok := n.Value.([]any)
		if !ok || len(list) != 2 {
			return "", errs.Invalid(path, "expected [low, high]")
		}
		lo, err := b.numberValue(f, list[0], path+"[0]")
		if err != nil {
			return "", err
		}
		hi, err := b.numberValue(f, list[1], path+"[1]")
		if err != nil {
			return "", err
		}
		if l, _ := asNumber(list[0]); func() bool { h, _ := asNumber(list[1]); return l > h }() {
			return "", errs.Invalid(path, "low is greater than high")
		}
		return "(" + col() + " IS NOT NULL AND " + col() + " BETWEEN " + b.colArg(f, lo) + " AND " + b.colArg(f, hi) + ")", nil
	}
	v, err := b.numberValue(f, n.Value, path)
	if err != nil {
		return "", err
	}
	op := map[string]string{"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[n.Op]
	return "(" + col() + " IS NOT NULL AND " + col() + " " + op + " " + b.colArg(f, v) + ")", nil
}

// colArg binds a value compared with a number field. A whole number
// compared with a bigint column is bound as bigint: the numeric cast of
// numArg would make PostgreSQL cast the column instead, which no index
// serves (a count over a million contacts then reads the whole index).
func (b *builder) colArg(f field, v any) string {
	if f.integer {
		switch x := v.(type) {
		case int64:
			return b.arg(x)
		case float64:
			if x == math.Trunc(x) {
				return b.arg(int64(x))
			}
		}
	}
	return b.numArg(v)
}

var durationRe = regexp.MustCompile(`^(\d{1,5})\s*(h|d|w|y)$`)

// maxDuration bounds relative windows: 20 years.
const maxDuration = 20 * 365 * 24 * time.Hour

// ParseDuration reads "90d", "12h", "2w", "1y" (days of 24 hours).
func ParseDuration(s string) (time.Duration, error) {
	d, reason := parseDuration(s)
	if reason != "" {
		return 0, fmt.Errorf("segments: %s", reason)
	}
	return d, nil
}

// parseDuration is ParseDuration with the reason a text is refused as a
// message for the user, which rules put after the path of their value.
func parseDuration(s string) (time.Duration, string) {
	m := durationRe.FindStringSubmatch(strings.TrimSpace(strings.ToLower(s)))
	if m == nil {
		return 0, `expected a duration such as "90d", "12h", "2w" or "1y"`
	}
	n, _ := strconv.Atoi(m[1])
	unit := map[string]time.Duration{"h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour, "y": 365 * 24 * time.Hour}[m[2]]
	if n == 0 {
		return 0, "must be more than zero"
	}
	// Compare before multiplying: 99999y does not fit in a time.Duration
	// and would wrap around to a small (or negative) window.
	if time.Duration(n) > maxDuration/unit {
		return 0, "is more than 20 years"
	}
	return time.Duration(n) * unit, ""
}

func (b *builder) duration(v any, path string) (time.Duration, error) {
	s, ok := v.(string)
	if !ok {
		if _, isNum := asNumber(v); isNum {
			return 0, errs.Invalid(path, "expected a duration text such as \"90d\", not a bare number")
		}
		return 0, errs.Invalid(path, "expected a duration such as \"90d\"")
	}
	if strings.HasPrefix(strings.TrimSpace(s), "-") {
		return 0, errs.Invalid(path, "must not be negative")
	}
	d, reason := parseDuration(s)
	if reason != "" {
		return 0, errs.Invalid(path, "%s", reason)
	}
	return d, nil
}

// timeValue reads a before/after value. A date without a time stands for
// the whole day (UTC): dateOnly tells the caller so that "after
// 2026-01-31" starts on 1 February, as it does for date attributes.
func (b *builder) timeValue(v any, path string) (t time.Time, dateOnly bool, err error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, false, errs.Invalid(path, "expected a time (RFC 3339) or a date (YYYY-MM-DD)")
	}
	t, err = contacts.ParseTime(s)
	if err != nil {
		return time.Time{}, false, errs.Invalid(path, "%v", err)
	}
	if t.Year() < 1900 || t.Year() > 2200 {
		return time.Time{}, false, errs.Invalid(path, "is out of range")
	}
	_, dateErr := time.Parse("2006-01-02", strings.TrimSpace(s))
	return t, dateErr == nil, nil
}

func (b *builder) time(f field, n *Node, path string) (string, error) {
	b.reads[f.column] = true
	col := "contacts." + f.column
	switch n.Op {
	case "is_set":
		return "(" + col + " IS NOT NULL)", nil
	case "is_not_set":
		return "(" + col + " IS NULL)", nil
	case "top_percent":
		return b.topPercent(f, n, path)
	case "before", "after":
		t, dateOnly, err := b.timeValue(n.Value, path)
		if err != nil {
			return "", err
		}
		if n.Op == "before" {
			return "(" + col + " IS NOT NULL AND " + col + " < " + b.arg(t) + ")", nil
		}
		if dateOnly {
			// After a day: from the start of the next one.
			return "(" + col + " IS NOT NULL AND " + col + " >= " + b.arg(t.AddDate(0, 0, 1)) + ")", nil
		}
		return "(" + col + " IS NOT NULL AND " + col + " > " + b.arg(t) + ")", nil
	case "within_last", "not_within_last":
		d, err := b.duration(n.Value, path)
		if err != nil {
			return "", err
		}
		b.timeRelative = true
		cutoff := b.c.Now.Add(-d).UTC()
		if n.Op == "within_last" {
			return "(" + col + " IS NOT NULL AND " + col + " >= " + b.arg(cutoff) + ")", nil
		}
		return "(" + col + " IS NULL OR " + col + " < " + b.arg(cutoff) + ")", nil
	}
	return "", fmt.Errorf("segments: time op %s not handled", n.Op)
}

// topPercent matches the contacts whose value is among the top percent of
// the contacts that have one (for orders_count and total_spent, a value
// above zero): the value reaches the threshold Compiler.Threshold finds,
// so ties at the threshold are all in. With no values it matches nobody.
func (b *builder) topPercent(f field, n *Node, path string) (string, error) {
	p, ok := asInt(n.Value)
	if !ok || p < 1 || p > 99 {
		return "", errs.Invalid(path, "expected a whole number of percent from 1 to 99")
	}
	if b.c.Threshold == nil {
		return "", fmt.Errorf("segments: top_percent on %s needs Compiler.Threshold", f.column)
	}
	k := topKey{f.column, int(p)}
	t, ok := b.thresholds[k]
	if !ok {
		v, found, err := b.c.Threshold(f.column, int(p))
		if err != nil {
			return "", fmt.Errorf("segments: top %d%% of %s: %w", p, f.column, err)
		}
		t = topValue{v, found}
		b.thresholds[k] = t
	}
	if !t.found {
		return "1=0", nil
	}
	col := "contacts." + f.column
	return "(" + col + " IS NOT NULL AND " + col + " >= " + b.arg(t.value) + ")", nil
}

// date handles custom date attributes, stored as YYYY-MM-DD text, which
// compares correctly as text.
func (b *builder) date(f field, n *Node, path string) (string, error) {
	// col binds the attribute name, so it is built for each use.
	col := func() string { return b.attrText(f.attr) }
	switch n.Op {
	case "is_set":
		return "(" + col() + " IS NOT NULL)", nil
	case "is_not_set":
		return "(" + col() + " IS NULL)", nil
	case "before", "after":
		t, _, err := b.timeValue(n.Value, path)
		if err != nil {
			return "", err
		}
		op := "<"
		if n.Op == "after" {
			op = ">"
		}
		return "(" + col() + " IS NOT NULL AND " + col() + " " + op + " " + b.arg(t.Format("2006-01-02")) + ")", nil
	case "within_last", "not_within_last":
		d, err := b.duration(n.Value, path)
		if err != nil {
			return "", err
		}
		b.timeRelative = true
		cutoff := b.c.Now.In(b.c.Location).Add(-d).Format("2006-01-02")
		today := b.c.Now.In(b.c.Location).Format("2006-01-02")
		if n.Op == "within_last" {
			return "(" + col() + " IS NOT NULL AND " + col() + " >= " + b.arg(cutoff) + " AND " + col() + " <= " + b.arg(today) + ")", nil
		}
		// The exact complement of within_last: never, earlier, or later
		// than today.
		return "(" + col() + " IS NULL OR " + col() + " < " + b.arg(cutoff) + " OR " + col() + " > " + b.arg(today) + ")", nil
	}
	return "", fmt.Errorf("segments: date op %s not handled", n.Op)
}

func (b *builder) boolean(f field, n *Node, path string) (string, error) {
	col := func() string { return b.attrBool(f.attr) }
	switch n.Op {
	case "is_set":
		return "(" + col() + " IS NOT NULL)", nil
	case "is_not_set":
		return "(" + col() + " IS NULL)", nil
	}
	v, ok := n.Value.(bool)
	if !ok {
		return "", errs.Invalid(path, "expected true or false")
	}
	want := 0
	if v {
		want = 1
	}
	if n.Op == "neq" {
		want = 1 - want
	}
	return "(" + col() + " IS NOT NULL AND " + col() + " = " + b.arg(want) + ")", nil
}

// yearly handles birthday and anniversary, stored as month*100+day so that
// "this month" and "the next N days" are ranges whatever the year.
func (b *builder) yearly(f field, n *Node, path string) (string, error) {
	b.reads[strings.TrimSuffix(f.column, "_md")] = true
	col := "contacts." + f.column
	switch n.Op {
	case "is_set":
		return "(" + col + " <> 0)", nil
	case "is_not_set":
		return "(" + col + " = 0)", nil
	case "month_is":
		m, err := b.month(n.Value, path)
		if err != nil {
			return "", err
		}
		return "(" + col + " BETWEEN " + b.arg(m*100+1) + " AND " + b.arg(m*100+31) + ")", nil
	case "is_today":
		b.timeRelative = true
		return b.mdRanges(col, YearlyDays(b.c.Now.In(b.c.Location), 0)), nil
	case "within_next_days":
		d, ok := asInt(n.Value)
		if !ok || d < 0 || d > 366 {
			return "", errs.Invalid(path, "expected a number of days from 0 to 366")
		}
		b.timeRelative = true
		return b.mdRanges(col, YearlyDays(b.c.Now.In(b.c.Location), int(d))), nil
	}
	return "", fmt.Errorf("segments: yearly op %s not handled", n.Op)
}

// Relative months of month_is. They are resolved when the definition is
// compiled, in the service's time zone, like is_today: a segment made of
// them is time-relative, so refreshes move it on with the calendar.
const (
	MonthCurrent = "current"
	MonthNext    = "next"
)

// parseMonth checks a month_is value, a rule's or a template parameter's:
// a month number (relative is empty) or MonthCurrent or MonthNext (given
// as relative, m is 0).
func parseMonth(v any, path string) (m int64, relative string, err error) {
	if s, ok := v.(string); ok && (s == MonthCurrent || s == MonthNext) {
		return 0, s, nil
	}
	m, ok := asInt(v)
	if !ok || m < 1 || m > 12 {
		return 0, "", errs.Invalid(path, "expected a month number from 1 to 12, %q or %q", MonthCurrent, MonthNext)
	}
	return m, "", nil
}

// month reads a month_is value, resolving a relative one.
func (b *builder) month(v any, path string) (int64, error) {
	m, relative, err := parseMonth(v, path)
	if err != nil || relative == "" {
		return m, err
	}
	b.timeRelative = true
	m = int64(b.c.Now.In(b.c.Location).Month())
	if relative == MonthNext {
		m = m%12 + 1
	}
	return m, nil
}

// YearlyDays lists the month*100+day values of today and the next n days.
// In a year without 29 February, 28 February also stands for 29 February.
func YearlyDays(today time.Time, n int) []int {
	seen := map[int]bool{}
	var out []int
	d := time.Date(today.Year(), today.Month(), today.Day(), 12, 0, 0, 0, time.UTC)
	for i := 0; i <= n; i++ {
		day := d.AddDate(0, 0, i)
		md := int(day.Month())*100 + day.Day()
		for _, v := range []int{md} {
			if !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
		if md == 228 && !isLeap(day.Year()) && !seen[229] {
			seen[229] = true
			out = append(out, 229)
		}
	}
	sort.Ints(out)
	return out
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// mdRanges turns a sorted list of month-day values into BETWEEN ranges.
func (b *builder) mdRanges(col string, mds []int) string {
	if len(mds) == 0 {
		return "1=0"
	}
	var parts []string
	start, prev := mds[0], mds[0]
	flush := func() {
		if start == prev {
			parts = append(parts, col+" = "+b.arg(start))
		} else {
			parts = append(parts, col+" BETWEEN "+b.arg(start)+" AND "+b.arg(prev))
		}
	}
	for _, md := range mds[1:] {
		if md == prev+1 || nextDay(prev) == md {
			prev = md
			continue
		}
		flush()
		start, prev = md, md
	}
	flush()
	return "(" + strings.Join(parts, " OR ") + ")"
}

// nextDay gives the month-day after md in a leap year (so 228 -> 229).
func nextDay(md int) int {
	t := time.Date(2000, time.Month(md/100), md%100, 12, 0, 0, 0, time.UTC).AddDate(0, 0, 1)
	return int(t.Month())*100 + t.Day()
}

// lastSent is the subquery of the ids of the last n distinct campaigns
// sent to the contact, by their latest send (ties by campaign id, so that
// both engines pick the same). An automation sends one campaign once per
// occurrence (every birthday, every entry into a segment), and those
// repeats are one campaign, not several: counting rows would let a
// contact's recurring messages push the other campaigns out of "the last
// n". Grouping reads all of the contact's deliveries through
// idx_deliveries_contact_status, not only the newest n; it reads no other
// column than those it groups and sorts by, so that an index holding them
// too can answer it alone.
func (b *builder) lastSent(n int64) string {
	return "SELECT d.campaign_id FROM deliveries d WHERE d.contact_id = contacts.id AND d.status = 'sent' AND d.campaign_id IS NOT NULL" +
		" GROUP BY d.campaign_id ORDER BY MAX(d.sent_at) DESC, d.campaign_id DESC LIMIT " + b.arg(n)
}

func (b *builder) engagement(f field, n *Node, path string) (string, error) {
	b.reads["deliveries"] = true
	b.reads["event."+f.event] = true
	human := ""
	// A human open or click always sets its roll-up (contacts.Store keeps
	// last_open_at and last_click_at from the events that are not
	// machines'), so a contact without it has none to look for: the
	// column test spares most contacts the correlated subqueries, which
	// are what a count over a million contacts spends its time in.
	// Machine opens and clicks have no roll-up. Not for none_of_last on
	// PostgreSQL: there the OR would keep the planner from turning NOT
	// EXISTS into an anti-join, which is faster still.
	ever, never := "", ""
	if !n.Machines {
		human = " AND e.machine = " + b.boolLit(false)
		ever = "contacts." + f.column + " IS NOT NULL AND "
		if !b.c.Postgres {
			never = "contacts." + f.column + " IS NULL OR "
		}
	}
	if n.Op == "campaign" {
		id, ok := asInt(n.Value)
		if !ok || id <= 0 {
			return "", errs.Invalid(path, "expected a campaign id")
		}
		// An uncorrelated IN: both engines read the campaign's events once
		// through (type, campaign_id) instead of probing every contact.
		return "(contacts.id IN (SELECT e.contact_id FROM events e WHERE e.type = " + b.arg(f.event) + " AND e.campaign_id = " + b.arg(id) + human + "))", nil
	}
	count, ok := asInt(n.Value)
	if !ok || count < 1 || count > 100 {
		return "", errs.Invalid(path, "expected a number of campaigns from 1 to 100")
	}
	engaged := func() string {
		return "SELECT 1 FROM events e WHERE e.contact_id = contacts.id AND e.type = " + b.arg(f.event) + human +
			" AND e.campaign_id IN (" + b.lastSent(count) + ")"
	}
	wasSent := "EXISTS (SELECT 1 FROM deliveries d0 WHERE d0.contact_id = contacts.id AND d0.status = 'sent' AND d0.campaign_id IS NOT NULL)"
	switch n.Op {
	case "any_of_last":
		return "(" + ever + "EXISTS (" + engaged() + "))", nil
	case "none_of_last":
		// Someone who was never sent a campaign is not "unengaged".
		return "(" + wasSent + " AND (" + never + "NOT EXISTS (" + engaged() + ")))", nil
	case "all_of_last":
		distinct := "SELECT COUNT(DISTINCT e.campaign_id) FROM events e WHERE e.contact_id = contacts.id AND e.type = " + b.arg(f.event) + human +
			" AND e.campaign_id IN (" + b.lastSent(count) + ")"
		sent := "SELECT COUNT(DISTINCT d1.campaign_id) FROM deliveries d1 WHERE d1.contact_id = contacts.id AND d1.status = 'sent' AND d1.campaign_id IS NOT NULL"
		// Of the last n campaigns (or all of them, if fewer were sent).
		return "(" + ever + wasSent + " AND (" + distinct + ") = (CASE WHEN (" + sent + ") > " + b.arg(count) + " THEN " + b.arg(count) + " ELSE (" + sent + ") END))", nil
	}
	return "", fmt.Errorf("segments: engagement op %s not handled", n.Op)
}

func (b *builder) boolLit(v bool) string {
	if b.c.Postgres {
		if v {
			return "TRUE"
		}
		return "FALSE"
	}
	if v {
		return "1"
	}
	return "0"
}

func (b *builder) events(f field, n *Node, path string) (string, error) {
	b.reads["event."+f.event] = true
	spec, ok := n.Value.(map[string]any)
	if !ok {
		return "", errs.Invalid(path, `expected {"n": 1, "within": "30d"} or {"n": 1, "since_campaign": ID}, optionally with "where"`)
	}
	keys := make([]string, 0, len(spec))
	for k := range spec {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k != "n" && k != "within" && k != "since_campaign" && k != "where" {
			return "", errs.Invalid(join(path, k), "unexpected key: use n, within, since_campaign, where")
		}
	}
	cnt, ok := asInt(spec["n"])
	if !ok || cnt < 0 || cnt > 1000000 {
		return "", errs.Invalid(join(path, "n"), "expected a whole number from 0 to 1000000")
	}
	if n.Op == "count_lt" && cnt == 0 {
		return "", errs.Invalid(join(path, "n"), "count_lt 0 can never match")
	}
	_, hasWithin := spec["within"]
	_, hasSince := spec["since_campaign"]
	if hasWithin && hasSince {
		return "", errs.Invalid(path, "give within or since_campaign, not both")
	}
	var within time.Duration
	if hasWithin {
		d, err := b.duration(spec["within"], join(path, "within"))
		if err != nil {
			return "", err
		}
		within = d
	}
	var since int64
	if hasSince {
		id, ok := asInt(spec["since_campaign"])
		if !ok || id <= 0 {
			return "", errs.Invalid(join(path, "since_campaign"), "expected a campaign id")
		}
		since = id
	}
	var (
		where map[string]any
		props []string
	)
	if w, ok := spec["where"]; ok {
		wm, ok := w.(map[string]any)
		if !ok || len(wm) == 0 {
			return "", errs.Invalid(join(path, "where"), "expected an object of property: value")
		}
		if len(wm) > 100 {
			return "", errs.Invalid(join(path, "where"), "has more than 100 properties")
		}
		for k := range wm {
			props = append(props, k)
		}
		sort.Strings(props)
		over := b.countValues(len(props))
		wherePath := join(path, "where")
		for i, k := range props {
			p := join(wherePath, k)
			if i == over {
				return "", tooManyValues(p)
			}
			if !contacts.ValidAttrName(k) {
				return "", errs.Invalid(p, "property names are letters, digits and _ starting with a letter")
			}
			if err := checkPropValue(wm[k], p); err != nil {
				return "", err
			}
		}
		where = wm
	}

	// Everything is checked; from here on arguments are bound in the order
	// their placeholders appear in the SQL text, and only when they do.
	if hasWithin {
		b.timeRelative = true
	}
	// A since_campaign rule speaks of the contacts who were sent that
	// campaign: for anyone else there is no "since".
	wasSent := func() string {
		return "EXISTS (SELECT 1 FROM deliveries ds0 WHERE ds0.contact_id = contacts.id AND ds0.campaign_id = " + b.arg(since) +
			" AND ds0.status = 'sent' AND ds0.sent_at IS NOT NULL)"
	}
	if hasSince {
		b.reads["deliveries"] = true
	}
	if n.Op == "count_gte" && cnt == 0 {
		if hasSince {
			return wasSent(), nil
		}
		return "1=1", nil
	}
	conds := func() string {
		c := []string{"e.contact_id = contacts.id", "e.type = " + b.arg(f.event)}
		if strings.HasPrefix(f.event, "email.") && !n.Machines {
			c = append(c, "e.machine = "+b.boolLit(false))
		}
		if hasWithin {
			c = append(c, "e.occurred_at >= "+b.arg(b.c.Now.Add(-within).UTC()))
		}
		if hasSince {
			c = append(c, "e.occurred_at >= (SELECT MIN(ds.sent_at) FROM deliveries ds WHERE ds.contact_id = contacts.id AND ds.campaign_id = "+
				b.arg(since)+" AND ds.status = 'sent')")
		}
		for _, k := range props {
			c = append(c, b.propEquals(k, where[k]))
		}
		return strings.Join(c, " AND ")
	}
	var out string
	switch {
	case n.Op == "count_gte" && cnt == 1:
		out = "EXISTS (SELECT 1 FROM events e WHERE " + conds() + ")"
	case n.Op == "count_lt" && cnt == 1:
		out = "NOT EXISTS (SELECT 1 FROM events e WHERE " + conds() + ")"
	default:
		op := " >= "
		if n.Op == "count_lt" {
			op = " < "
		}
		out = "((SELECT COUNT(*) FROM events e WHERE " + conds() + ")" + op + b.arg(cnt) + ")"
	}
	if hasSince && n.Op == "count_lt" {
		out = "(" + out + " AND " + wasSent() + ")"
	}
	return out, nil
}

// checkPropValue accepts the scalars an event property can be compared with.
func checkPropValue(v any, path string) error {
	switch x := v.(type) {
	case string:
		return checkText(x, path)
	case bool:
		return nil
	case json.Number, float64, int, int64:
		f, ok := asNumber(x)
		if !ok || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e15 {
			return errs.Invalid(path, "is out of range")
		}
		return nil
	}
	return errs.Invalid(path, "expected a text, number or true/false")
}

// propEquals compares an event property with a scalar checked by
// checkPropValue: texts as texts, numbers as numbers, booleans as
// booleans, the same on both engines (a text "5" never equals a number 5).
func (b *builder) propEquals(name string, v any) string {
	if b.c.Postgres {
		// Go evaluates the operands left to right, so the arguments are
		// appended in the order their placeholders appear.
		key := func() string { return "CAST(" + b.arg(name) + " AS text)" }
		switch x := v.(type) {
		case string:
			return "(jsonb_typeof(e.properties -> " + key() + ") = 'string' AND (e.properties ->> " + key() + ") = " + b.arg(x) + ")"
		case bool:
			return "((e.properties -> " + key() + ") = CAST(" + b.arg(strconv.FormatBool(x)) + " AS jsonb))"
		default:
			f, _ := asNumber(x)
			// CASE, not AND: PostgreSQL may evaluate the operands of AND in
			// any order, and casting a text property to numeric fails.
			return "((CASE WHEN jsonb_typeof(e.properties -> " + key() + ") = 'number' THEN (e.properties ->> " + key() + ")::numeric END) = " + b.numArg(f) + ")"
		}
	}
	p := "$." + name
	switch x := v.(type) {
	case string:
		return "(json_type(e.properties, " + b.arg(p) + ") = 'text' AND json_extract(e.properties, " + b.arg(p) + ") = " + b.arg(x) + ")"
	case bool:
		t := "false"
		if x {
			t = "true"
		}
		return "(json_type(e.properties, " + b.arg(p) + ") = " + b.arg(t) + ")"
	default:
		f, _ := asNumber(x)
		return "(json_type(e.properties, " + b.arg(p) + ") IN ('integer', 'real') AND json_extract(e.properties, " + b.arg(p) + ") = " + b.numArg(f) + ")"
	}
}

// numArg binds a number so that PostgreSQL compares it as numeric even
// against an integer column (it would otherwise infer bigint and refuse 1.5).
func (b *builder) numArg(v any) string {
	if b.c.Postgres {
		return "CAST(" + b.arg(v) + " AS numeric)"
	}
	return b.arg(v)
}
