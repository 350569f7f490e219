package errs_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"herald/internal/errs"
)

type jsonDoc struct {
	Name   *string        `json:"name"`
	Count  int            `json:"count"`
	Tags   []string       `json:"tags"`
	Attrs  map[string]any `json:"attrs"`
	Scores map[string]int `json:"scores"`
	Active bool           `json:"active"`
	Nested struct {
		Hour *int `json:"hour"`
	} `json:"nested"`
}

// TestJSONErrorNamesThePlaceAndTheExpectedKind: each decoding mistake
// comes back at the path of the value at fault, under the prefix, saying
// what JSON was expected in a JSON author's words (maps are objects, not
// numbers because their Go type mentions int).
func TestJSONErrorNamesThePlaceAndTheExpectedKind(t *testing.T) {
	tests := []struct {
		name, prefix, doc string
		path, msg         string
	}{
		{"text for a number", "", `{"count": "3"}`, "count", "expected a number, got a JSON string"},
		{"number for a text behind a pointer", "", `{"name": 3}`, "name", "expected a text, got a JSON number"},
		{"object for a list", "", `{"tags": {}}`, "tags", "expected a list, got a JSON object"},
		{"number for an object of any", "", `{"attrs": 5}`, "attrs", "expected an object, got a JSON number"},
		{"list for an object of numbers", "", `{"scores": [1]}`, "scores", "expected an object, got a JSON array"},
		{"text for true or false", "", `{"active": "yes"}`, "active", "expected true or false, got a JSON string"},
		{"list for the document", "", `[1]`, "", "expected an object, got a JSON array"},
		{"nested field under a prefix", "steps[2].message", `{"nested": {"hour": "9"}}`, "steps[2].message.nested.hour", "expected a number, got a JSON string"},
		{"unknown field", "", `{"cuont": 1}`, "cuont", "unknown field"},
		{"unknown field under a prefix", "trigger", `{"cuont": 1}`, "trigger.cuont", "unknown field"},
		{"syntax error", "", `{"count": 1,}`, "", "invalid JSON at byte 13: invalid character '}' looking for beginning of object key string"},
		{"cut short", "", `{"count": 1`, "", "the JSON body ends too early"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dec := json.NewDecoder(bytes.NewReader([]byte(tc.doc)))
			dec.DisallowUnknownFields()
			var v jsonDoc
			err := dec.Decode(&v)
			if err == nil {
				t.Fatal("decoded without an error")
			}
			ie, ok := errs.AsInvalid(errs.JSONError(tc.prefix, err))
			if !ok || ie.Path != tc.path || ie.Message != tc.msg {
				t.Fatalf("got %#v, want path %q, message %q", ie, tc.path, tc.msg)
			}
		})
	}
}
