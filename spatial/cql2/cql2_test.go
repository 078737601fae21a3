package cql2

import (
	"strings"
	"testing"

	"github.com/citytwin/citytwin/internal/errs"
)

func resolver(name string) (Column, bool) {
	switch name {
	case "name", "use":
		return Column{SQL: `"` + name + `"`, Type: "text"}, true
	case "floors":
		return Column{SQL: `"floors"`, Type: "integer"}, true
	case "height_m":
		return Column{SQL: `"height_m"`, Type: "number"}, true
	case "start_date":
		return Column{SQL: `"start_date"`, Type: "date"}, true
	case "updated_at":
		return Column{SQL: "updated_at", Type: "timestamp"}, true
	case "oneway":
		return Column{SQL: "oneway", Type: "boolean"}, true
	case "geometry":
		return Column{SQL: "geom", Type: "geometry"}, true
	}
	return Column{}, false
}

func TestCompile(t *testing.T) {
	cases := []struct {
		in, sql string
		nargs   int
	}{
		{"floors > 3", `("floors" > $1::double precision)`, 1},
		{"floors >= 3 AND use = 'office'", `(("floors" >= $1::double precision) AND ("use" = $2::text))`, 2},
		{"NOT (name LIKE 'A%' OR name IS NULL)", `(NOT (("name" LIKE $1::text) OR ("name" IS NULL)))`, 1},
		{"use IN ('a', 'b','c')", `("use" IN ($1::text, $2::text, $3::text))`, 3},
		{"use NOT IN ('a')", `("use" NOT IN ($1::text))`, 1},
		{"height_m BETWEEN 1.5 AND 2e3", `("height_m" BETWEEN $1::double precision AND $2::double precision)`, 2},
		{"start_date > DATE('2020-01-01')", `("start_date" > $1::date)`, 1},
		{"start_date = '2020-01-01'", `("start_date" = $1::date)`, 1},
		{"updated_at < TIMESTAMP('2020-01-01T00:00:00Z')", `(updated_at < $1::timestamptz)`, 1},
		{"oneway = TRUE", `(oneway = $1::boolean)`, 1},
		{"TRUE", `TRUE`, 0},
		{`"name" <> 'x'`, `("name" <> $1::text)`, 1},
		{"S_INTERSECTS(geometry, POINT(116.3 37.4))", `ST_Intersects(geom, ST_SetSRID(ST_GeomFromWKB($1), 4326))`, 1},
		{"s_within(geometry, BBOX(1,2,3,4))", `ST_Within(geom, ST_SetSRID(ST_GeomFromWKB($1), 4326))`, 1},
		{"S_INTERSECTS(geometry, POLYGON((0 0, 1 0, 1 1, 0 0)))", `ST_Intersects(geom, ST_SetSRID(ST_GeomFromWKB($1), 4326))`, 1},
		{"S_INTERSECTS(geometry, MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)),((2 2, 3 2, 3 3, 2 2))))", `ST_Intersects(geom, ST_SetSRID(ST_GeomFromWKB($1), 4326))`, 1},
		{"S_CROSSES(geometry, LINESTRING(0 0, 1 1))", `ST_Crosses(geom, ST_SetSRID(ST_GeomFromWKB($1), 4326))`, 1},
		{"name = 'x''; DROP TABLE buildings; --'", `("name" = $1::text)`, 1},
	}
	for _, tc := range cases {
		e, err := Parse(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		sql, args, err := Compile(e, resolver, Options{FirstArg: 1})
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if sql != tc.sql || len(args) != tc.nargs {
			t.Errorf("%s:\n got %s (%d args)\nwant %s (%d args)", tc.in, sql, len(args), tc.sql, tc.nargs)
		}
	}
	// Hostile strings stay parameters.
	e, _ := Parse("name = 'x''; DROP TABLE buildings; --'")
	sql, args, _ := Compile(e, resolver, Options{FirstArg: 5})
	if strings.Contains(sql, "DROP") || args[0] != "x'; DROP TABLE buildings; --" || !strings.Contains(sql, "$5") {
		t.Fatalf("%s %v", sql, args)
	}
}

func TestErrors(t *testing.T) {
	for _, in := range []string{
		"", "floors >", "floors > > 3", "(floors > 3", "floors > 3)", "nosuch = 1", "name = 3", "floors = 'x'",
		"name LIKE 3", "floors LIKE 'a'", "S_INTERSECTS(geometry, POINT(1))", "S_INTERSECTS(name, POINT(1 2))",
		"S_INTERSECTS(geometry, POLYGON((0 0, 1 1)))", "use IN ()", "'unterminated", "floors BETWEEN 1", "start_date = 'yesterday'",
		"S_WITHIN(geometry, POINT(500 1))", "name = 'a' AND", "floors ~ 3", "geometry = 1", strings.Repeat("(", 100) + "TRUE" + strings.Repeat(")", 100),
	} {
		e, err := Parse(in)
		if err == nil {
			_, _, err = Compile(e, resolver, Options{})
		}
		if err == nil {
			t.Errorf("%q: no error", in)
			continue
		}
		if errs.Code(err) != errs.EINVALID || errs.Where(err) != "filter" {
			t.Errorf("%q: %v (code %s, where %s)", in, err, errs.Code(err), errs.Where(err))
		}
	}
}

// FuzzParse checks that no input makes the parser or the compiler panic or
// hang.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"floors > 3 AND use IN ('a','b')", "NOT name LIKE 'x%'", "S_INTERSECTS(geometry, POLYGON((0 0, 1 0, 1 1, 0 0)))",
		"height_m BETWEEN 1 AND 2 OR name IS NOT NULL", "start_date > DATE('2020-01-01')", "S_WITHIN(geometry, BBOX(1,2,3,4))",
		"GEOMETRYCOLLECTION(POINT(1 2), LINESTRING(0 0, 1 1))", `"name" = 'it''s'`, "((((TRUE))))", "-1.5e3 < floors",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			if errs.Code(err) != errs.EINVALID {
				t.Fatalf("%q: error not EINVALID: %v", s, err)
			}
			return
		}
		_, _, _ = Compile(e, resolver, Options{FirstArg: 3, LatLon: true})
	})
}
