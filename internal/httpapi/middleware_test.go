package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/citytwin/citytwin/internal/errs"
)

func testServer(t testing.TB, level slog.Level) (http.Handler, *bytes.Buffer, *prometheus.Registry) {
	t.Helper()
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: level}))
	reg := prometheus.NewRegistry()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /things/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "bad" {
			Error(w, r, errs.Invalid("id", "is bad"))
			return
		}
		LoggerFrom(r.Context()).Info("found", "id", r.PathValue("id"))
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("GET /quiet", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	mux.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	return Middleware(logger, NewMetrics(reg), mux, mux), &logs, reg
}

func logLines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestMiddlewareRequestIDAndLogs(t *testing.T) {
	h, logs, reg := testServer(t, slog.LevelDebug)

	// A client's id is kept, and the handler's log line and the access
	// line carry it.
	req := httptest.NewRequest("GET", "/things/7", nil)
	req.Header.Set("X-Request-Id", "abc123")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got := rec.Header().Get("X-Request-Id"); got != "abc123" {
		t.Fatalf("X-Request-Id = %q", got)
	}
	lines := logLines(t, logs)
	if len(lines) != 2 {
		t.Fatalf("want 2 log lines, got %v", lines)
	}
	if lines[0]["msg"] != "found" || lines[0]["request_id"] != "abc123" {
		t.Errorf("handler line: %v", lines[0])
	}
	if lines[1]["msg"] != "http" || lines[1]["request_id"] != "abc123" || lines[1]["route"] != "GET /things/{id}" || lines[1]["status"] != 200.0 {
		t.Errorf("access line: %v", lines[1])
	}

	// Without one (or with an absurd one) the server makes a new id per
	// request, and an error body carries it.
	logs.Reset()
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		req := httptest.NewRequest("GET", "/things/bad", nil)
		if i == 2 {
			req.Header.Set("X-Request-Id", strings.Repeat("x", 65))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		id := rec.Header().Get("X-Request-Id")
		if len(id) != 16 || seen[id] {
			t.Fatalf("request %d: id %q (seen %v)", i, id, seen)
		}
		seen[id] = true
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), id) {
			t.Errorf("request %d: %d %s, want a 400 naming request %s", i, rec.Code, rec.Body, id)
		}
	}

	// Metrics: by route pattern, method and code; unmatched paths and
	// made-up methods do not make new series.
	for _, m := range []string{"GET", "BREW", "FOO"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(m, "/nowhere", nil))
	}
	got := map[string]float64{}
	durations := 0
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "citytwin_http_requests_total":
				var k []string
				for _, l := range m.GetLabel() {
					k = append(k, l.GetName()+"="+l.GetValue())
				}
				got[strings.Join(k, ",")] = m.GetCounter().GetValue()
			case "citytwin_http_request_duration_seconds":
				durations++
			}
		}
	}
	want := map[string]float64{
		"code=200,method=GET,route=GET /things/{id}": 1,
		"code=400,method=GET,route=GET /things/{id}": 3,
		"code=404,method=GET,route=unmatched":        1,
		"code=404,method=other,route=unmatched":      2,
	}
	if !maps.Equal(got, want) {
		t.Errorf("requests_total = %v, want %v", got, want)
	}
	if durations != 2 {
		t.Errorf("%d duration series, want 2 (one per route)", durations)
	}
}

func TestMiddlewareQuietAtInfo(t *testing.T) {
	h, logs, _ := testServer(t, slog.LevelInfo)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/things/1", nil))
	lines := logLines(t, logs)
	if len(lines) != 1 || lines[0]["msg"] != "found" {
		t.Errorf("at info level only the handler's line is logged, got %v", lines)
	}
}

func TestMiddlewarePanic(t *testing.T) {
	h, logs, _ := testServer(t, slog.LevelInfo)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/panic", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"error"`) {
		t.Fatalf("panic: %d %s", rec.Code, rec.Body)
	}
	lines := logLines(t, logs)
	last := lines[len(lines)-1]
	if len(lines) < 2 || lines[0]["msg"] != "panic serving request" || lines[0]["request_id"] != rec.Header().Get("X-Request-Id") ||
		last["msg"] != "http" || last["level"] != "WARN" || last["status"] != 500.0 {
		t.Errorf("log lines: %v", lines)
	}
}

// BenchmarkMiddleware is the cost the middleware adds to a request that
// logs nothing (a cached tile, say), at the info level of a server.
func BenchmarkMiddleware(b *testing.B) {
	h, _, _ := testServer(b, slog.LevelInfo)
	req := httptest.NewRequest("GET", "/quiet", nil)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// A request no route takes gets the JSON error body every other error has:
// 404, or 405 with the Allow header when the path takes other methods
// (the mux's own answers are plain text).
func TestUnmatchedRoutesAnswerJSON(t *testing.T) {
	h, _, _ := testServer(t, slog.LevelInfo)
	for _, tc := range []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", "/nosuch", 404, errs.ENOTFOUND, ""},
		{"GET", "/things/7/extra", 404, errs.ENOTFOUND, ""},
		{"DELETE", "/things/7", 405, errs.EMETHOD, "GET, HEAD"},
		{"POST", "/quiet", 405, errs.EMETHOD, "GET, HEAD"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		var body ErrorBody
		if rec.Code != tc.status || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Error.Code != tc.code || body.Error.RequestID == "" ||
			rec.Header().Get("Allow") != tc.allow || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Errorf("%s %s: %d %q Allow %q: %s", tc.method, tc.path, rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Allow"), rec.Body)
		}
	}
}
