package httpapi

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/citytwin/citytwin/internal/errs"
)

// Metrics are the HTTP server's Prometheus metrics.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
	// children caches the series of each (route, method, code), so that a
	// request does not hash its labels again.
	children sync.Map // seriesKey -> *series
}

type seriesKey struct {
	route, method string
	code          int
}

type series struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// observe counts one request and its latency.
func (m *Metrics) observe(route, method string, code int, elapsed time.Duration) {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
	default:
		method = "other" // a client's made-up methods must not grow the series
	}
	k := seriesKey{route, method, code}
	v, ok := m.children.Load(k)
	if !ok {
		v, _ = m.children.LoadOrStore(k, &series{
			requests: m.requests.WithLabelValues(route, method, strconv.Itoa(code)),
			duration: m.duration.WithLabelValues(route),
		})
	}
	s := v.(*series)
	s.requests.Inc()
	s.duration.Observe(elapsed.Seconds())
}

// NewMetrics creates the HTTP metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "citytwin_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "citytwin_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "citytwin_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.inflight)
	return m
}

// Middleware wraps h with request ids (X-Request-Id, taken from the request
// when it is sane), a request-scoped logger, panic recovery answering a JSON
// 500, an access log line and metrics labelled by mux's route pattern. m and
// mux may be nil.
func Middleware(logger *slog.Logger, m *Metrics, mux *http.ServeMux, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := r.Header.Get("X-Request-Id")
		if rid == "" || len(rid) > 64 {
			rid = newRequestID()
		}
		w.Header()["X-Request-Id"] = []string{rid}
		// One context value carries the id and the logger; the logger with
		// the id attached is only made when a handler asks for it
		// (LoggerFrom), so that a request that logs nothing (a cached tile)
		// costs no logger.
		rc := &reqContext{id: rid, base: logger}
		r = r.WithContext(context.WithValue(r.Context(), reqContextKey{}, rc))
		sw := &statusWriter{ResponseWriter: w}
		if m != nil {
			m.inflight.Inc()
			defer m.inflight.Dec()
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				rc.logger().Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if !sw.wrote {
					Error(sw, r, errs.Errorf(errs.EINTERNAL, "panic"))
				}
			}
			// The mux records the pattern it matched on the request it
			// was given, which is r unless a handler in between copied it.
			route := r.Pattern
			if route == "" && mux != nil {
				_, route = mux.Handler(r)
			}
			if route == "" {
				route = "unmatched"
			}
			elapsed := time.Since(start)
			code := sw.status()
			if m != nil {
				m.observe(route, r.Method, code, elapsed)
			}
			level := slog.LevelDebug
			if code >= 500 {
				level = slog.LevelWarn
			}
			if logger.Enabled(r.Context(), level) {
				rc.logger().Log(r.Context(), level, "http", "method", r.Method, "path", r.URL.Path, "route", route,
					"status", code, "bytes", sw.bytes, "ms", float64(elapsed.Microseconds())/1000)
			}
		}()
		if mux != nil {
			if _, pattern := mux.Handler(r); pattern == "" {
				unmatched(mux, sw, r)
				return
			}
		}
		h.ServeHTTP(sw, r)
	})
}

// reqContext is what Middleware puts in a request's context.
type reqContext struct {
	id   string
	base *slog.Logger
	once sync.Once
	log  *slog.Logger
}

type reqContextKey struct{}

func (c *reqContext) logger() *slog.Logger {
	c.once.Do(func() { c.log = c.base.With("request_id", c.id) })
	return c.log
}

// RequestID returns the request id that Middleware gave the request.
func RequestID(ctx context.Context) string {
	if c, ok := ctx.Value(reqContextKey{}).(*reqContext); ok {
		return c.id
	}
	return ""
}

// newRequestID returns 16 random hex digits. Request ids tell log lines
// apart; they are not secrets, so a fast generator does.
func newRequestID() string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

// statusWriter records the status and size of a response. It passes Flush and
// Hijack through so that streaming responses and websockets keep working.
type statusWriter struct {
	http.ResponseWriter
	code  int
	bytes int64
	wrote bool
}

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code = code
		w.wrote = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	w.wrote = true
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("hijack not supported")
	}
	w.wrote = true
	w.code = http.StatusSwitchingProtocols
	return h.Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
