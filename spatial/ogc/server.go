package ogc

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/internal/httpapi"
	"github.com/citytwin/citytwin/spatial"
)

// Limits of the items route.
const (
	DefaultLimit = 100
	MaxLimit     = 10000
	// MaxBody bounds a written feature's JSON.
	MaxBody = 32 << 20
)

// Conformance lists the conformance classes the API declares.
var Conformance = []string{
	"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
	"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
	"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
	"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
	"http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
	"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
	"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
	"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
	"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
	"http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
	"http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
	"http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
	"http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
	"http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
	"http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
	"http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
	"http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
	"http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
}

// Server serves OGC API - Features at Prefix (normally "/ogc").
type Server struct {
	Store  *spatial.Store
	Auth   *auth.Service
	Logger *slog.Logger
	Prefix string

	mu      sync.Mutex
	extents map[string]extent
}

type extent struct {
	bound    *orb.Bound
	min, max *time.Time
}

// NewServer returns a server on store at prefix; it drops its cached
// collection extents whenever the store changes.
func NewServer(store *spatial.Store, a *auth.Service, logger *slog.Logger, prefix string) *Server {
	s := &Server{Store: store, Auth: a, Logger: logger, Prefix: prefix, extents: map[string]extent{}}
	store.OnChange(func(_ context.Context, changes []spatial.Change) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range changes {
			delete(s.extents, c.Layer)
		}
	})
	return s
}

// Register adds the routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	p := s.Prefix
	mux.HandleFunc("GET "+p, s.handleLanding)
	mux.HandleFunc("GET "+p+"/{$}", s.handleLanding)
	mux.HandleFunc("GET "+p+"/conformance", s.handleConformance)
	mux.HandleFunc("GET "+p+"/api", s.handleAPI)
	mux.HandleFunc("GET "+p+"/collections", s.handleCollections)
	mux.HandleFunc("GET "+p+"/collections/{id}", s.handleCollection)
	mux.HandleFunc("GET "+p+"/collections/{id}/queryables", s.handleQueryables)
	mux.HandleFunc("GET "+p+"/collections/{id}/items", s.handleItems)
	mux.HandleFunc("POST "+p+"/collections/{id}/items", s.handleCreate)
	mux.HandleFunc("GET "+p+"/collections/{id}/items/{fid}", s.handleItem)
	mux.HandleFunc("PUT "+p+"/collections/{id}/items/{fid}", s.handleReplace)
	mux.HandleFunc("PATCH "+p+"/collections/{id}/items/{fid}", s.handlePatch)
	mux.HandleFunc("DELETE "+p+"/collections/{id}/items/{fid}", s.handleDelete)
}

// Link is an OGC API link.
type Link struct {
	Href  string `json:"href"`
	Rel   string `json:"rel"`
	Type  string `json:"type,omitempty"`
	Title string `json:"title,omitempty"`
}

func (s *Server) base(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host + s.Prefix
}

// format picks json or html from f= and Accept. Only f and the listed
// extra parameters are allowed besides access_token.
func format(r *http.Request) (string, error) {
	f := r.URL.Query().Get("f")
	switch f {
	case "json", "geojson":
		return "json", nil
	case "html":
		return "html", nil
	case "":
		acc := r.Header.Get("Accept")
		if strings.Contains(acc, "text/html") && !strings.Contains(acc, "json") {
			return "html", nil
		}
		return "json", nil
	}
	return "", errs.Invalid("f", "unknown format %q (json or html)", f)
}

func checkParams(r *http.Request, allowed ...string) error {
	for k := range r.URL.Query() {
		if k == "f" || k == "access_token" {
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || a == k
		}
		if !ok {
			return errs.Invalid(k, "unknown query parameter %q", k)
		}
	}
	return nil
}

func (s *Server) read(w http.ResponseWriter, r *http.Request, allowed ...string) (string, bool) {
	if err := s.Auth.RequireRead(r.Context()); err != nil {
		httpapi.Error(w, r, err)
		return "", false
	}
	if err := checkParams(r, allowed...); err != nil {
		httpapi.Error(w, r, err)
		return "", false
	}
	f, err := format(r)
	if err != nil {
		httpapi.Error(w, r, err)
		return "", false
	}
	return f, true
}

func (s *Server) layer(w http.ResponseWriter, r *http.Request) (*spatial.Layer, bool) {
	l, err := s.Store.Registry.Layer(r.PathValue("id"))
	if err != nil {
		httpapi.Error(w, r, &errs.Error{Code: errs.ENOTFOUND, Where: "collectionId", Message: fmt.Sprintf("unknown collection %q", r.PathValue("id"))})
		return nil, false
	}
	return l, true
}

// handleLanding handles the "GET /ogc" route.
func (s *Server) handleLanding(w http.ResponseWriter, r *http.Request) {
	f, ok := s.read(w, r)
	if !ok {
		return
	}
	b := s.base(r)
	doc := map[string]any{
		"title":       "citytwin",
		"description": "OGC API - Features of the citytwin digital twin: buildings, pipe networks, smart poles, project sites and base layers.",
		"links": []Link{
			{b + "?f=json", "self", "application/json", "this document"},
			{b + "?f=html", "alternate", "text/html", "this document as HTML"},
			{b + "/api", "service-desc", "application/vnd.oai.openapi+json;version=3.0", "the API definition"},
			{b + "/conformance", "conformance", "application/json", "conformance classes"},
			{b + "/conformance", "http://www.opengis.net/def/rel/ogc/1.0/conformance", "application/json", "conformance classes"},
			{b + "/collections", "data", "application/json", "collections"},
			{b + "/collections", "http://www.opengis.net/def/rel/ogc/1.0/data", "application/json", "collections"},
		},
	}
	if f == "html" {
		s.html(w, "citytwin OGC API - Features", doc)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, doc)
}

// handleConformance handles the "GET /ogc/conformance" route.
func (s *Server) handleConformance(w http.ResponseWriter, r *http.Request) {
	f, ok := s.read(w, r)
	if !ok {
		return
	}
	doc := map[string]any{"conformsTo": Conformance}
	if f == "html" {
		s.html(w, "Conformance", doc)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, doc)
}

// handleAPI handles the "GET /ogc/api" route: the OpenAPI 3.0 document.
func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.read(w, r); !ok {
		return
	}
	httpapi.WriteJSONType(w, http.StatusOK, "application/vnd.oai.openapi+json;version=3.0", s.OpenAPI(s.base(r)))
}

// Collection is the description of one collection.
type Collection struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	ItemType    string   `json:"itemType"`
	CRS         []string `json:"crs"`
	StorageCRS  string   `json:"storageCrs"`
	Extent      any      `json:"extent,omitempty"`
	Links       []Link   `json:"links"`
}

func (s *Server) collection(ctx context.Context, b string, l *spatial.Layer) (Collection, error) {
	c := Collection{
		ID: l.Name, Title: l.Title, ItemType: "feature", CRS: crsURIs(), StorageCRS: CRS84,
		Description: fmt.Sprintf("%s (%s); geometry %s", l.Title, l.TitleZH, l.GeomType),
	}
	cb := b + "/collections/" + l.Name
	c.Links = []Link{
		{cb, "self", "application/json", "this collection"},
		{cb + "?f=html", "alternate", "text/html", "this collection as HTML"},
		{cb + "/items", "items", "application/geo+json", l.Title + " as GeoJSON"},
		{cb + "/items?f=html", "items", "text/html", l.Title + " as HTML"},
		{cb + "/queryables", "http://www.opengis.net/def/rel/ogc/1.0/queryables", "application/schema+json", "queryables"},
	}
	e, err := s.extent(ctx, l)
	if err != nil {
		return c, err
	}
	ext := map[string]any{}
	if e.bound != nil {
		ext["spatial"] = map[string]any{
			"bbox": [][]float64{{e.bound.Min[0], e.bound.Min[1], e.bound.Max[0], e.bound.Max[1]}},
			"crs":  CRS84,
		}
	}
	if e.min != nil {
		ext["temporal"] = map[string]any{
			"interval": [][]string{{e.min.UTC().Format(time.RFC3339), e.max.UTC().Format(time.RFC3339)}},
			"trs":      "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
		}
	}
	if len(ext) > 0 {
		c.Extent = ext
	}
	return c, nil
}

func (s *Server) extent(ctx context.Context, l *spatial.Layer) (extent, error) {
	s.mu.Lock()
	e, ok := s.extents[l.Name]
	s.mu.Unlock()
	if ok {
		return e, nil
	}
	where, args := l.Where(1)
	var xmin, ymin, xmax, ymax *float64
	err := s.Store.Pool.QueryRow(ctx, fmt.Sprintf(`WITH e AS (SELECT ST_Extent(geom) AS b, min(updated_at) AS t0, max(updated_at) AS t1 FROM %s WHERE %s)
		SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b), t0, t1 FROM e`, l.TableIdent(), where), args...).
		Scan(&xmin, &ymin, &xmax, &ymax, &e.min, &e.max)
	if err != nil {
		return e, fmt.Errorf("extent of %s: %w", l.Name, err)
	}
	if xmin != nil {
		e.bound = &orb.Bound{Min: orb.Point{*xmin, *ymin}, Max: orb.Point{*xmax, *ymax}}
	}
	s.mu.Lock()
	s.extents[l.Name] = e
	s.mu.Unlock()
	return e, nil
}

// handleCollections handles the "GET /ogc/collections" route.
func (s *Server) handleCollections(w http.ResponseWriter, r *http.Request) {
	f, ok := s.read(w, r)
	if !ok {
		return
	}
	b := s.base(r)
	var cs []Collection
	for _, l := range s.Store.Registry.Layers() {
		c, err := s.collection(r.Context(), b, l)
		if err != nil {
			httpapi.Error(w, r, err)
			return
		}
		cs = append(cs, c)
	}
	doc := map[string]any{
		"links": []Link{
			{b + "/collections", "self", "application/json", "collections"},
			{b + "/collections?f=html", "alternate", "text/html", "collections as HTML"},
		},
		"collections": cs,
		"crs":         crsURIs(),
	}
	if f == "html" {
		s.html(w, "Collections", doc)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, doc)
}

// handleCollection handles the "GET /ogc/collections/{id}" route.
func (s *Server) handleCollection(w http.ResponseWriter, r *http.Request) {
	f, ok := s.read(w, r)
	if !ok {
		return
	}
	l, ok := s.layer(w, r)
	if !ok {
		return
	}
	c, err := s.collection(r.Context(), s.base(r), l)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if f == "html" {
		s.html(w, l.Title, c)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, c)
}

// Queryables returns the JSON schema of the queryables of l.
func Queryables(self string, l *spatial.Layer) map[string]any {
	props := map[string]any{}
	gf := map[string]string{
		"Point": "geometry-point", "LineString": "geometry-linestring", "MultiLineString": "geometry-multilinestring",
		"MultiPolygon": "geometry-multipolygon", "Polygon": "geometry-polygon", "MultiPoint": "geometry-multipoint",
	}[l.GeomType]
	if gf == "" {
		gf = "geometry-any"
	}
	props["geometry"] = map[string]any{"title": "Geometry", "format": gf, "x-ogc-role": "primary-geometry"}
	props["id"] = map[string]any{"title": "Feature id", "type": "integer", "x-ogc-role": "id"}
	props["source"] = map[string]any{"title": "Source", "type": "string"}
	props["source_id"] = map[string]any{"title": "Source id", "type": "string"}
	props["updated_at"] = map[string]any{"title": "Updated", "type": "string", "format": "date-time", "x-ogc-role": "primary-instant"}
	for _, a := range l.Attributes {
		p := map[string]any{"title": a.Title}
		switch a.Type {
		case spatial.TypeInteger:
			p["type"] = "integer"
		case spatial.TypeNumber:
			p["type"] = "number"
		case spatial.TypeBoolean:
			p["type"] = "boolean"
		case spatial.TypeDate:
			p["type"], p["format"] = "string", "date"
		case spatial.TypeTimestamp:
			p["type"], p["format"] = "string", "date-time"
		case spatial.TypeTextArray:
			p["type"], p["items"] = "array", map[string]string{"type": "string"}
		default:
			p["type"] = "string"
		}
		if len(a.Enum) > 0 {
			p["enum"] = a.Enum
		}
		if a.Unit != "" {
			p["x-ogc-unit"] = a.Unit
		}
		props[a.Name] = p
	}
	return map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  self,
		"type":                 "object",
		"title":                l.Title,
		"properties":           props,
		"additionalProperties": false,
	}
}

// handleQueryables handles the "GET /ogc/collections/{id}/queryables" route.
func (s *Server) handleQueryables(w http.ResponseWriter, r *http.Request) {
	f, ok := s.read(w, r)
	if !ok {
		return
	}
	l, ok := s.layer(w, r)
	if !ok {
		return
	}
	q := Queryables(s.base(r)+"/collections/"+l.Name+"/queryables", l)
	if f == "html" {
		s.html(w, l.Title+" queryables", q)
		return
	}
	httpapi.WriteJSONType(w, http.StatusOK, "application/schema+json", q)
}

func parseFID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("fid"), 10, 64)
	if err != nil || id <= 0 {
		httpapi.Error(w, r, &errs.Error{Code: errs.ENOTFOUND, Where: "featureId", Message: fmt.Sprintf("no feature %q (feature ids are positive integers)", r.PathValue("fid"))})
		return 0, false
	}
	return id, true
}

// readFeature reads a write's GeoJSON Feature body, its geometry in the
// Content-Crs.
func (s *Server) readFeature(w http.ResponseWriter, r *http.Request, l *spatial.Layer) (*spatial.Feature, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		return nil, &errs.Error{Code: errs.ETOOLARGE, Where: "body", Message: fmt.Sprintf("body larger than %d bytes", MaxBody)}
	}
	var probe struct {
		Type     string          `json:"type"`
		Geometry json.RawMessage `json:"geometry"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, httpapi.JSONError(err, MaxBody)
	}
	if probe.Type != "Feature" {
		return nil, errs.Invalid("type", "the body must be a GeoJSON Feature, got type %q", probe.Type)
	}
	if len(probe.Geometry) == 0 || string(probe.Geometry) == "null" {
		return nil, errs.Invalid("geometry", "a feature needs a geometry")
	}
	gf, err := geojson.UnmarshalFeature(body)
	if err != nil {
		return nil, errs.Invalid("geometry", "not a valid GeoJSON feature: %v", err)
	}
	if gf.Geometry == nil {
		return nil, errs.Invalid("geometry", "a feature needs a geometry")
	}
	c, err := contentCRS(r)
	if err != nil {
		return nil, err
	}
	if gf.Geometry, err = s.toStorage(r.Context(), gf.Geometry, c); err != nil {
		return nil, err
	}
	return spatial.FeatureFromGeoJSON(l, gf)
}

func (s *Server) write(w http.ResponseWriter, r *http.Request) (*spatial.Layer, bool) {
	if err := auth.Require(r.Context(), auth.Operator); err != nil {
		httpapi.Error(w, r, err)
		return nil, false
	}
	if err := checkParams(r); err != nil {
		httpapi.Error(w, r, err)
		return nil, false
	}
	return s.layer(w, r)
}

func (s *Server) writeFeature(w http.ResponseWriter, r *http.Request, status int, f *spatial.Feature) {
	gf := f.GeoJSON()
	b := s.base(r) + "/collections/" + f.Layer
	raw, err := json.Marshal(gf)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	m["links"] = []Link{
		{fmt.Sprintf("%s/items/%d", b, f.ID), "self", "application/geo+json", ""},
		{b, "collection", "application/json", ""},
	}
	w.Header().Set("Location", fmt.Sprintf("%s/items/%d", b, f.ID))
	w.Header().Set("Content-Crs", "<"+CRS84+">")
	httpapi.WriteJSONType(w, status, "application/geo+json", m)
}

// handleCreate handles the "POST /ogc/collections/{id}/items" route (Part 4).
func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	l, ok := s.write(w, r)
	if !ok {
		return
	}
	f, err := s.readFeature(w, r, l)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	f, err = s.Store.InsertFeature(r.Context(), f)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	s.writeFeature(w, r, http.StatusCreated, f)
}

// handleReplace handles the "PUT /ogc/collections/{id}/items/{fid}" route.
func (s *Server) handleReplace(w http.ResponseWriter, r *http.Request) {
	l, ok := s.write(w, r)
	if !ok {
		return
	}
	id, ok := parseFID(w, r)
	if !ok {
		return
	}
	f, err := s.readFeature(w, r, l)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	f.ID = id
	f, err = s.Store.ReplaceFeature(r.Context(), f)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	s.writeFeature(w, r, http.StatusOK, f)
}

// handlePatch handles the "PATCH /ogc/collections/{id}/items/{fid}" route
// (a JSON merge patch).
func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request) {
	l, ok := s.write(w, r)
	if !ok {
		return
	}
	id, ok := parseFID(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		httpapi.Error(w, r, &errs.Error{Code: errs.ETOOLARGE, Where: "body", Message: fmt.Sprintf("body larger than %d bytes", MaxBody)})
		return
	}
	if !json.Valid(body) {
		httpapi.Error(w, r, errs.Invalid("body", "malformed JSON"))
		return
	}
	if body, err = s.patchToStorage(r, body); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	f, err := s.Store.PatchFeature(r.Context(), l.Name, id, body)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	s.writeFeature(w, r, http.StatusOK, f)
}

// patchToStorage rewrites a merge patch's geometry, written in the
// Content-Crs, as lon/lat on WGS 84.
func (s *Server) patchToStorage(r *http.Request, body []byte) ([]byte, error) {
	c, err := contentCRS(r)
	if err != nil || c.URI == CRS84 {
		return body, err
	}
	var patch map[string]json.RawMessage
	if json.Unmarshal(body, &patch) != nil || len(patch["geometry"]) == 0 || string(patch["geometry"]) == "null" {
		return body, nil // not an object, or no geometry: the store says what is wrong
	}
	g, err := geojson.UnmarshalGeometry(patch["geometry"])
	if err != nil {
		return nil, errs.Invalid("geometry", "not a valid GeoJSON geometry: %v", err)
	}
	out, err := s.toStorage(r.Context(), g.Geometry(), c)
	if err != nil {
		return nil, err
	}
	if patch["geometry"], err = json.Marshal(geojson.NewGeometry(out)); err != nil {
		return nil, err
	}
	return json.Marshal(patch)
}

// handleDelete handles the "DELETE /ogc/collections/{id}/items/{fid}" route.
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	l, ok := s.write(w, r)
	if !ok {
		return
	}
	id, ok := parseFID(w, r)
	if !ok {
		return
	}
	if err := s.Store.DeleteFeature(r.Context(), l.Name, id); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>body{font-family:sans-serif;margin:2em;background:#111;color:#ddd}a{color:#6fa8dc}pre{white-space:pre-wrap}</style></head>
<body><h1>{{.Title}}</h1>
{{range .Links}}<a href="{{.Href}}">{{if .Title}}{{.Title}}{{else}}{{.Rel}}{{end}}</a> ({{.Rel}})<br>{{end}}
<pre>{{.JSON}}</pre></body></html>`))

// html renders doc as a simple HTML page with its links made clickable.
func (s *Server) html(w http.ResponseWriter, title string, doc any) {
	b, _ := json.MarshalIndent(doc, "", "  ")
	var links []Link
	var probe struct {
		Links []Link `json:"links"`
	}
	_ = json.Unmarshal(b, &probe)
	links = probe.Links
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = pageTmpl.Execute(w, map[string]any{"Title": title, "Links": links, "JSON": string(b)})
}
