// Package httpapi holds citytwin's HTTP conventions shared by every domain's
// handlers: the one map from error codes to HTTP status, the JSON error body,
// JSON encoding and decoding with size limits, and the middleware chain
// (request ids, panic recovery, access logs, Prometheus metrics).
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/citytwin/citytwin/internal/errs"
)

// codes maps application error codes to HTTP status codes. It is the only
// place in citytwin where that mapping is made.
var codes = map[string]int{
	errs.EINVALID:       http.StatusBadRequest,
	errs.ENOTFOUND:      http.StatusNotFound,
	errs.ECONFLICT:      http.StatusConflict,
	errs.EUNAUTHORIZED:  http.StatusUnauthorized,
	errs.EFORBIDDEN:     http.StatusForbidden,
	errs.ETOOLARGE:      http.StatusRequestEntityTooLarge,
	errs.EUNAVAILABLE:   http.StatusServiceUnavailable,
	errs.ETIMEOUT:       http.StatusGatewayTimeout,
	errs.ETOOMANY:       http.StatusTooManyRequests,
	errs.EUNPROCESSABLE: http.StatusUnprocessableEntity,
	errs.EMETHOD:        http.StatusMethodNotAllowed,
	errs.EINTERNAL:      http.StatusInternalServerError,
}

// StatusOf returns the HTTP status for err's application code.
func StatusOf(err error) int {
	if s, ok := codes[errs.Code(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ErrorBody is the JSON body of every error citytwin answers with.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong and where.
type ErrorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Where     string `json:"where,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// Error writes err as a JSON error with the status of its code. Internal
// errors are logged with their cause and answered with a generic message.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	code := errs.Code(err)
	status := StatusOf(err)
	rid := RequestID(r.Context())
	if code == errs.EINTERNAL {
		LoggerFrom(r.Context()).Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if code == errs.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="citytwin"`)
	}
	WriteJSON(w, status, ErrorBody{Error: ErrorDetail{
		Code:      code,
		Message:   errs.Message(err),
		Where:     errs.Where(err),
		RequestID: rid,
	}})
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	WriteJSONType(w, status, "application/json", v)
}

// WriteJSONType writes v as JSON with the given status and content type.
func WriteJSONType(w http.ResponseWriter, status int, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// DefaultMaxBody is the default limit for JSON request bodies.
const DefaultMaxBody = 8 << 20

// DecodeJSON decodes the request body into v, refusing bodies over max bytes
// (DefaultMaxBody when max <= 0), unknown fields and trailing data. Its errors
// are *errs.Error values that say what is wrong and where.
func DecodeJSON(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	if max <= 0 {
		max = DefaultMaxBody
	}
	body := http.MaxBytesReader(w, r.Body, max)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return JSONError(err, max)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errs.Invalid("body", "unexpected data after the JSON value")
	}
	return nil
}

// JSONError turns an encoding/json decoding error into an *errs.Error that
// names the field or byte offset where decoding failed.
func JSONError(err error, max int64) error {
	var maxErr *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &maxErr):
		return &errs.Error{Code: errs.ETOOLARGE, Where: "body", Message: fmt.Sprintf("body is larger than %d bytes", max)}
	case errors.Is(err, io.EOF):
		return errs.Invalid("body", "body is empty; a JSON value is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.Invalid("body", "body ends in the middle of a JSON value")
	case errors.As(err, &syn):
		return errs.Invalid(fmt.Sprintf("body offset %d", syn.Offset), "malformed JSON: %s", syn.Error())
	case errors.As(err, &typ):
		where := typ.Field
		if where == "" {
			where = fmt.Sprintf("body offset %d", typ.Offset)
		}
		return errs.Invalid(where, "expected %s, got JSON %s", typ.Type, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errs.Invalid(field, "unknown field")
	}
	return errs.Invalid("body", "malformed JSON: %v", err)
}

// unmatched answers a request that no route of mux takes, as the mux would
// (404, or 405 with the Allow header when the path takes other methods),
// but with a JSON error body like every other error.
func unmatched(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	h, _ := mux.Handler(r)
	probe := &statusProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	if probe.code == http.StatusMethodNotAllowed {
		allow := probe.header.Get("Allow")
		w.Header().Set("Allow", allow)
		Error(w, r, &errs.Error{Code: errs.EMETHOD, Where: "method", Message: fmt.Sprintf("%s %s: the route takes %s", r.Method, r.URL.Path, allow)})
		return
	}
	Error(w, r, errs.NotFound("no route for %s %s", r.Method, r.URL.Path))
}

// statusProbe records the status and headers a handler writes, and drops
// its body.
type statusProbe struct {
	header http.Header
	code   int
}

func (p *statusProbe) Header() http.Header { return p.header }
func (p *statusProbe) WriteHeader(code int) {
	if p.code == 0 {
		p.code = code
	}
}
func (p *statusProbe) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return len(b), nil
}

// LoggerFrom returns the request's logger (with its request id), or the
// default slog logger when the context carries none.
func LoggerFrom(ctx interface{ Value(any) any }) *slog.Logger {
	if c, ok := ctx.Value(reqContextKey{}).(*reqContext); ok {
		return c.logger()
	}
	return slog.Default()
}
