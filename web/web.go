package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// dist is the built app (npm run build writes it; scripts/build.sh runs that
// before go build).
//
//go:embed all:dist
var dist embed.FS

// contentTypes fixes the types of what the app serves, so that they do not
// depend on the machine's mime tables.
var contentTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".json":  "application/json",
	".map":   "application/json",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".webp":  "image/webp",
	".woff2": "font/woff2",
	".woff":  "font/woff",
	".pbf":   "application/x-protobuf",
	".wasm":  "application/wasm",
	".txt":   "text/plain; charset=utf-8",
}

// Cache-Control values. Vite puts a content hash in every file name under
// assets/, so those never change; everything else is revalidated by ETag.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheRevalid   = "no-cache"
)

// csp keeps the app to its own origin: no script, style, font, image, tile
// or socket may come from anywhere else. MapLibre runs its workers from blob
// URLs; deck.gl and MapLibre build images from blob: and data: URLs.
const csp = "default-src 'self'; script-src 'self'; worker-src 'self' blob:; child-src 'self' blob:; " +
	"img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; font-src 'self' data:; " +
	"connect-src 'self' ws: wss:; object-src 'none'; base-uri 'self'; frame-ancestors 'self'"

// file is one served file, read once at start.
type file struct {
	name  string
	body  []byte
	br    []byte // brotli of body, made by the build (NAME.br), when worth it
	gz    []byte // gzip of body: the build's NAME.gz, or made at start when worth it
	etag  string
	ctype string
	cache string
}

// The build (vite.config.ts) writes NAME.br and NAME.gz next to the files
// worth compressing; they are served in place of NAME, not as files.
var alternates = map[string]bool{".br": true, ".gz": true}

// Handler serves the built app: index.html at "/", hashed assets under
// /assets/ and the other files at the root of dist.
type Handler struct {
	files map[string]*file // by URL path
	start time.Time
}

// NewHandler reads the embedded build. It fails when the app was not built
// (dist has no index.html), so that a binary without its app is noticed.
func NewHandler() (*Handler, error) {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		return nil, err
	}
	return newHandler(sub)
}

func newHandler(root fs.FS) (*Handler, error) {
	h := &Handler{files: map[string]*file{}, start: time.Now()}
	exists := func(p string) bool {
		_, err := fs.Stat(root, p)
		return err == nil
	}
	err := fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		if ext := path.Ext(p); alternates[ext] && exists(strings.TrimSuffix(p, ext)) {
			return nil
		}
		body, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		f := &file{
			name:  p,
			body:  body,
			etag:  `"` + hex.EncodeToString(sum[:12]) + `"`,
			ctype: contentTypes[strings.ToLower(path.Ext(p))],
			cache: cacheRevalid,
		}
		if f.ctype == "" {
			f.ctype = http.DetectContentType(body)
		}
		if strings.HasPrefix(p, "assets/") {
			f.cache = cacheImmutable
		}
		if br, err := fs.ReadFile(root, p+".br"); err == nil && len(br) < len(body) {
			f.br = br
		}
		if gz, err := fs.ReadFile(root, p+".gz"); err == nil && len(gz) < len(body) {
			f.gz = gz
		} else if compressible(f.ctype) && len(body) > 1024 {
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
			zw.Write(body)
			zw.Close()
			if buf.Len() < len(body)*9/10 {
				f.gz = buf.Bytes()
			}
		}
		h.files["/"+p] = f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: read app: %w", err)
	}
	if h.files["/index.html"] == nil {
		return nil, fmt.Errorf("web: the app is not built (no dist/index.html): run scripts/build.sh")
	}
	return h, nil
}

func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || strings.HasPrefix(ctype, "application/json") ||
		strings.HasPrefix(ctype, "image/svg") || strings.HasPrefix(ctype, "application/x-protobuf") ||
		strings.HasPrefix(ctype, "application/wasm")
}

// Routes registers the app's routes on mux: "GET /{$}" for the page, and one
// route per other built file (assets under "GET /assets/").
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", h.handleIndex)
	mux.HandleFunc("GET /assets/", h.handleFile)
	for p := range h.files {
		if !strings.HasPrefix(p, "/assets/") {
			mux.HandleFunc("GET "+p, h.handleFile)
		}
	}
}

// Paths lists the URL paths served, sorted by nothing in particular.
func (h *Handler) Paths() []string {
	out := make([]string, 0, len(h.files))
	for p := range h.files {
		out = append(out, p)
	}
	return out
}

// handleIndex handles the "GET /" route: the app's page. The view lives in
// the URL's hash, so the page is the same for every view.
func (h *Handler) handleIndex(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, h.files["/index.html"])
}

// handleFile handles "GET /assets/..." and the other built files.
func (h *Handler) handleFile(w http.ResponseWriter, r *http.Request) {
	f := h.files[r.URL.Path]
	if f == nil {
		http.NotFound(w, r)
		return
	}
	h.serve(w, r, f)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, f *file) {
	hd := w.Header()
	hd.Set("Content-Type", f.ctype)
	hd.Set("Cache-Control", f.cache)
	hd.Set("ETag", f.etag)
	hd.Set("X-Content-Type-Options", "nosniff")
	if f.ctype == contentTypes[".html"] {
		hd.Set("Content-Security-Policy", csp)
		hd.Set("Referrer-Policy", "no-referrer")
	}
	hd.Add("Vary", "Accept-Encoding")
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatch(match, f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := f.body
	switch {
	case f.br != nil && accepts(r, "br"):
		hd.Set("Content-Encoding", "br")
		body = f.br
	case f.gz != nil && accepts(r, "gzip"):
		hd.Set("Content-Encoding", "gzip")
		body = f.gz
	}
	hd.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		t = strings.TrimPrefix(t, "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// accepts reports whether the request's Accept-Encoding allows enc.
func accepts(r *http.Request, enc string) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name := strings.TrimSpace(part)
		if i := strings.IndexByte(name, ';'); i >= 0 {
			if q := strings.TrimSpace(name[i+1:]); q == "q=0" || q == "q=0.0" || q == "q=0.00" || q == "q=0.000" {
				continue
			}
			name = strings.TrimSpace(name[:i])
		}
		if name == enc {
			return true
		}
	}
	return false
}
