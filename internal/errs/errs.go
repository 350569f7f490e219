// Package errs holds the few kinds of failure that domain packages report to
// their callers: bad input (with the path of the offending field), a missing
// record and a conflicting state. Adapters (web, worker) decide what each
// kind means for them; domain code never speaks HTTP.
package errs

import (
	"errors"
	"fmt"
)

// ErrNotFound is wrapped by domain errors for records that do not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is wrapped by domain errors for requests that do not fit the
// current state of a record (sending a campaign that was already sent).
var ErrConflict = errors.New("conflict")

// InvalidError is input that cannot be accepted. Path names the field or
// the place in a document, e.g. "email" or "all[1].any[0].value".
type InvalidError struct {
	Path    string
	Message string
}

func (e *InvalidError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

// Invalid builds an InvalidError.
func Invalid(path, format string, args ...any) error {
	return &InvalidError{Path: path, Message: fmt.Sprintf(format, args...)}
}

// NotFound wraps ErrNotFound with what was looked for.
func NotFound(what string, id any) error {
	return fmt.Errorf("%s %v: %w", what, id, ErrNotFound)
}

// Conflict wraps ErrConflict with a reason the user can act on.
func Conflict(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrConflict)
}

// AsInvalid reports whether err is (or wraps) an InvalidError.
func AsInvalid(err error) (*InvalidError, bool) {
	var ie *InvalidError
	if errors.As(err, &ie) {
		return ie, true
	}
	return nil, false
}

// Message returns the text of a Conflict without the sentinel's suffix.
func Message(err error) string {
	msg := err.Error()
	for _, s := range []error{ErrConflict, ErrNotFound} {
		suffix := ": " + s.Error()
		if len(msg) > len(suffix) && msg[len(msg)-len(suffix):] == suffix {
			return msg[:len(msg)-len(suffix)]
		}
	}
	return msg
}
