// Package crs names the coordinate reference systems of imported files: EPSG
// codes (reprojected by PostGIS), the offsets of Chinese web maps (GCJ-02,
// BD-09; converted here in Go, with an iterative inverse), and the WKT of
// Shapefile .prj files, recognised as EPSG codes.
package crs

import (
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/paulmach/orb"

	"github.com/citytwin/citytwin/internal/errs"
)

// CRS is a parsed CRS: an EPSG code for PostGIS, or a transform to WGS84 done
// in Go.
type CRS struct {
	// SRID is the EPSG code (4326 for lon/lat and for Go transforms).
	SRID int
	// Transform maps a (lon, lat) in the CRS to WGS84; nil for EPSG codes.
	Transform func(lon, lat float64) (float64, float64)
	Name      string
}

var (
	epsgRE = regexp.MustCompile(`(?i)^(?:epsg:|urn:ogc:def:crs:epsg:[0-9.]*:|https?://www\.opengis\.net/def/crs/epsg/[0-9.]+/)?(\d{4,6})$`)
)

// Parse reads a CRS as given on the command line or found in a file: "EPSG:n",
// a bare code, an OGC URN or URL, "CRS84", "gcj02", "bd09", or a WKT string.
// Returns EINVALID for anything else.
func Parse(s string) (CRS, error) {
	t := strings.TrimSpace(s)
	key := strings.ToLower(strings.ReplaceAll(strings.ReplaceAll(t, "-", ""), "_", ""))
	key = strings.Replace(key, "https://", "http://", 1)
	switch key {
	case "gcj02", "gcj":
		return CRS{SRID: 4326, Transform: GCJ02ToWGS84, Name: "gcj02"}, nil
	case "bd09", "bd09ll", "baidu":
		return CRS{SRID: 4326, Transform: BD09ToWGS84, Name: "bd09"}, nil
	case "wgs84", "crs84", "ogc:crs84", "urn:ogc:def:crs:ogc:1.3:crs84", "urn:ogc:def:crs:ogc::crs84",
		"http://www.opengis.net/def/crs/ogc/1.3/crs84", "http://www.opengis.net/def/crs/ogc/0/crs84":
		return CRS{SRID: 4326, Name: "EPSG:4326"}, nil
	}
	if rest, ok := strings.CutPrefix(strings.ToLower(t), "local:"); ok {
		return parseLocal(rest)
	}
	if m := epsgRE.FindStringSubmatch(t); m != nil {
		n, _ := strconv.Atoi(m[1])
		return CRS{SRID: n, Name: "EPSG:" + m[1]}, nil
	}
	if looksWKT(t) {
		n, err := FromWKT(t)
		if err != nil {
			return CRS{}, err
		}
		return CRS{SRID: n, Name: "EPSG:" + strconv.Itoa(n)}, nil
	}
	return CRS{}, errs.Invalid("crs", "unknown CRS %q: give EPSG:nnnn, gcj02 or bd09", s)
}

// parseLocal reads "LON,LAT[,SCALE]": local planar coordinates in metres
// (times SCALE metres per unit) whose origin (0, 0) is placed at LON, LAT,
// with x east and y north. It suits schematic models (EPANET, SWMM) that have
// no real CRS.
func parseLocal(s string) (CRS, error) {
	parts := strings.Split(s, ",")
	if len(parts) < 2 || len(parts) > 3 {
		return CRS{}, errs.Invalid("crs", "local placement is local:LON,LAT[,METRES_PER_UNIT], got %q", s)
	}
	var v [3]float64
	v[2] = 1
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return CRS{}, errs.Invalid("crs", "local placement: %q is not a number", p)
		}
		v[i] = f
	}
	lon0, lat0, scale := v[0], v[1], v[2]
	if lon0 < -180 || lon0 > 180 || lat0 < -85 || lat0 > 85 || scale <= 0 {
		return CRS{}, errs.Invalid("crs", "local placement: origin %g,%g or scale %g out of range", lon0, lat0, scale)
	}
	mPerDegLat := 111_132.954 - 559.822*math.Cos(2*lat0*math.Pi/180)
	mPerDegLon := 111_319.49 * math.Cos(lat0*math.Pi/180)
	return CRS{SRID: 4326, Name: "local:" + s, Transform: func(x, y float64) (float64, float64) {
		return lon0 + x*scale/mPerDegLon, lat0 + y*scale/mPerDegLat
	}}, nil
}

func looksWKT(s string) bool {
	u := strings.ToUpper(s)
	for _, p := range []string{"PROJCS[", "GEOGCS[", "PROJCRS[", "GEOGCRS[", "COMPD_CS[", "COMPOUNDCRS[", "GEODCRS["} {
		if strings.HasPrefix(u, p) {
			return true
		}
	}
	return false
}

var (
	authorityRE = regexp.MustCompile(`(?i)(?:AUTHORITY\[\s*"EPSG"\s*,\s*"?(\d+)"?\s*\]|ID\[\s*"EPSG"\s*,\s*(\d+)\s*\])\s*\]\s*$`)
	nameRE      = regexp.MustCompile(`^\s*[A-Za-z_]+\[\s*"([^"]*)"`)
	cmRE        = regexp.MustCompile(`(?i)GK_CM_(\d+)E|Gauss-Kruger CM (\d+)E`)
	gkZoneRE    = regexp.MustCompile(`(?i)GK_Zone_(\d+)|Gauss-Kruger zone (\d+)`)
	utmRE       = regexp.MustCompile(`(?i)UTM[_ ]zone[_ ](\d+)\s*([NS])`)
	cmParamRE   = regexp.MustCompile(`(?i)PARAMETER\[\s*"central_meridian"\s*,\s*([-0-9.]+)\s*\]`)
	feParamRE   = regexp.MustCompile(`(?i)PARAMETER\[\s*"false_easting"\s*,\s*([-0-9.]+)\s*\]`)
)

// FromWKT recognises the EPSG code of a WKT CRS (a Shapefile's .prj): by its
// outermost EPSG authority when it has one, else by name: WGS 84, CGCS2000
// (4490) and its Gauss-Kruger projections, 6-degree (zones 13-23: 4491-4501,
// CM 75E-135E: 4502-4512) and 3-degree (4513-4554), Web Mercator
// (3857), WGS 84 / UTM zones (326xx, 327xx), Amersfoort / RD New (28992) and
// RD New + NAP (7415). Returns EINVALID for a CRS it does not know.
func FromWKT(wkt string) (int, error) {
	w := strings.TrimSpace(wkt)
	if m := authorityRE.FindStringSubmatch(w); m != nil {
		s := m[1]
		if s == "" {
			s = m[2]
		}
		n, _ := strconv.Atoi(s)
		return n, nil
	}
	name := ""
	if m := nameRE.FindStringSubmatch(w); m != nil {
		name = m[1]
	}
	u := strings.ToUpper(w)
	kind := u[:strings.IndexByte(u, '[')]
	geographic := kind == "GEOGCS" || kind == "GEOGCRS" || kind == "GEODCRS"
	lname := strings.ToLower(name)
	cgcs := strings.Contains(lname, "cgcs2000") || strings.Contains(lname, "china_geodetic_coordinate_system_2000") || strings.Contains(lname, "china geodetic coordinate system 2000")
	switch {
	case kind == "COMPD_CS" || kind == "COMPOUNDCRS":
		if strings.Contains(lname, "rd new") && strings.Contains(lname, "nap") {
			return 7415, nil
		}
	case geographic && cgcs:
		return 4490, nil
	case geographic && (strings.Contains(lname, "wgs") && strings.Contains(lname, "84")):
		return 4326, nil
	case cgcs:
		if n := cgcsGK(name, w, u); n != 0 {
			return n, nil
		}
	case strings.Contains(lname, "pseudo") && strings.Contains(lname, "mercator"), strings.Contains(lname, "web_mercator"), strings.Contains(lname, "web mercator"):
		return 3857, nil
	case strings.Contains(lname, "wgs") && strings.Contains(lname, "84") && utmRE.MatchString(name):
		m := utmRE.FindStringSubmatch(name)
		z, _ := strconv.Atoi(m[1])
		if z >= 1 && z <= 60 {
			if strings.EqualFold(m[2], "N") {
				return 32600 + z, nil
			}
			return 32700 + z, nil
		}
	case strings.Contains(lname, "rd new") || strings.Contains(lname, "rd_new"):
		return 28992, nil
	}
	return 0, errs.Invalid("crs", "the file's CRS %q is not one citytwin recognises; give it with --crs EPSG:nnnn", name)
}

// cgcsGK recognises a CGCS2000 Gauss-Kruger projection, 0 if it is not one.
// Zones tell 6-degree (13-23) from 3-degree (25-45) by their number; a
// central meridian of a 6-degree zone (75E, 81E, ... 135E) is a 3-degree one
// too, with the same parameters, and the name says which ("3_Degree",
// "3-degree"; ESRI's CGCS2000_GK_CM_123E and EPSG's "Gauss-Kruger CM 123E"
// are 6-degree).
func cgcsGK(name, w, u string) int {
	lname := strings.ToLower(name)
	three := strings.Contains(lname, "3_degree") || strings.Contains(lname, "3-degree") || strings.Contains(lname, "3 degree")
	if m := cmRE.FindStringSubmatch(name); m != nil {
		if n := gkCM(atoi(m[1], m[2]), three); n != 0 {
			return n
		}
	}
	if m := gkZoneRE.FindStringSubmatch(name); m != nil {
		if n := gkZone(atoi(m[1], m[2])); n != 0 {
			return n
		}
	}
	// A Gauss-Kruger projection named otherwise: its parameters say.
	m := cmParamRE.FindStringSubmatch(w)
	if m == nil || !strings.Contains(u, "TRANSVERSE_MERCATOR") && !strings.Contains(u, "GAUSS_KRUGER") {
		return 0
	}
	cm, _ := strconv.ParseFloat(m[1], 64)
	fe := 500000.0
	if f := feParamRE.FindStringSubmatch(w); f != nil {
		fe, _ = strconv.ParseFloat(f[1], 64)
	}
	c := int(cm)
	if float64(c) != cm {
		return 0
	}
	if fe == 500000 {
		// The name does not say the zone width: a meridian both use reads
		// as 3-degree, as it always has here (the same parameters).
		return gkCM(c, true)
	}
	z := int((fe - 500000) / 1e6)
	if fe != float64(z)*1e6+500000 {
		return 0
	}
	switch n := gkZone(z); {
	case n >= 4513 && c == 3*z, n >= 4491 && n <= 4501 && c == 6*z-3:
		return n
	}
	return 0
}

// gkCM is the EPSG code of the CGCS2000 Gauss-Kruger CM projection at
// central meridian cm: 3-degree (4534-4554) when three or when cm is not a
// 6-degree zone's, else 6-degree (4502-4512); 0 outside China's zones.
func gkCM(cm int, three bool) int {
	switch {
	case cm < 75 || cm > 135 || cm%3 != 0:
		return 0
	case three || cm%6 != 3:
		return 4534 + (cm-75)/3
	}
	return 4502 + (cm-75)/6
}

// gkZone is the EPSG code of CGCS2000 Gauss-Kruger zone z: 6-degree zones
// 13-23 (4491-4501), 3-degree zones 25-45 (4513-4533); 0 for others.
func gkZone(z int) int {
	switch {
	case z >= 13 && z <= 23:
		return 4491 + z - 13
	case z >= 25 && z <= 45:
		return 4513 + z - 25
	}
	return 0
}

func atoi(a, b string) int {
	if a == "" {
		a = b
	}
	n, _ := strconv.Atoi(a)
	return n
}

// Apply returns g with every point mapped by fn (a new geometry).
func Apply(g orb.Geometry, fn func(lon, lat float64) (float64, float64)) orb.Geometry {
	pt := func(p orb.Point) orb.Point {
		x, y := fn(p[0], p[1])
		return orb.Point{x, y}
	}
	ring := func(r []orb.Point) []orb.Point {
		out := make([]orb.Point, len(r))
		for i, p := range r {
			out[i] = pt(p)
		}
		return out
	}
	switch g := g.(type) {
	case orb.Point:
		return pt(g)
	case orb.MultiPoint:
		return orb.MultiPoint(ring(g))
	case orb.LineString:
		return orb.LineString(ring(g))
	case orb.Ring:
		return orb.Ring(ring(g))
	case orb.MultiLineString:
		out := make(orb.MultiLineString, len(g))
		for i, ls := range g {
			out[i] = ring(ls)
		}
		return out
	case orb.Polygon:
		out := make(orb.Polygon, len(g))
		for i, r := range g {
			out[i] = ring(r)
		}
		return out
	case orb.MultiPolygon:
		out := make(orb.MultiPolygon, len(g))
		for i, p := range g {
			out[i] = Apply(p, fn).(orb.Polygon)
		}
		return out
	case orb.Collection:
		out := make(orb.Collection, len(g))
		for i, x := range g {
			out[i] = Apply(x, fn)
		}
		return out
	case orb.Bound:
		return Apply(g.ToPolygon(), fn)
	}
	return g
}

// Krasovsky 1940 ellipsoid, as GCJ-02 uses.
const (
	gcjA  = 6378245.0
	gcjEE = 0.00669342162296594323
	xPi   = math.Pi * 3000.0 / 180.0
)

// OutOfChina reports whether (lon, lat) lies outside the box where GCJ-02
// applies its offset.
func OutOfChina(lon, lat float64) bool {
	return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271
}

func tLat(x, y float64) float64 {
	r := -100.0 + 2.0*x + 3.0*y + 0.2*y*y + 0.1*x*y + 0.2*math.Sqrt(math.Abs(x))
	r += (20.0*math.Sin(6.0*x*math.Pi) + 20.0*math.Sin(2.0*x*math.Pi)) * 2.0 / 3.0
	r += (20.0*math.Sin(y*math.Pi) + 40.0*math.Sin(y/3.0*math.Pi)) * 2.0 / 3.0
	r += (160.0*math.Sin(y/12.0*math.Pi) + 320*math.Sin(y*math.Pi/30.0)) * 2.0 / 3.0
	return r
}

func tLon(x, y float64) float64 {
	r := 300.0 + x + 2.0*y + 0.1*x*x + 0.1*x*y + 0.1*math.Sqrt(math.Abs(x))
	r += (20.0*math.Sin(6.0*x*math.Pi) + 20.0*math.Sin(2.0*x*math.Pi)) * 2.0 / 3.0
	r += (20.0*math.Sin(x*math.Pi) + 40.0*math.Sin(x/3.0*math.Pi)) * 2.0 / 3.0
	r += (150.0*math.Sin(x/12.0*math.Pi) + 300.0*math.Sin(x/30.0*math.Pi)) * 2.0 / 3.0
	return r
}

// WGS84ToGCJ02 applies the GCJ-02 offset (the published forward formula).
func WGS84ToGCJ02(lon, lat float64) (float64, float64) {
	if OutOfChina(lon, lat) {
		return lon, lat
	}
	dLat := tLat(lon-105.0, lat-35.0)
	dLon := tLon(lon-105.0, lat-35.0)
	radLat := lat / 180.0 * math.Pi
	magic := math.Sin(radLat)
	magic = 1 - gcjEE*magic*magic
	sqrtMagic := math.Sqrt(magic)
	dLat = (dLat * 180.0) / ((gcjA * (1 - gcjEE)) / (magic * sqrtMagic) * math.Pi)
	dLon = (dLon * 180.0) / (gcjA / sqrtMagic * math.Cos(radLat) * math.Pi)
	return lon + dLon, lat + dLat
}

// GCJ02ToWGS84 inverts the GCJ-02 offset by fixed-point iteration, to about
// 1e-9 degrees (well under a millimetre).
func GCJ02ToWGS84(lon, lat float64) (float64, float64) {
	if OutOfChina(lon, lat) {
		return lon, lat
	}
	wlon, wlat := lon, lat
	for i := 0; i < 30; i++ {
		glon, glat := WGS84ToGCJ02(wlon, wlat)
		dlon, dlat := glon-lon, glat-lat
		wlon -= dlon
		wlat -= dlat
		if math.Abs(dlon) < 1e-10 && math.Abs(dlat) < 1e-10 {
			break
		}
	}
	return wlon, wlat
}

// GCJ02ToBD09 applies Baidu's BD-09 offset to a GCJ-02 point.
func GCJ02ToBD09(lon, lat float64) (float64, float64) {
	z := math.Sqrt(lon*lon+lat*lat) + 0.00002*math.Sin(lat*xPi)
	theta := math.Atan2(lat, lon) + 0.000003*math.Cos(lon*xPi)
	return z*math.Cos(theta) + 0.0065, z*math.Sin(theta) + 0.006
}

// BD09ToGCJ02 inverts GCJ02ToBD09 by iteration from Baidu's approximate
// inverse.
func BD09ToGCJ02(lon, lat float64) (float64, float64) {
	x, y := lon-0.0065, lat-0.006
	z := math.Sqrt(x*x+y*y) - 0.00002*math.Sin(y*xPi)
	theta := math.Atan2(y, x) - 0.000003*math.Cos(x*xPi)
	glon, glat := z*math.Cos(theta), z*math.Sin(theta)
	for i := 0; i < 30; i++ {
		blon, blat := GCJ02ToBD09(glon, glat)
		dlon, dlat := blon-lon, blat-lat
		glon -= dlon
		glat -= dlat
		if math.Abs(dlon) < 1e-10 && math.Abs(dlat) < 1e-10 {
			break
		}
	}
	return glon, glat
}

// WGS84ToBD09 converts WGS84 to BD-09.
func WGS84ToBD09(lon, lat float64) (float64, float64) {
	return GCJ02ToBD09(WGS84ToGCJ02(lon, lat))
}

// BD09ToWGS84 converts BD-09 to WGS84.
func BD09ToWGS84(lon, lat float64) (float64, float64) {
	return GCJ02ToWGS84(BD09ToGCJ02(lon, lat))
}
