// Package gpkg reads the feature tables of an OGC GeoPackage (SQLite): every
// table listed in gpkg_contents as features, each row a feature whose
// geometry is the GeoPackage binary (GP header + WKB) of its geometry column
// and whose other columns are its properties. The table's srs_id gives the
// CRS (an EPSG code in practice).
package gpkg

import (
	"database/sql"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	_ "github.com/mattn/go-sqlite3" // the SQLite driver
	"github.com/paulmach/orb"

	"github.com/citytwin/citytwin/importers/internal/wkx"
	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/spatial/load"
)

// Table is one feature table.
type Table struct {
	Name, GeomColumn, PK string
	// SRID is the EPSG code of the table's coordinates, 0 for lon/lat or
	// an undefined CRS, -1 for a CRS that is not an EPSG one (see CRSName).
	SRID int
	// CRSName is the name of a non-EPSG CRS in gpkg_spatial_ref_sys.
	CRSName string
	// Layer is the table's name made a layer name.
	Layer string
}

// Scanner yields the features of a GeoPackage's feature tables in turn.
type Scanner struct {
	File   string
	Tables []Table

	db   *sql.DB
	ti   int
	rows *sql.Rows
	cols []string
	n    int64
	rec  *load.Record
	err  error
}

var nonName = regexp.MustCompile(`[^a-z0-9_]+`)

// LayerName turns a table name into a user layer name.
func LayerName(t string) string {
	n := strings.Trim(nonName.ReplaceAllString(strings.ToLower(t), "_"), "_")
	if n == "" || n[0] < 'a' || n[0] > 'z' {
		n = "t_" + n
	}
	if len(n) > 63 {
		n = n[:63]
	}
	return n
}

// Open opens the GeoPackage at path read-only and lists its feature tables.
// Returns EINVALID when it is not a GeoPackage.
func Open(path, file string) (*Scanner, error) {
	db, err := sql.Open("sqlite3", "file:"+url.PathEscape(path)+"?mode=ro&immutable=1")
	if err != nil {
		return nil, errs.Invalid(file, "cannot open: %v", err)
	}
	s := &Scanner{File: file, db: db}
	// srs_id 0 and -1 are the undefined geographic and cartesian CRSs; an
	// srs_id is often its EPSG code, but need not be (QGIS numbers custom
	// CRSs from 100000), so the organization's code decides.
	rows, err := db.Query(`SELECT g.table_name, g.column_name, g.srs_id,
			coalesce(upper(s.organization), ''), coalesce(s.organization_coordsys_id, 0), coalesce(s.srs_name, '')
		FROM gpkg_geometry_columns g
		JOIN gpkg_contents c ON c.table_name = g.table_name
		LEFT JOIN gpkg_spatial_ref_sys s ON s.srs_id = g.srs_id
		WHERE c.data_type = 'features' ORDER BY g.table_name`)
	if err != nil {
		db.Close()
		return nil, errs.Invalid(file, "not a GeoPackage (%v)", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t Table
		var org, name string
		var srsID, code int
		if err := rows.Scan(&t.Name, &t.GeomColumn, &srsID, &org, &code, &name); err != nil {
			db.Close()
			return nil, errs.Invalid(file, "gpkg_geometry_columns: %v", err)
		}
		switch {
		case srsID <= 0, org == "EPSG" && code == 4326:
		case org == "EPSG" && code > 0:
			t.SRID = code
		default:
			t.SRID, t.CRSName = -1, name
			if t.CRSName == "" {
				t.CRSName = fmt.Sprintf("srs_id %d", srsID)
			}
		}
		t.Layer = LayerName(t.Name)
		s.Tables = append(s.Tables, t)
	}
	if err := rows.Err(); err != nil {
		db.Close()
		return nil, errs.Invalid(file, "gpkg_geometry_columns: %v", err)
	}
	if len(s.Tables) == 0 {
		db.Close()
		return nil, errs.Invalid(file, "the GeoPackage has no feature table")
	}
	for i := range s.Tables {
		t := &s.Tables[i]
		pr, err := db.Query(`SELECT name, pk FROM pragma_table_info(?)`, t.Name)
		if err != nil {
			db.Close()
			return nil, errs.Invalid(file, "table %s: %v", t.Name, err)
		}
		for pr.Next() {
			var name string
			var pk int
			if pr.Scan(&name, &pk) == nil && pk == 1 {
				t.PK = name
			}
		}
		pr.Close()
	}
	return s, nil
}

// Select keeps only the feature table named name (its table name, or the
// layer name made of it). Returns EINVALID, listing the feature tables, when
// there is none of that name.
func (s *Scanner) Select(name string) error {
	for _, t := range s.Tables {
		if t.Name == name {
			s.Tables = []Table{t}
			return nil
		}
	}
	for _, t := range s.Tables {
		if strings.EqualFold(t.Name, name) || t.Layer == name {
			s.Tables = []Table{t}
			return nil
		}
	}
	names := make([]string, len(s.Tables))
	for i, t := range s.Tables {
		names[i] = t.Name
	}
	return errs.Invalid("table", "%s has no feature table %q (its feature tables: %s)", s.File, name, strings.Join(names, ", "))
}

// CRS returns the CRS of the tables ("EPSG:n") when they share one, "" for
// lon/lat or when they differ (each record then carries its table's SRID).
// Returns EINVALID for a table whose CRS is not an EPSG one: the import
// needs --crs for it.
func (s *Scanner) CRS() (string, error) {
	srid := s.Tables[0].SRID
	for _, t := range s.Tables {
		if t.SRID < 0 {
			return "", errs.Invalid("crs", "%s: table %s is in %q, which is not an EPSG CRS; give its EPSG code with --crs", s.File, t.Name, t.CRSName)
		}
		if t.SRID != srid {
			srid = 0
		}
	}
	if srid == 0 {
		return "", nil
	}
	return fmt.Sprintf("EPSG:%d", srid), nil
}

// Layers lists the tables' layer names.
func (s *Scanner) Layers() []string {
	out := make([]string, len(s.Tables))
	for i, t := range s.Tables {
		out[i] = t.Layer
	}
	return out
}

func quote(id string) string { return `"` + strings.ReplaceAll(id, `"`, `""`) + `"` }

// Scan advances to the next feature.
func (s *Scanner) Scan() bool {
	for s.err == nil {
		if s.rows == nil {
			if s.ti >= len(s.Tables) {
				return false
			}
			rows, err := s.db.Query(`SELECT * FROM ` + quote(s.Tables[s.ti].Name))
			if err != nil {
				s.err = errs.Invalid(s.File, "table %s: %v", s.Tables[s.ti].Name, err)
				return false
			}
			s.rows = rows
			s.cols, _ = rows.Columns()
		}
		if !s.rows.Next() {
			if err := s.rows.Err(); err != nil {
				s.err = errs.Invalid(s.File, "table %s: %v", s.Tables[s.ti].Name, err)
			}
			s.rows.Close()
			s.rows = nil
			s.ti++
			continue
		}
		t := s.Tables[s.ti]
		vals := make([]any, len(s.cols))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := s.rows.Scan(ptrs...); err != nil {
			s.err = errs.Invalid(s.File, "table %s: %v", t.Name, err)
			return false
		}
		s.n++
		props := map[string]any{}
		var blob []byte
		id := ""
		for i, c := range s.cols {
			switch v := vals[i].(type) {
			case []byte:
				if c == t.GeomColumn {
					blob = v
				} else {
					props[c] = string(v)
				}
			default:
				if c != t.GeomColumn {
					props[c] = v
				}
			}
			if c == t.PK && vals[i] != nil {
				id = fmt.Sprint(vals[i])
				delete(props, c)
			}
		}
		rec := &load.Record{File: s.File, Num: s.n, Layer: t.Layer, SourceID: id, Props: props, SRID: max(t.SRID, 0)}
		if len(s.Tables) > 1 {
			rec.SourceID = t.Name + "/" + id
		}
		rec.Decode = func(r *load.Record) error {
			g, err := Geometry(blob)
			if err != nil {
				return err
			}
			r.Geom = g
			return nil
		}
		s.rec = rec
		return true
	}
	return false
}

// Record returns the current feature.
func (s *Scanner) Record() *load.Record { return s.rec }

// Err returns the error that stopped the scan.
func (s *Scanner) Err() error { return s.err }

// Close closes the database.
func (s *Scanner) Close() error {
	if s.rows != nil {
		s.rows.Close()
	}
	return s.db.Close()
}

// Geometry decodes a GeoPackage binary geometry. Returns EINVALID for a
// malformed or empty one.
func Geometry(b []byte) (orb.Geometry, error) {
	if len(b) < 8 || b[0] != 'G' || b[1] != 'P' {
		return nil, errs.Invalid("geometry", "not a GeoPackage geometry")
	}
	flags := b[3]
	if flags&0x20 != 0 {
		return nil, errs.Invalid("geometry", "extended GeoPackage geometries are not supported")
	}
	if flags&0x10 != 0 {
		return nil, errs.Invalid("geometry", "empty geometry")
	}
	env := map[byte]int{0: 0, 1: 32, 2: 48, 3: 48, 4: 64}[(flags>>1)&7]
	if (flags>>1)&7 > 4 {
		return nil, errs.Invalid("geometry", "bad envelope indicator")
	}
	if len(b) < 8+env {
		return nil, errs.Invalid("geometry", "truncated GeoPackage geometry")
	}
	g, _, err := wkx.WKB(b[8+env:])
	if err != nil {
		return nil, errs.Invalid("geometry", "bad WKB: %v", err)
	}
	return g, nil
}
