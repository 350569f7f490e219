// Package segments turns a marketer's condition tree into validated,
// parameterised SQL that runs the same on SQLite and PostgreSQL, keeps each
// segment's membership with its entered/exited history, and offers built-in
// segment templates. No user text is ever spliced into SQL: field names map
// to fixed column expressions and every value is a bound argument.
package segments

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"herald/internal/errs"
)

// Node is a group ({"all": [...]}, {"any": [...]}, {"not": node}) or a rule
// ({"field": F, "op": OP, "value": V}).
type Node struct {
	All   []*Node `json:"all,omitempty"`
	Any   []*Node `json:"any,omitempty"`
	Not   *Node   `json:"not,omitempty"`
	Field string  `json:"field,omitempty"`
	Op    string  `json:"op,omitempty"`
	Value any     `json:"value,omitempty"`
	// Machines makes an engagement or email event rule count opens and
	// clicks made by privacy proxies and link scanners too.
	Machines bool `json:"machines,omitempty"`

	kind nodeKind
}

type nodeKind int

const (
	kindRule nodeKind = iota
	kindAll
	kindAny
	kindNot
)

// nodeKind is what n is. Parse sets it; a Node written as a Go literal
// (&Node{All: ...}) or decoded by encoding/json without Parse has none, so
// it is told by its fields.
func (n *Node) nodeKind() nodeKind {
	if n.kind != kindRule || n.Field != "" || n.Op != "" {
		return n.kind
	}
	switch {
	case n.All != nil:
		return kindAll
	case n.Any != nil:
		return kindAny
	case n.Not != nil:
		return kindNot
	}
	return kindRule
}

// UnmarshalJSON parses and checks a definition (see Parse).
func (n *Node) UnmarshalJSON(b []byte) error {
	parsed, err := Parse(b)
	if err != nil {
		return err
	}
	*n = *parsed
	return nil
}

// Limits that keep a definition (and its SQL) a sensible size.
const (
	maxDepth  = 12
	maxNodes  = 300
	maxInList = 1000
	// maxValues caps the in/not_in items and event "where" properties of
	// a whole definition: each is bound as one argument or more, and
	// 300 rules of 1,000 items would exceed what a statement may bind
	// (32,766 arguments on SQLite, 65,535 on PostgreSQL).
	maxValues = 10000
	// maxArgs caps the arguments of the compiled SQL, whatever binds them:
	// a refresh adds the ids of up to refreshChunk contacts and a few more
	// to the same statement, which must stay under SQLite's 32,766.
	maxArgs = 30000
)

// Parse decodes a definition and checks its shape: every node is exactly
// one group or one rule, keys are known, and the tree is not too big.
// Errors are *errs.InvalidError with the path of the offending node.
func Parse(raw []byte) (*Node, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, errs.Invalid("definition", "is required")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errs.Invalid("definition", "is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errs.Invalid("definition", "has data after the JSON document")
	}
	count := 0
	return parseNode(v, "", 0, &count)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	if strings.HasPrefix(key, "[") {
		return path + key
	}
	return path + "." + key
}

func parseNode(v any, path string, depth int, count *int) (*Node, error) {
	where := path
	if where == "" {
		where = "definition"
	}
	*count++
	if *count > maxNodes {
		return nil, errs.Invalid(where, "the definition has more than %d conditions", maxNodes)
	}
	if depth > maxDepth {
		return nil, errs.Invalid(where, "groups are nested more than %d deep", maxDepth)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errs.Invalid(where, "expected an object: a group {\"all\": [...]}, {\"any\": [...]}, {\"not\": {...}} or a rule {\"field\", \"op\", \"value\"}")
	}
	var groupKeys []string
	for _, k := range []string{"all", "any", "not"} {
		if _, ok := m[k]; ok {
			groupKeys = append(groupKeys, k)
		}
	}
	_, hasField := m["field"]
	if len(groupKeys) > 1 || (len(groupKeys) == 1 && hasField) {
		return nil, errs.Invalid(where, "a node is either one group (all, any, not) or one rule (field, op, value), not both")
	}
	// Keys are visited in order so that the error names the same key
	// every time.
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	if len(groupKeys) == 1 {
		k := groupKeys[0]
		for _, key := range keys {
			if key != k {
				return nil, errs.Invalid(join(path, key), "unexpected key in a %q group", k)
			}
		}
		if k == "not" {
			child, err := parseNode(m[k], join(path, "not"), depth+1, count)
			if err != nil {
				return nil, err
			}
			return &Node{Not: child, kind: kindNot}, nil
		}
		list, ok := m[k].([]any)
		if !ok {
			return nil, errs.Invalid(join(path, k), "expected a list of conditions")
		}
		n := &Node{kind: kindAll}
		if k == "any" {
			n.kind = kindAny
		}
		children := make([]*Node, 0, len(list))
		for i, item := range list {
			child, err := parseNode(item, join(path, fmt.Sprintf("%s[%d]", k, i)), depth+1, count)
			if err != nil {
				return nil, err
			}
			children = append(children, child)
		}
		if k == "all" {
			n.All = children
		} else {
			n.Any = children
		}
		return n, nil
	}
	if !hasField {
		return nil, errs.Invalid(where, "expected a group (all, any, not) or a rule with field, op and value")
	}
	n := &Node{kind: kindRule}
	for _, key := range keys {
		val := m[key]
		switch key {
		case "field", "op":
			s, ok := val.(string)
			if !ok {
				return nil, errs.Invalid(join(path, key), "expected a text")
			}
			if key == "field" {
				n.Field = s
			} else {
				n.Op = s
			}
		case "value":
			n.Value = val
		case "machines":
			b, ok := val.(bool)
			if !ok {
				return nil, errs.Invalid(join(path, key), "expected true or false")
			}
			n.Machines = b
		default:
			return nil, errs.Invalid(join(path, key), "unexpected key in a rule: a rule has field, op, value (and machines for email engagement)")
		}
	}
	if n.Op == "" {
		return nil, errs.Invalid(join(path, "op"), "is required")
	}
	return n, nil
}

// readsField tells whether a rule of the tree names field.
func (n *Node) readsField(field string) bool {
	if n == nil {
		return false
	}
	switch n.nodeKind() {
	case kindAll, kindAny:
		for _, ch := range n.All {
			if ch.readsField(field) {
				return true
			}
		}
		for _, ch := range n.Any {
			if ch.readsField(field) {
				return true
			}
		}
		return false
	case kindNot:
		return n.Not.readsField(field)
	}
	return n.Field == field
}

// MarshalJSON writes the node in the public grammar.
func (n *Node) MarshalJSON() ([]byte, error) {
	switch n.nodeKind() {
	case kindAll:
		return json.Marshal(map[string]any{"all": nonNil(n.All)})
	case kindAny:
		return json.Marshal(map[string]any{"any": nonNil(n.Any)})
	case kindNot:
		return json.Marshal(map[string]any{"not": n.Not})
	}
	m := map[string]any{"field": n.Field, "op": n.Op}
	if n.Value != nil {
		m["value"] = n.Value
	}
	if n.Machines {
		m["machines"] = true
	}
	return json.Marshal(m)
}

func nonNil(ns []*Node) []*Node {
	if ns == nil {
		return []*Node{}
	}
	return ns
}

// Rule builds a rule node (for templates and tests).
func Rule(field, op string, value any) *Node {
	return &Node{Field: field, Op: op, Value: value, kind: kindRule}
}

// All builds an all-group.
func All(children ...*Node) *Node { return &Node{All: children, kind: kindAll} }

// Any builds an any-group.
func Any(children ...*Node) *Node { return &Node{Any: children, kind: kindAny} }

// Not builds a not-group.
func Not(child *Node) *Node { return &Node{Not: child, kind: kindNot} }

// value helpers: JSON numbers arrive as json.Number (UseNumber), but nodes
// built in Go carry ints and floats.

func asNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	return 0, false
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		i, err := strconv.ParseInt(string(x), 10, 64)
		return i, err == nil
	case float64:
		if x == float64(int64(x)) {
			return int64(x), true
		}
	case int:
		return int64(x), true
	case int64:
		return x, true
	}
	return 0, false
}
