package ogc

import (
	"bufio"
	"fmt"
	"html"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/internal/httpapi"
	"github.com/citytwin/citytwin/spatial"
	"github.com/citytwin/citytwin/spatial/cql2"
)

// freeProp is the shape of free property names that may be selected.
var freeProp = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$`)

// itemsParams are the query parameters of the items route besides the
// queryables (property=value filters).
var itemsParams = []string{"bbox", "bbox-crs", "crs", "limit", "offset", "datetime", "properties", "sortby", "filter", "filter-lang", "filter-crs"}

// Query is a parsed items request: the SQL condition with its arguments, the
// order, the page and the output CRS.
type Query struct {
	Layer  *spatial.Layer
	CRS    CRS
	Where  []string
	Args   []any
	Order  string
	Limit  int
	Offset int
	// Props selects the properties (nil: all).
	Props []string
	// bboxed is set when a bbox restricts the page (see CountInPage).
	bboxed bool
}

func (q *Query) arg(v any) string {
	q.Args = append(q.Args, v)
	return "$" + strconv.Itoa(len(q.Args))
}

// column resolves a queryable name to its SQL and CQL2 type.
func column(l *spatial.Layer, name string) (cql2.Column, bool) {
	switch name {
	case "geometry", "geom":
		return cql2.Column{SQL: "geom", Type: "geometry"}, true
	case "id":
		// Qualified: the select list's id (as text) must not be what sorts.
		return cql2.Column{SQL: "t.id", Type: "integer"}, true
	case "source", "source_id":
		return cql2.Column{SQL: name, Type: "text"}, true
	case "updated_at":
		return cql2.Column{SQL: "updated_at", Type: "timestamp"}, true
	}
	a, ok := l.Attr(name)
	if !ok {
		return cql2.Column{}, false
	}
	t := string(a.Type)
	return cql2.Column{SQL: pgx.Identifier{a.Name}.Sanitize(), Type: t}, true
}

// ParseQuery reads the items parameters of v for layer l.
func ParseQuery(l *spatial.Layer, v url.Values) (*Query, error) {
	q := &Query{Layer: l, Limit: DefaultLimit}
	where, args := l.Where(1)
	q.Where = append(q.Where, where)
	q.Args = append(q.Args, args...)
	for k := range v {
		switch k {
		case "f", "access_token":
			continue
		}
		known := false
		for _, p := range itemsParams {
			known = known || p == k
		}
		if known {
			continue
		}
		col, ok := column(l, k)
		if !ok || col.Type == "geometry" {
			return nil, errs.Invalid(k, "unknown query parameter %q (not a parameter of this route nor a queryable of %s)", k, l.Name)
		}
		if err := q.propertyFilter(k, col, v.Get(k)); err != nil {
			return nil, err
		}
	}
	var err error
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return nil, errs.Invalid("limit", "limit must be a positive integer, got %q", s)
		}
		if n > MaxLimit {
			n = MaxLimit // OGC: a larger limit is capped, not refused
		}
		q.Limit = n
	}
	if s := v.Get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 100_000_000 {
			return nil, errs.Invalid("offset", "offset must be a non-negative integer, got %q", s)
		}
		q.Offset = n
	}
	if q.CRS, err = parseCRS("crs", v.Get("crs")); err != nil {
		return nil, err
	}
	if s := v.Get("bbox"); s != "" {
		bc, err := parseCRS("bbox-crs", v.Get("bbox-crs"))
		if err != nil {
			return nil, err
		}
		if err := q.bbox(s, bc); err != nil {
			return nil, err
		}
	} else if v.Has("bbox-crs") {
		return nil, errs.Invalid("bbox-crs", "bbox-crs without bbox")
	}
	if s := v.Get("datetime"); s != "" {
		if err := q.datetime(s); err != nil {
			return nil, err
		}
	}
	if s := v.Get("properties"); v.Has("properties") {
		q.Props = []string{}
		for _, p := range strings.Split(s, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			if c, ok := column(l, p); (ok && c.Type == "geometry") || p == "id" || (!ok && !freeProp.MatchString(p)) {
				return nil, errs.Invalid("properties", "cannot select property %q", p)
			}
			q.Props = append(q.Props, p)
		}
	}
	q.Order = "t.id"
	if s := v.Get("sortby"); s != "" {
		var parts []string
		for _, p := range strings.Split(s, ",") {
			p = strings.TrimSpace(p)
			dir := "ASC"
			switch {
			case strings.HasPrefix(p, "-"):
				dir, p = "DESC", p[1:]
			case strings.HasPrefix(p, "+"):
				p = p[1:]
			}
			if sp := strings.Fields(p); len(sp) == 2 && (strings.EqualFold(sp[1], "asc") || strings.EqualFold(sp[1], "desc")) {
				p, dir = sp[0], strings.ToUpper(sp[1])
			}
			c, ok := column(l, p)
			if !ok || c.Type == "geometry" || c.Type == "text[]" {
				return nil, errs.Invalid("sortby", "cannot sort by %q (not a sortable queryable)", p)
			}
			parts = append(parts, c.SQL+" "+dir+" NULLS LAST")
		}
		q.Order = strings.Join(parts, ", ") + ", t.id"
	}
	if s := v.Get("filter"); v.Has("filter") {
		if lang := v.Get("filter-lang"); lang != "" && lang != "cql2-text" {
			return nil, errs.Invalid("filter-lang", "unsupported filter language %q (cql2-text)", lang)
		}
		fc, err := parseCRS("filter-crs", v.Get("filter-crs"))
		if err != nil {
			return nil, err
		}
		e, err := cql2.Parse(s)
		if err != nil {
			return nil, err
		}
		sql, args, err := cql2.Compile(e, func(name string) (cql2.Column, bool) { return column(l, name) },
			cql2.Options{FirstArg: len(q.Args) + 1, SRID: fc.SRID, LatLon: fc.LatLon})
		if err != nil {
			return nil, err
		}
		q.Where = append(q.Where, sql)
		q.Args = append(q.Args, args...)
	} else if v.Has("filter-lang") || v.Has("filter-crs") {
		return nil, errs.Invalid("filter-lang", "filter-lang and filter-crs need a filter")
	}
	return q, nil
}

func (q *Query) propertyFilter(name string, col cql2.Column, s string) error {
	var v any
	cast := ""
	switch col.Type {
	case "integer":
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return errs.Invalid(name, "%s must be an integer, got %q", name, s)
		}
		v, cast = n, "::bigint"
	case "number":
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
			return errs.Invalid(name, "%s must be a number, got %q", name, s)
		}
		v, cast = n, "::double precision"
	case "boolean":
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errs.Invalid(name, "%s must be true or false, got %q", name, s)
		}
		v, cast = b, "::boolean"
	case "date":
		if _, err := time.Parse("2006-01-02", s); err != nil {
			return errs.Invalid(name, "%s must be a date YYYY-MM-DD, got %q", name, s)
		}
		v, cast = s, "::date"
	case "timestamp":
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return errs.Invalid(name, "%s must be an RFC 3339 timestamp, got %q", name, s)
		}
		v, cast = t, "::timestamptz"
	case "text[]":
		q.Where = append(q.Where, q.arg(s)+"::text = ANY("+col.SQL+")")
		return nil
	default:
		v, cast = s, "::text"
	}
	q.Where = append(q.Where, col.SQL+" = "+q.arg(v)+cast)
	return nil
}

func (q *Query) bbox(s string, c CRS) error {
	parts := strings.Split(s, ",")
	if len(parts) != 4 && len(parts) != 6 {
		return errs.Invalid("bbox", "bbox needs 4 (or 6) comma-separated numbers, got %d", len(parts))
	}
	var n []float64
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return errs.Invalid("bbox", "bbox value %d (%q) is not a number", i+1, p)
		}
		n = append(n, f)
	}
	if len(n) == 6 {
		n = []float64{n[0], n[1], n[3], n[4]}
	}
	if c.LatLon {
		n = []float64{n[1], n[0], n[3], n[2]}
	}
	if c.SRID == 4326 || c.SRID == 4490 {
		if n[0] < -180 || n[2] > 180 || n[1] < -90 || n[3] > 90 {
			return errs.Invalid("bbox", "bbox %v is outside longitude/latitude range (lon -180..180, lat -90..90)", s)
		}
	}
	if n[0] > n[2] {
		return errs.Invalid("bbox", "bbox minimum x %g is larger than maximum x %g (boxes across the antimeridian are not supported)", n[0], n[2])
	}
	if n[1] > n[3] {
		return errs.Invalid("bbox", "bbox minimum y %g is larger than maximum y %g", n[1], n[3])
	}
	env := fmt.Sprintf("ST_MakeEnvelope(%s, %s, %s, %s, %d)", q.arg(n[0]), q.arg(n[1]), q.arg(n[2]), q.arg(n[3]), c.SRID)
	if c.SRID != 4326 {
		env = "ST_Transform(" + env + ", 4326)"
	}
	q.Where = append(q.Where, "ST_Intersects(geom, "+env+")")
	q.bboxed = true
	return nil
}

func parseTime(s string, end bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return t, err
	}
	if end {
		t = t.Add(24*time.Hour - time.Nanosecond)
	}
	return t, nil
}

func (q *Query) datetime(s string) error {
	if !strings.Contains(s, "/") {
		t0, err := parseTime(s, false)
		if err != nil {
			return errs.Invalid("datetime", "datetime %q is not an RFC 3339 instant, date or interval", s)
		}
		t1, _ := parseTime(s, true)
		q.Where = append(q.Where, "updated_at BETWEEN "+q.arg(t0)+" AND "+q.arg(t1))
		return nil
	}
	ends := strings.Split(s, "/")
	if len(ends) != 2 || (ends[0] == ".." || ends[0] == "") && (ends[1] == ".." || ends[1] == "") {
		return errs.Invalid("datetime", "datetime interval %q needs at least one bound", s)
	}
	if ends[0] != ".." && ends[0] != "" {
		t, err := parseTime(ends[0], false)
		if err != nil {
			return errs.Invalid("datetime", "interval start %q is not an RFC 3339 instant or date", ends[0])
		}
		q.Where = append(q.Where, "updated_at >= "+q.arg(t))
	}
	if ends[1] != ".." && ends[1] != "" {
		t, err := parseTime(ends[1], true)
		if err != nil {
			return errs.Invalid("datetime", "interval end %q is not an RFC 3339 instant or date", ends[1])
		}
		q.Where = append(q.Where, "updated_at <= "+q.arg(t))
	}
	return nil
}

// Stored reports whether the page can be read from the pre-rendered feature
// text kept in every layer table (column ogc_json, migration 0600): it holds
// the geometry in CRS84 and all the properties, so it serves the default
// request (no crs, no properties selection).
func (q *Query) Stored() bool { return q.CRS.URI == CRS84 && q.Props == nil }

// CountInPage reports whether the page query also returns numberMatched
// (count(*) OVER () as its last column). It does for bbox queries: the GiST
// scan visits every match anyway to sort them by id, so counting them costs
// nothing more, where a separate COUNT would run the spatial search twice.
// Without a bbox a page can stop early on the primary key, and the count,
// when a full page needs it, is a query of its own (CountSQL).
func (q *Query) CountInPage() bool { return q.bboxed }

// SQL is the GeoJSON page query: id as text, the feature text
// `"geometry":...,"properties":...`, and numberMatched as text when
// CountInPage. The feature text is the stored one when Stored, else rendered
// by PostgreSQL (RenderSQL). One row more than the limit tells whether a
// next page exists.
func (q *Query) SQL() string {
	if !q.Stored() {
		return q.RenderSQL()
	}
	return q.page("t.ogc_json")
}

// RenderSQL is SQL with the feature text rendered at query time
// (ST_AsGeoJSON and the layer's properties as jsonb), whatever the CRS and
// properties selection.
func (q *Query) RenderSQL() string {
	return q.page(`'"geometry":' || ` + geomOut("geom", q.CRS) + ` || ',"properties":' || (` + q.Layer.PropsSQL("", q.Props) + `)::text`)
}

// htmlSQL is the page query of the HTML listing: id and properties as text
// (and numberMatched as in SQL).
func (q *Query) htmlSQL() string {
	return q.page("(" + q.Layer.PropsSQL("", q.Props) + ")::text")
}

func (q *Query) page(feature string) string {
	matched := ""
	if q.CountInPage() {
		matched = ", (count(*) OVER ())::text"
	}
	return fmt.Sprintf("SELECT t.id::text, %s%s FROM %s t WHERE %s ORDER BY %s LIMIT %d OFFSET %d",
		feature, matched, q.Layer.TableIdent(), strings.Join(q.Where, " AND "), q.Order, q.Limit+1, q.Offset)
}

// CountSQL counts the matching features.
func (q *Query) CountSQL() string {
	return fmt.Sprintf("SELECT count(*) FROM %s t WHERE %s", q.Layer.TableIdent(), strings.Join(q.Where, " AND "))
}

// pageURL is the items page at offset with the request's other
// parameters, in format f ("" for the default, GeoJSON).
func pageURL(r *http.Request, base string, offset int, f string) string {
	v := r.URL.Query()
	v.Set("offset", strconv.Itoa(offset))
	v.Del("f")
	if f != "" {
		v.Set("f", f)
	}
	return base + "?" + v.Encode()
}

// pageWriters recycles the 64 KiB buffers that item pages are written
// through (each write to the connection carries many features).
var pageWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// handleItems handles the "GET /ogc/collections/{id}/items" route. The page
// streams: each row is written as it comes from PostGIS.
func (s *Server) handleItems(w http.ResponseWriter, r *http.Request) {
	if err := s.Auth.RequireRead(r.Context()); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	l, ok := s.layer(w, r)
	if !ok {
		return
	}
	f, err := format(r)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	q, err := ParseQuery(l, r.URL.Query())
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	ctx := r.Context()
	sql := q.SQL()
	if f == "html" {
		sql = q.htmlSQL()
	}
	rows, err := s.Store.Pool.Query(ctx, sql, q.Args...)
	if err != nil {
		httpapi.Error(w, r, queryError(err))
		return
	}
	defer rows.Close()
	first := rows.Next()
	if !first {
		if err := rows.Err(); err != nil {
			httpapi.Error(w, r, queryError(err))
			return
		}
	}
	base := s.base(r) + "/collections/" + l.Name
	itemsURL := base + "/items"
	if f == "html" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/geo+json")
		w.Header().Set("Content-Crs", "<"+q.CRS.URI+">")
	}
	bw := pageWriters.Get().(*bufio.Writer)
	bw.Reset(w)
	defer func() {
		bw.Reset(nil) // drop the ResponseWriter (and whatever was not flushed)
		pageWriters.Put(bw)
	}()
	n := 0
	more := false
	matched := -1
	if f == "html" {
		fmt.Fprintf(bw, "<!doctype html><html><head><meta charset=\"utf-8\"><title>%s</title></head><body><h1>%s</h1><table border=\"1\"><tr><th>id</th><th>properties</th></tr>\n",
			html.EscapeString(l.Title), html.EscapeString(l.Title))
	} else {
		bw.WriteString(`{"type":"FeatureCollection","features":[`)
	}
	// The row loop copies PostgreSQL's bytes straight to the buffered
	// response: ids and feature texts are never decoded nor re-encoded.
	for ok := first; ok; ok = rows.Next() {
		if n == q.Limit {
			more = true
			break
		}
		raw := rows.RawValues()
		if n == 0 && q.CountInPage() {
			if c, err := strconv.Atoi(string(raw[2])); err == nil {
				matched = c
			}
		}
		if f == "html" {
			fmt.Fprintf(bw, "<tr><td><a href=\"%s/%s?f=html\">%s</a></td><td>%s</td></tr>\n", html.EscapeString(itemsURL), raw[0], raw[0], html.EscapeString(string(raw[1])))
		} else {
			if n > 0 {
				bw.WriteByte(',')
			}
			bw.WriteString(`{"type":"Feature","id":`)
			bw.Write(raw[0])
			bw.WriteByte(',')
			bw.Write(raw[1])
			bw.WriteString(`,"links":[{"href":"`)
			bw.WriteString(itemsURL)
			bw.WriteByte('/')
			bw.Write(raw[0])
			bw.WriteString(`","rel":"self","type":"application/geo+json"}]}`)
		}
		n++
		if bw.Buffered() == 0 && ctx.Err() != nil {
			return
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		// Headers are gone: cut the response so the client sees it broken.
		httpapi.LoggerFrom(ctx).Warn("items stream failed", "layer", l.Name, "err", err)
		panic(http.ErrAbortHandler)
	}
	switch {
	case matched >= 0:
	case more || (n == 0 && q.Offset > 0):
		var c int64
		if err := s.Store.Pool.QueryRow(ctx, q.CountSQL(), q.Args...).Scan(&c); err != nil {
			httpapi.LoggerFrom(ctx).Warn("items count failed", "layer", l.Name, "err", err)
			panic(http.ErrAbortHandler)
		}
		matched = int(c)
	default:
		matched = q.Offset + n
	}
	links := []Link{
		{pageURL(r, itemsURL, q.Offset, ""), "self", "application/geo+json", "this page"},
		{pageURL(r, itemsURL, q.Offset, "html"), "alternate", "text/html", "this page as HTML"},
		{base, "collection", "application/json", l.Title},
	}
	if more {
		links = append(links, Link{pageURL(r, itemsURL, q.Offset+q.Limit, ""), "next", "application/geo+json", "next page"})
	}
	if q.Offset > 0 {
		prev := q.Offset - q.Limit
		if prev < 0 {
			prev = 0
		}
		links = append(links, Link{pageURL(r, itemsURL, prev, ""), "prev", "application/geo+json", "previous page"})
	}
	if f == "html" {
		fmt.Fprintf(bw, "</table><p>%d of %d</p>", n, matched)
		for _, lk := range links {
			if lk.Rel == "next" || lk.Rel == "prev" {
				h := strings.Replace(lk.Href, "?", "?f=html&", 1) // the GeoJSON page's link has no f
				fmt.Fprintf(bw, "<a href=\"%s\">%s</a> ", html.EscapeString(h), lk.Rel)
			}
		}
		bw.WriteString("</body></html>")
	} else {
		fmt.Fprintf(bw, `],"numberReturned":%d,"numberMatched":%d,"timeStamp":"%s","links":`, n, matched, time.Now().UTC().Format(time.RFC3339))
		writeLinks(bw, links)
		bw.WriteString("}\n")
	}
	_ = bw.Flush()
}

func writeLinks(bw *bufio.Writer, links []Link) {
	bw.WriteByte('[')
	for i, l := range links {
		if i > 0 {
			bw.WriteByte(',')
		}
		fmt.Fprintf(bw, `{"href":%s,"rel":%s,"type":%s,"title":%s}`, strconv.Quote(l.Href), strconv.Quote(l.Rel), strconv.Quote(l.Type), strconv.Quote(l.Title))
	}
	bw.WriteByte(']')
}

// queryError maps database errors caused by the request (a bad cast in a
// filter, an impossible transform) to EINVALID.
func queryError(err error) error {
	if errs.Code(err) != errs.EINTERNAL {
		return err
	}
	if strings.Contains(err.Error(), "SQLSTATE 22") || strings.Contains(err.Error(), "SQLSTATE XX000") {
		return errs.Invalid("filter", "the query cannot be evaluated: %v", err)
	}
	return err
}

// handleItem handles the "GET /ogc/collections/{id}/items/{fid}" route.
func (s *Server) handleItem(w http.ResponseWriter, r *http.Request) {
	f, ok := s.read(w, r, "crs")
	if !ok {
		return
	}
	l, ok := s.layer(w, r)
	if !ok {
		return
	}
	id, ok := parseFID(w, r)
	if !ok {
		return
	}
	c, err := parseCRS("crs", r.URL.Query().Get("crs"))
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	where, args := l.Where(2)
	var fid, geom, props string
	err = s.Store.Pool.QueryRow(r.Context(), fmt.Sprintf("SELECT id::text, %s, (%s)::text FROM %s WHERE id = $1 AND %s",
		geomOut("geom", c), l.PropsSQL("", nil), l.TableIdent(), where), append([]any{id}, args...)...).Scan(&fid, &geom, &props)
	if err == pgx.ErrNoRows {
		httpapi.Error(w, r, &errs.Error{Code: errs.ENOTFOUND, Where: "featureId", Message: fmt.Sprintf("no feature %d in collection %s", id, l.Name)})
		return
	}
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	base := s.base(r) + "/collections/" + l.Name
	if f == "html" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><html><head><meta charset=\"utf-8\"><title>%s %s</title></head><body><h1>%s %s</h1><pre>%s</pre><pre>%s</pre><a href=\"%s/items?f=html\">all items</a></body></html>",
			html.EscapeString(l.Title), fid, html.EscapeString(l.Title), fid, html.EscapeString(props), html.EscapeString(geom), html.EscapeString(base))
		return
	}
	w.Header().Set("Content-Type", "application/geo+json")
	w.Header().Set("Content-Crs", "<"+c.URI+">")
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, `{"type":"Feature","id":%s,"geometry":%s,"properties":%s,"links":`, fid, geom, props)
	writeLinks(bw, []Link{
		{base + "/items/" + fid, "self", "application/geo+json", "this feature"},
		{base + "/items/" + fid + "?f=html", "alternate", "text/html", "this feature as HTML"},
		{base, "collection", "application/json", l.Title},
	})
	bw.WriteString("}\n")
	_ = bw.Flush()
}
