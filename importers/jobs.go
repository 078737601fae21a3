package importers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/citytwin/citytwin/importers/crs"
	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/internal/httpapi"
	"github.com/citytwin/citytwin/spatial"
)

// DefaultMaxUpload bounds an import upload (all its files).
const DefaultMaxUpload = 2 << 30

// Jobs runs imports uploaded over HTTP as background jobs, persisted in the
// import_jobs table.
type Jobs struct {
	Store  *spatial.Store
	Logger *slog.Logger
	Auth   interface{ RequireRead(context.Context) error }
	// Go runs a job's goroutine under the App's ownership.
	Go func(func())
	// Ctx ends when the App shuts down; running jobs are cancelled.
	Ctx context.Context
	// Dir holds uploads while their job runs (os.TempDir when empty).
	Dir string
	// MaxUpload bounds the request body (DefaultMaxUpload when 0).
	MaxUpload int64

	mu      sync.Mutex
	running map[int64]*Progress
	metrics *jobMetrics
}

type jobMetrics struct {
	jobs     *prometheus.CounterVec
	features *prometheus.CounterVec
}

// RegisterMetrics registers the import metrics on reg.
func (j *Jobs) RegisterMetrics(reg prometheus.Registerer) error {
	m := &jobMetrics{
		jobs:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "citytwin_import_jobs_total", Help: "Import jobs finished, by status."}, []string{"status"}),
		features: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "citytwin_import_features_total", Help: "Features written by import jobs, by layer."}, []string{"layer"}),
	}
	for _, c := range []prometheus.Collector{m.jobs, m.features} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	j.metrics = m
	return nil
}

// Recover marks jobs left running by a previous process as failed.
func (j *Jobs) Recover(ctx context.Context) error {
	_, err := j.Store.Pool.Exec(ctx, `UPDATE import_jobs SET status = 'failed', finished_at = now(),
		error = '{"code":"unavailable","message":"the server stopped while the import ran; nothing of it was kept"}'
		WHERE status = 'running'`)
	return err
}

// Register adds the import routes to mux.
func (j *Jobs) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/imports", j.handleImportCreate)
	mux.HandleFunc("GET /api/v1/imports/{id}", j.handleImportView)
}

// JobView is the JSON shape of an import job.
type JobView struct {
	ID         int64           `json:"id"`
	Status     string          `json:"status"`
	Files      []string        `json:"files"`
	Options    json.RawMessage `json:"options"`
	Progress   *Progress       `json:"progress"`
	Report     json.RawMessage `json:"report"`
	Error      json.RawMessage `json:"error"`
	CreatedAt  time.Time       `json:"created_at"`
	FinishedAt *time.Time      `json:"finished_at"`
}

type jobOptions struct {
	Layer       string            `json:"layer,omitempty"`
	Format      string            `json:"format,omitempty"`
	CRS         string            `json:"crs,omitempty"`
	Table       string            `json:"table,omitempty"`
	Map         map[string]string `json:"map,omitempty"`
	IDField     string            `json:"id_field,omitempty"`
	Source      string            `json:"source,omitempty"`
	DryRun      bool              `json:"dry_run"`
	SkipInvalid bool              `json:"skip_invalid"`
}

// handleImportCreate handles the "POST /api/v1/imports" route: a multipart
// upload of one or more "file" parts and the import's fields; the import
// runs as a job. Answers 202 with the job.
func (j *Jobs) handleImportCreate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := auth.Require(ctx, auth.Operator); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	max := j.MaxUpload
	if max <= 0 {
		max = DefaultMaxUpload
	}
	r.Body = http.MaxBytesReader(w, r.Body, max)
	mr, err := r.MultipartReader()
	if err != nil {
		httpapi.Error(w, r, errs.Invalid("body", "a multipart/form-data upload is expected: %v", err))
		return
	}
	dir, err := os.MkdirTemp(j.Dir, "citytwin-import-")
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	keep := false
	defer func() {
		if !keep {
			os.RemoveAll(dir)
		}
	}()
	var o jobOptions
	var files []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			httpapi.Error(w, r, uploadError(err, max))
			return
		}
		name := p.FormName()
		if name == "file" {
			fn := filepath.Base(filepath.Clean("/" + p.FileName()))
			if fn == "/" || fn == "." || fn == "" {
				httpapi.Error(w, r, errs.Invalid("file", "a file part needs a file name"))
				return
			}
			path := filepath.Join(dir, fmt.Sprintf("%d-%s", len(files), fn))
			if err := saveUpload(p, path); err != nil {
				httpapi.Error(w, r, uploadError(err, max))
				return
			}
			files = append(files, path)
			continue
		}
		b, err := io.ReadAll(io.LimitReader(p, 1<<20))
		if err != nil {
			httpapi.Error(w, r, uploadError(err, max))
			return
		}
		v := strings.TrimSpace(string(b))
		switch name {
		case "layer":
			o.Layer = v
		case "format":
			o.Format = v
		case "crs":
			o.CRS = v
		case "table":
			o.Table = v
		case "id_field":
			o.IDField = v
		case "source":
			o.Source = v
		case "map":
			if o.Map == nil {
				o.Map = map[string]string{}
			}
			for _, pair := range strings.Split(v, ",") {
				from, to, ok := strings.Cut(pair, "=")
				if !ok || strings.TrimSpace(from) == "" || strings.TrimSpace(to) == "" {
					httpapi.Error(w, r, errs.Invalid("map", "map takes source_field=attribute, got %q", pair))
					return
				}
				o.Map[strings.TrimSpace(from)] = strings.TrimSpace(to)
			}
		case "dry_run", "skip_invalid":
			bv, err := strconv.ParseBool(v)
			if err != nil {
				httpapi.Error(w, r, errs.Invalid(name, "%q is not true or false", v))
				return
			}
			if name == "dry_run" {
				o.DryRun = bv
			} else {
				o.SkipInvalid = bv
			}
		default:
			httpapi.Error(w, r, errs.Invalid(name, "unknown field %q", name))
			return
		}
	}
	if len(files) == 0 {
		httpapi.Error(w, r, errs.Invalid("file", "no file part in the upload"))
		return
	}
	if o.Format != "" && !knownFormat(o.Format) {
		httpapi.Error(w, r, errs.Invalid("format", "unknown format %q (one of %s)", o.Format, strings.Join(Formats, ", ")))
		return
	}
	if o.CRS != "" {
		if _, err := crs.Parse(o.CRS); err != nil {
			httpapi.Error(w, r, err)
			return
		}
	}
	if o.Layer != "" {
		if _, err := j.Store.Registry.Layer(o.Layer); err != nil && !validUserLayer(o.Layer) {
			httpapi.Error(w, r, errs.Invalid("layer", "unknown layer %q; a new layer's name must be lower case letters, digits and _ starting with a letter", o.Layer))
			return
		}
	}
	for _, f := range files {
		if o.Format == "" {
			if _, err := Detect(f); err != nil {
				httpapi.Error(w, r, err)
				return
			}
		}
	}
	actor := "api"
	if p := auth.PrincipalFrom(ctx); p != nil {
		actor = p.Actor()
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = strings.SplitN(filepath.Base(f), "-", 2)[1]
	}
	oj, _ := json.Marshal(o)
	var v JobView
	err = j.Store.Pool.QueryRow(ctx, `INSERT INTO import_jobs (status, actor, files, options, progress) VALUES ('running', $1, $2, $3, '{}')
		RETURNING id, status, files, options, created_at`, actor, names, oj).Scan(&v.ID, &v.Status, &v.Files, &v.Options, &v.CreatedAt)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	v.Progress = &Progress{Stage: "queued"}
	j.mu.Lock()
	if j.running == nil {
		j.running = map[int64]*Progress{}
	}
	j.running[v.ID] = &Progress{Stage: "queued"}
	j.mu.Unlock()
	keep = true
	opts := Options{Files: files, Format: o.Format, Table: o.Table, Layer: o.Layer, Source: o.Source, CRS: o.CRS, Map: o.Map,
		IDField: o.IDField, DryRun: o.DryRun, SkipInvalid: o.SkipInvalid, Actor: actor}
	if opts.Source == "" {
		// Uploads are stored as N-name; the source is the uploaded name.
		opts.Source = sourceName(names[0])
	}
	id := v.ID
	logger := j.Logger.With("import_job", id)
	j.Go(func() { j.run(id, dir, opts, logger) })
	w.Header().Set("Location", fmt.Sprintf("/api/v1/imports/%d", id))
	httpapi.WriteJSON(w, http.StatusAccepted, v)
}

func saveUpload(p *multipart.Part, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, p); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func uploadError(err error, max int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errs.Errorf(errs.ETOOLARGE, "the upload is larger than %d bytes", max)
	}
	return errs.Invalid("body", "cannot read the upload: %v", err)
}

// run runs one job to its end and records the outcome.
func (j *Jobs) run(id int64, dir string, opts Options, logger *slog.Logger) {
	defer os.RemoveAll(dir)
	ctx := j.Ctx
	var last time.Time
	opts.Progress = func(p Progress) {
		j.mu.Lock()
		*j.running[id] = p
		j.mu.Unlock()
		if time.Since(last) > 2*time.Second {
			last = time.Now()
			pj, _ := json.Marshal(p)
			_, _ = j.Store.Pool.Exec(ctx, `UPDATE import_jobs SET progress = $2 WHERE id = $1`, id, pj)
		}
	}
	logger.Info("import job started", "files", len(opts.Files))
	rep, err := Run(ctx, j.Store, logger, opts)
	j.mu.Lock()
	p := *j.running[id]
	delete(j.running, id)
	j.mu.Unlock()
	pj, _ := json.Marshal(p)
	// Record the outcome even when the App is shutting down.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err != nil {
		body := map[string]any{"code": errs.Code(err), "message": errs.Message(err), "status": httpapi.StatusOf(err)}
		if w := errs.Where(err); w != "" {
			body["where"] = w
		}
		if errs.Code(err) == errs.EINTERNAL {
			logger.Error("import job failed", "err", err)
		} else {
			logger.Info("import job refused", "err", err)
		}
		ej, _ := json.Marshal(body)
		if _, err := j.Store.Pool.Exec(rctx, `UPDATE import_jobs SET status = 'failed', progress = $2, error = $3, finished_at = now() WHERE id = $1`, id, pj, ej); err != nil {
			logger.Error("record import job", "err", err)
		}
		if j.metrics != nil {
			j.metrics.jobs.WithLabelValues("failed").Inc()
		}
		return
	}
	rj, _ := json.Marshal(rep)
	if _, err := j.Store.Pool.Exec(rctx, `UPDATE import_jobs SET status = 'succeeded', progress = $2, report = $3, finished_at = now() WHERE id = $1`, id, pj, rj); err != nil {
		logger.Error("record import job", "err", err)
	}
	if j.metrics != nil {
		j.metrics.jobs.WithLabelValues("succeeded").Inc()
		if !opts.DryRun {
			for l, n := range rep.Layers {
				j.metrics.features.WithLabelValues(l).Add(float64(n))
			}
		}
	}
}

// handleImportView handles the "GET /api/v1/imports/{id}" route.
func (j *Jobs) handleImportView(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := j.Auth.RequireRead(ctx); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		httpapi.Error(w, r, errs.Invalid("id", "%q is not an import job id", r.PathValue("id")))
		return
	}
	var v JobView
	var progress []byte
	err = j.Store.Pool.QueryRow(ctx, `SELECT id, status, files, options, progress, report, error, created_at, finished_at FROM import_jobs WHERE id = $1`, id).
		Scan(&v.ID, &v.Status, &v.Files, &v.Options, &progress, &v.Report, &v.Error, &v.CreatedAt, &v.FinishedAt)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			httpapi.Error(w, r, errs.NotFound("no import job %d", id))
			return
		}
		httpapi.Error(w, r, err)
		return
	}
	j.mu.Lock()
	if p, ok := j.running[id]; ok && v.Status == "running" {
		cp := *p
		v.Progress = &cp
	}
	j.mu.Unlock()
	if v.Progress == nil && len(progress) > 0 {
		var p Progress
		if json.Unmarshal(progress, &p) == nil {
			v.Progress = &p
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, v)
}
