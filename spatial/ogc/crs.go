package ogc

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"
	"github.com/paulmach/orb/project"

	"github.com/citytwin/citytwin/internal/errs"
)

// CRS is a coordinate reference system the API reads and writes (Part 2).
type CRS struct {
	URI  string
	SRID int
	// LatLon is true when the CRS's axis order is latitude first (EPSG:4326
	// and EPSG:4490 as URIs), so coordinates are flipped on the wire.
	LatLon bool
}

// CRS84 is the default CRS of OGC API - Features (lon, lat on WGS 84).
const CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

// CRSs are the supported CRSs: CRS84 first (the default and storage CRS).
var CRSs = []CRS{
	{URI: CRS84, SRID: 4326},
	{URI: "http://www.opengis.net/def/crs/EPSG/0/4326", SRID: 4326, LatLon: true},
	{URI: "http://www.opengis.net/def/crs/EPSG/0/3857", SRID: 3857},
	{URI: "http://www.opengis.net/def/crs/EPSG/0/4490", SRID: 4490, LatLon: true},
}

// crsURIs lists the supported CRS URIs.
func crsURIs() []string {
	out := make([]string, len(CRSs))
	for i, c := range CRSs {
		out[i] = c.URI
	}
	return out
}

// parseCRS resolves a CRS URI (or a safe CURIE like [EPSG:3857]) named by
// param. An empty value is CRS84.
func parseCRS(param, v string) (CRS, error) {
	if v == "" {
		return CRSs[0], nil
	}
	s := strings.TrimSpace(v)
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = strings.Trim(s, "[]")
	}
	switch {
	case strings.EqualFold(s, "OGC:CRS84"), strings.EqualFold(s, "CRS84"):
		return CRSs[0], nil
	case strings.HasPrefix(strings.ToUpper(s), "EPSG:"):
		s = "http://www.opengis.net/def/crs/EPSG/0/" + s[5:]
	}
	s = strings.Replace(s, "https://", "http://", 1)
	for _, c := range CRSs {
		if c.URI == s {
			return c, nil
		}
	}
	return CRS{}, errs.Invalid(param, "unsupported CRS %q; supported: %s", v, strings.Join(crsURIs(), ", "))
}

// geomOut is the SQL of the geometry column as GeoJSON text in crs.
func geomOut(col string, c CRS) string {
	g := col
	if c.SRID != 4326 {
		g = "ST_Transform(" + g + ", " + strconv.Itoa(c.SRID) + ")"
	}
	if c.LatLon {
		g = "ST_FlipCoordinates(" + g + ")"
	}
	digits := "7" // degrees: 7 decimals are about 1 cm
	if c.SRID == 3857 {
		digits = "3"
	}
	return "ST_AsGeoJSON(" + g + ", " + digits + ")"
}

// contentCRS is the CRS of a write's body (Part 2: the Content-Crs header,
// a URI in angle brackets); CRS84 when the header is absent.
func contentCRS(r *http.Request) (CRS, error) {
	v := strings.TrimSpace(r.Header.Get("Content-Crs"))
	v = strings.TrimSuffix(strings.TrimPrefix(v, "<"), ">")
	return parseCRS("Content-Crs", v)
}

// toStorage returns g, written in c, as lon/lat on WGS 84, the storage CRS:
// axes swapped for a latitude-first CRS, and reprojected by PostGIS from
// another.
func (s *Server) toStorage(ctx context.Context, g orb.Geometry, c CRS) (orb.Geometry, error) {
	if c.LatLon {
		g = project.Geometry(orb.Clone(g), func(p orb.Point) orb.Point { return orb.Point{p[1], p[0]} })
	}
	if c.SRID == 4326 {
		return g, nil
	}
	in, err := wkb.Marshal(g)
	if err != nil {
		return nil, errs.Invalid("geometry", "cannot encode: %v", err)
	}
	var out []byte
	if err := s.Store.Pool.QueryRow(ctx, `SELECT ST_AsBinary(ST_Transform(ST_GeomFromWKB($1, $2), 4326))`, in, c.SRID).Scan(&out); err != nil {
		return nil, errs.Invalid("geometry", "cannot reproject from %s (Content-Crs): %v", c.URI, err)
	}
	if g, err = wkb.Unmarshal(out); err != nil {
		return nil, errs.Invalid("geometry", "after reprojection: %v", err)
	}
	return g, nil
}
