// Package errs holds citytwin's application error codes. Domain packages return
// *Error values (or wrap them); the single mapping to HTTP status lives in
// internal/httpapi, so no domain package needs to know about HTTP.
package errs

import (
	"errors"
	"fmt"
)

// Application error codes.
const (
	EINVALID       = "invalid"            // bad input: 400
	ENOTFOUND      = "not_found"          // unknown resource: 404
	ECONFLICT      = "conflict"           // state conflict, duplicate: 409
	EUNAUTHORIZED  = "unauthorized"       // no or bad credential: 401
	EFORBIDDEN     = "forbidden"          // credential lacks the role: 403
	ETOOLARGE      = "too_large"          // body or request over a limit: 413
	EUNAVAILABLE   = "unavailable"        // a dependency is down: 503
	ETIMEOUT       = "timeout"            // a dependency did not answer in time: 504
	ETOOMANY       = "too_many"           // rate limit: 429
	EUNPROCESSABLE = "unprocessable"      // well-formed but semantically refused: 422
	EMETHOD        = "method_not_allowed" // the route takes other methods: 405
	EINTERNAL      = "internal"           // anything else: 500
)

// Error is an application error with a machine-readable code, a human message
// and, for bad input, where the problem is (a parameter, a field, a record).
type Error struct {
	Code    string
	Message string
	// Where names the parameter, field or record the error is about, if any.
	Where string
	// Err is an optional cause, kept for logs and errors.Is.
	Err error
}

func (e *Error) Error() string {
	s := e.Message
	if e.Where != "" {
		s = e.Where + ": " + s
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error about the named parameter or field.
func Invalid(where, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Where: where, Message: fmt.Sprintf(format, args...)}
}

// NotFound returns an ENOTFOUND error.
func NotFound(format string, args ...any) *Error {
	return &Error{Code: ENOTFOUND, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with code and message that keeps err as its cause.
func Wrap(code string, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// Code returns the code of the first *Error in err's chain, EINTERNAL for any
// other non-nil error and "" for nil.
func Code(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// Message returns the user-facing message of err: the message of its *Error, or
// "Internal error." for anything else, so internals never leak to clients.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// Where returns the parameter or field an error is about, if it says.
func Where(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Where
	}
	return ""
}
