package errs

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
)

// JSONError turns an error of encoding/json into an InvalidError whose
// path is the field at fault under prefix ("" for a request body,
// "steps[2].message" for a document inside one), in the words of someone
// writing JSON rather than Go.
func JSONError(prefix string, err error) error {
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &ute):
		return Invalid(joinPath(prefix, ute.Field), "expected %s, got a JSON %s", JSONKind(ute.Type), ute.Value)
	case errors.As(err, &se):
		return Invalid(prefix, "invalid JSON at byte %d: %v", se.Offset, se)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no error type for unknown fields.
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return Invalid(joinPath(prefix, name), "unknown field")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return Invalid(prefix, "the JSON body ends too early")
	}
	return Invalid(prefix, "invalid JSON: %v", err)
}

// DecodeStrict decodes one JSON document, refusing unknown fields and
// trailing data, with the place of a fault in the error: request bodies of
// the API and of the bounce webhooks are read alike.
func DecodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return Invalid("", "the request needs a JSON body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return JSONError("", err)
	}
	if dec.More() {
		return Invalid("", "the body has data after the JSON document")
	}
	return nil
}

// JSONKind names a Go type the way a JSON author thinks of it.
func JSONKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a text"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return "an object"
}

func joinPath(prefix, field string) string {
	switch {
	case prefix == "":
		return field
	case field == "":
		return prefix
	}
	return prefix + "." + field
}
