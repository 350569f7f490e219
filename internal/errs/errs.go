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

// kindError carries a message for the user and the sentinel it stands for.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

// NotFound says that what (with id) does not exist; it matches ErrNotFound.
func NotFound(what string, id any) error {
	return &kindError{msg: fmt.Sprintf("%s %v not found", what, id), kind: ErrNotFound}
}

// Conflict gives a reason the user can act on; it matches ErrConflict.
func Conflict(format string, args ...any) error {
	return &kindError{msg: fmt.Sprintf(format, args...), kind: ErrConflict}
}

// AsInvalid reports whether err is (or wraps) an InvalidError.
func AsInvalid(err error) (*InvalidError, bool) {
	var ie *InvalidError
	if errors.As(err, &ie) {
		return ie, true
	}
	return nil, false
}

// Message returns the user-facing text of a NotFound or Conflict error,
// without the prefixes of the packages that wrapped it on the way up.
func Message(err error) string {
	var ke *kindError
	if errors.As(err, &ke) {
		return ke.msg
	}
	return err.Error()
}
