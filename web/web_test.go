package web

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func MustNewHandler(tb testing.TB) *Handler {
	tb.Helper()
	h, err := newHandler(fstest.MapFS{
		"index.html":           {Data: []byte("<!doctype html><title>citytwin</title>" + strings.Repeat(" ", 2000))},
		"favicon.svg":          {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"></svg>`)},
		"assets/index-Ab1.js":  {Data: []byte("console.log(1);" + strings.Repeat("x", 4000))},
		"assets/index-Ab1.css": {Data: []byte("body{}")},
		"fonts/0-255.pbf":      {Data: []byte{0x0a, 0x01}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func TestHandler(t *testing.T) {
	h := MustNewHandler(t)
	mux := http.NewServeMux()
	h.Routes(mux)
	cases := []struct {
		path, status, ctype, cache string
	}{
		{"/", "200", "text/html; charset=utf-8", "no-cache"},
		{"/assets/index-Ab1.js", "200", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"},
		{"/assets/index-Ab1.css", "200", "text/css; charset=utf-8", "public, max-age=31536000, immutable"},
		{"/favicon.svg", "200", "image/svg+xml", "no-cache"},
		{"/fonts/0-255.pbf", "200", "application/x-protobuf", "no-cache"},
		{"/assets/missing.js", "404", "", ""},
		{"/nothing-here", "404", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
			if got := http.StatusText(rec.Code); rec.Code != atoi(tc.status) {
				t.Fatalf("status %d (%s), want %s", rec.Code, got, tc.status)
			}
			if tc.ctype != "" && rec.Header().Get("Content-Type") != tc.ctype {
				t.Errorf("Content-Type %q, want %q", rec.Header().Get("Content-Type"), tc.ctype)
			}
			if tc.cache != "" && rec.Header().Get("Cache-Control") != tc.cache {
				t.Errorf("Cache-Control %q, want %q", rec.Header().Get("Cache-Control"), tc.cache)
			}
		})
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestHandlerIndexCSPAndETag(t *testing.T) {
	h := MustNewHandler(t)
	mux := http.NewServeMux()
	h.Routes(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Fatalf("index.html without a same-origin CSP: %q", csp)
	}
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Fatalf("revalidation: %d with %d bytes, want 304 and no body", rec.Code, rec.Body.Len())
	}
}

func TestHandlerGzip(t *testing.T) {
	h := MustNewHandler(t)
	mux := http.NewServeMux()
	h.Routes(mux)
	req := httptest.NewRequest("GET", "/assets/index-Ab1.js", nil)
	req.Header.Set("Accept-Encoding", "br, gzip;q=0.8")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", rec.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(body), "console.log(1);") {
		t.Fatalf("gunzipped body %q...", body[:20])
	}
	req.Header.Set("Accept-Encoding", "gzip;q=0")
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Header().Get("Content-Encoding") != "" {
		t.Fatal("gzip sent to a client that refused it")
	}
}

// TestEmbeddedBuild checks the binary's own build: it has a page that loads
// its scripts from /assets/ and nothing from another origin.
func TestEmbeddedBuild(t *testing.T) {
	h, err := NewHandler()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	page := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(page, `src="/assets/`) {
		t.Fatalf("GET / = %d, page without /assets/ script:\n%s", rec.Code, page)
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Fatalf("the page refers to another origin:\n%s", page)
	}
	for _, p := range h.Paths() {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != 200 {
			t.Errorf("GET %s = %d", p, rec.Code)
		}
	}
}

// TestHandlerPrecompressed checks that the build's NAME.br and NAME.gz are
// served in place of NAME to clients that accept them, and are not files of
// their own.
func TestHandlerPrecompressed(t *testing.T) {
	js := "console.log(2);" + strings.Repeat("y", 4000)
	h, err := newHandler(fstest.MapFS{
		"index.html":             {Data: []byte("<!doctype html>")},
		"assets/app-Cd2.js":      {Data: []byte(js)},
		"assets/app-Cd2.js.br":   {Data: []byte("brotli bytes")},
		"assets/app-Cd2.js.gz":   {Data: []byte("gzip bytes of the build")},
		"assets/archive-Ef3.gz":  {Data: []byte("a gzip file of its own")},
		"assets/small-Gh4.js":    {Data: []byte("x")},
		"assets/small-Gh4.js.br": {Data: []byte("larger than the file itself")},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	cases := []struct {
		name, path, accept, status, encoding, body string
	}{
		{"brotli first", "/assets/app-Cd2.js", "gzip, deflate, br, zstd", "200", "br", "brotli bytes"},
		{"gzip of the build", "/assets/app-Cd2.js", "gzip", "200", "gzip", "gzip bytes of the build"},
		{"brotli refused", "/assets/app-Cd2.js", "br;q=0, gzip", "200", "gzip", "gzip bytes of the build"},
		{"identity", "/assets/app-Cd2.js", "", "200", "", js},
		{"an alternate is no file", "/assets/app-Cd2.js.br", "br", "404", "", ""},
		{"a .gz without its file is a file", "/assets/archive-Ef3.gz", "", "200", "", "a gzip file of its own"},
		{"an alternate larger than the file is not used", "/assets/small-Gh4.js", "br", "200", "", "x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", tc.path, nil)
			if tc.accept != "" {
				req.Header.Set("Accept-Encoding", tc.accept)
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != atoi(tc.status) {
				t.Fatalf("status %d, want %s", rec.Code, tc.status)
			}
			if tc.status != "200" {
				return
			}
			if got := rec.Header().Get("Content-Encoding"); got != tc.encoding {
				t.Errorf("Content-Encoding %q, want %q", got, tc.encoding)
			}
			if rec.Body.String() != tc.body {
				t.Errorf("body %.40q, want %.40q", rec.Body.String(), tc.body)
			}
			if rec.Header().Get("Content-Length") != fmt.Sprint(len(tc.body)) {
				t.Errorf("Content-Length %q, want %d", rec.Header().Get("Content-Length"), len(tc.body))
			}
		})
	}
}
