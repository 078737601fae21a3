package importers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/citytwin/citytwin/importers"
	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/internal/auth"
)

func multipartBody(tb testing.TB, files map[string]string, fields ...string) (*bytes.Buffer, string) {
	tb.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for name, content := range files {
		w, err := mw.CreateFormFile("file", name)
		if err != nil {
			tb.Fatal(err)
		}
		w.Write([]byte(content))
	}
	for i := 0; i+1 < len(fields); i += 2 {
		mw.WriteField(fields[i], fields[i+1])
	}
	mw.Close()
	return &b, mw.FormDataContentType()
}

func waitJob(tb testing.TB, url, key string) map[string]any {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, b := apptest.Do(tb, "GET", url, key, nil)
		if resp.StatusCode != 200 {
			tb.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			tb.Fatal(err)
		}
		if v["status"] != "running" {
			return v
		}
		if time.Now().After(deadline) {
			tb.Fatalf("job still running: %s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestImportJobsAPI(t *testing.T) {
	a := apptest.MustRun(t)
	op := apptest.Key(t, a, auth.Operator)
	viewer := apptest.Key(t, a, auth.Viewer)
	var nd strings.Builder
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&nd, `{"type":"Feature","properties":{"ref":"L%d","state":"ok"},"geometry":{"type":"Point","coordinates":[116.39%02d,39.9]}}`+"\n", i, i)
	}
	body, ct := multipartBody(t, map[string]string{"lamps.ndjson": nd.String()}, "layer", "smart_poles", "id_field", "ref", "map", "state=status")
	// A viewer may not import.
	resp, b := apptest.Do(t, "POST", a.URL()+"/api/v1/imports", viewer, bytes.NewReader(body.Bytes()), "Content-Type", ct)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer: %d %s", resp.StatusCode, b)
	}
	resp, b = apptest.Do(t, "POST", a.URL()+"/api/v1/imports", op, body, "Content-Type", ct)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST: %d %s", resp.StatusCode, b)
	}
	var job struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(b, &job); err != nil || job.ID == 0 || job.Status != "running" {
		t.Fatalf("job %s", b)
	}
	v := waitJob(t, fmt.Sprintf("%s/api/v1/imports/%d", a.URL(), job.ID), op)
	if v["status"] != "succeeded" {
		t.Fatalf("job %v", v)
	}
	rep := v["report"].(map[string]any)
	if rep["inserted"].(float64) != 20 || rep["read"].(float64) != 20 {
		t.Fatalf("report %v", rep)
	}
	var n int
	if err := a.Pool.QueryRow(context.Background(), `SELECT count(*) FROM smart_poles WHERE source = 'lamps' AND status = 'ok'`).Scan(&n); err != nil || n != 20 {
		t.Fatalf("%d poles, %v", n, err)
	}

	// A malformed file: the job fails with the reason, nothing is written.
	body, ct = multipartBody(t, map[string]string{"bad.geojson": `{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{}}, {"typ`}, "layer", "cameras")
	resp, b = apptest.Do(t, "POST", a.URL()+"/api/v1/imports", op, body, "Content-Type", ct)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST: %d %s", resp.StatusCode, b)
	}
	json.Unmarshal(b, &job)
	v = waitJob(t, fmt.Sprintf("%s/api/v1/imports/%d", a.URL(), job.ID), op)
	e, _ := v["error"].(map[string]any)
	if v["status"] != "failed" || e["code"] != "invalid" || !strings.Contains(e["message"].(string), "truncated") {
		t.Fatalf("job %v", v)
	}
	if err := a.Pool.QueryRow(context.Background(), `SELECT count(*) FROM cameras`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d cameras", n)
	}

	// Bad requests answer 4xx at once.
	for _, tc := range []struct {
		fields []string
		files  map[string]string
		status int
		where  string
	}{
		{[]string{"layer", "Bad Name"}, map[string]string{"a.geojson": "{}"}, 400, "layer"},
		{[]string{"layer", "cameras", "crs", "EPSG:abc"}, map[string]string{"a.geojson": "{}"}, 400, "crs"},
		{[]string{"layer", "cameras"}, nil, 400, "file"},
		{[]string{"layer", "cameras", "dry_run", "maybe"}, map[string]string{"a.geojson": "{}"}, 400, "dry_run"},
		{[]string{"layer", "cameras"}, map[string]string{"a.xyz": "{}"}, 400, "format"},
	} {
		body, ct := multipartBody(t, tc.files, tc.fields...)
		resp, b := apptest.Do(t, "POST", a.URL()+"/api/v1/imports", op, body, "Content-Type", ct)
		if resp.StatusCode != tc.status {
			t.Errorf("%v: %d %s", tc.fields, resp.StatusCode, b)
			continue
		}
		if _, _, where := apptest.ErrorBody(t, b); where != tc.where {
			t.Errorf("%v: where %q (%s)", tc.fields, where, b)
		}
	}
	resp, b = apptest.Do(t, "GET", a.URL()+"/api/v1/imports/999999", op, nil)
	if resp.StatusCode != 404 {
		t.Fatalf("unknown job: %d %s", resp.StatusCode, b)
	}

	// An upload over the limit: 413.
	mux := http.NewServeMux()
	j := &importers.Jobs{Store: a.Store, Logger: a.Logger, Auth: a.Auth, Go: a.Go, Ctx: context.Background(), MaxUpload: 1000}
	j.Register(mux)
	srv := httptest.NewServer(a.Auth.Middleware(mux))
	defer srv.Close()
	body, ct = multipartBody(t, map[string]string{"big.ndjson": strings.Repeat(nd.String(), 10)}, "layer", "smart_poles")
	resp, b = apptest.Do(t, "POST", srv.URL+"/api/v1/imports", op, body, "Content-Type", ct)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("big upload: %d %s", resp.StatusCode, b)
	}
}
