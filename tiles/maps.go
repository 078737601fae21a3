package tiles

import (
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/go-spatial/tegola/atlas"
	"github.com/go-spatial/tegola/dict"
	"github.com/go-spatial/tegola/provider"
	"github.com/go-spatial/tegola/provider/postgis"
	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb/maptile"

	"github.com/citytwin/citytwin/spatial"
)

// Map names.
const (
	MapBase  = "base"
	MapInfra = "infra"
	MapHex   = "hex"
)

// MaxZoom is the highest zoom served.
const MaxZoom = 22

// Hex map zooms and resolutions: the H3 resolution of a hex tile is its
// zoom minus hexResOffset, between hexMinRes and hexMaxRes, so that a tile
// holds some tens to hundreds of cells.
const (
	hexMinZoom   = 9
	hexResOffset = 4
	hexMinRes    = 5
	hexMaxRes    = 11
	// hexMargin is the share of a tile by which the feature filter of a hex
	// tile reaches beyond it, so that a cell on the tile's edge counts all its
	// features (a cell is at most about a quarter of a tile wide).
	hexMargin = 0.5
)

// simplifyBelow is the zoom under which lines and polygons are simplified
// (to about one MVT grid unit) before encoding.
const simplifyBelow = 15

// hexCountLayers are the layers whose counts the hex map carries one by one.
var hexCountLayers = []string{"buildings", "pipes", "network_nodes", "smart_poles", "cameras", "project_sites", "parking_lots", "roads"}

// HexRes is the H3 resolution of the hex map at zoom z.
func HexRes(z int) int {
	r := z - hexResOffset
	if r < hexMinRes {
		r = hexMinRes
	}
	if r > hexMaxRes {
		r = hexMaxRes
	}
	return r
}

// tileMap is one served map: tegola's atlas.Map plus what citytwin needs to
// know about its layers.
type tileMap struct {
	name    string
	atlas   atlas.Map
	layers  []*spatial.Layer // registry layers, in drawing order (not for hex)
	minZoom int
	maxZoom int
	// sql holds each provider layer's SQL, with tegola's tokens.
	sql map[string]string
}

// hasLayer reports whether the map has an MVT layer named name.
func (m *tileMap) hasLayer(name string) bool {
	for _, l := range m.atlas.Layers {
		if l.Name == name {
			return true
		}
	}
	return false
}

// layerZooms returns the zoom range of the MVT layer name.
func (m *tileMap) layerZooms(name string) (minz, maxz int, ok bool) {
	minz, maxz = MaxZoom+1, -1
	for _, l := range m.atlas.Layers {
		if l.Name == name {
			ok = true
			minz = min(minz, int(l.MinZoom))
			maxz = max(maxz, int(l.MaxZoom))
		}
	}
	return minz, maxz, ok
}

// forTile returns the atlas map restricted to the layers drawn at zoom z,
// and to the MVT layer named layer when it is not empty.
func (m *tileMap) forTile(z int, layer string) atlas.Map {
	am := m.atlas
	var ls []atlas.Layer
	for _, l := range am.Layers {
		if int(l.MinZoom) <= z && z <= int(l.MaxZoom) && (layer == "" || l.Name == layer) {
			ls = append(ls, l)
		}
	}
	am.Layers = ls
	return am
}

// band is a zoom range of a layer over which its tile attributes are the same.
type band struct {
	minZoom, maxZoom int
	attrs            []spatial.Attribute
}

// bands splits l's zoom range where its attribute set or its simplification
// changes.
func bands(l *spatial.Layer) []band {
	lo, hi := max(l.MinZoom, 0), min(l.MaxZoom, MaxZoom)
	if lo > hi {
		return nil
	}
	cuts := map[int]bool{lo: true}
	for _, a := range l.Attributes {
		if a.TileMinZoom > lo && a.TileMinZoom <= hi {
			cuts[a.TileMinZoom] = true
		}
	}
	if simplifyBelow > lo && simplifyBelow <= hi {
		cuts[simplifyBelow] = true
	}
	starts := make([]int, 0, len(cuts))
	for z := range cuts {
		starts = append(starts, z)
	}
	sort.Ints(starts)
	out := make([]band, len(starts))
	for i, z := range starts {
		end := hi
		if i+1 < len(starts) {
			end = starts[i+1] - 1
		}
		b := band{minZoom: z, maxZoom: end}
		for _, a := range l.Attributes {
			if a.TileMinZoom <= z {
				b.attrs = append(b.attrs, a)
			}
		}
		out[i] = b
	}
	return out
}

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// attrExpr is the SQL expression of an attribute as MVT can carry it.
func attrExpr(a spatial.Attribute) string {
	col := pgx.Identifier{a.Name}.Sanitize()
	switch a.Type {
	case spatial.TypeTextArray:
		return fmt.Sprintf("array_to_string(%s, ',') AS %s", col, col)
	case spatial.TypeDate:
		return fmt.Sprintf("to_char(%s, 'YYYY-MM-DD') AS %s", col, col)
	case spatial.TypeTimestamp:
		return fmt.Sprintf(`to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS %s`, col, col)
	}
	return col
}

// layerSQL is the tegola mvt_postgis SQL of one band of layer l: the tile
// envelope in EPSG:4326 (!BBOX!, the table's CRS) picks rows through the GiST
// index; geometries go to 3857 for ST_AsMVTGeom.
func layerSQL(l *spatial.Layer, b band) string {
	g := "ST_Transform(geom, 3857)"
	if b.maxZoom < simplifyBelow && !strings.Contains(strings.ToLower(l.GeomType), "point") {
		// !PIXEL_WIDTH! is a 256th of the tile; a 16th of it is one unit of
		// the 4096 grid ST_AsMVTGeom snaps to.
		g = fmt.Sprintf("ST_Simplify(%s, !PIXEL_WIDTH! / 16, true)", g)
	}
	cols := []string{
		fmt.Sprintf("ST_AsMVTGeom(%s, ST_TileEnvelope(!Z!, !X!, !Y!), 4096, 64, true) AS geom", g),
		"id",
	}
	for _, a := range b.attrs {
		cols = append(cols, attrExpr(a))
	}
	where := "geom && !BBOX!"
	if l.User {
		where += " AND layer = " + quoteLiteral(l.Name)
	}
	return fmt.Sprintf("SELECT %s FROM %s WHERE %s", strings.Join(cols, ", "), l.TableIdent(), where)
}

// hexSQL is the SQL of the hex map's one layer: features counted by the
// parent at the zoom's resolution of their res-15 cell, drawn as the cell's
// hexagon from ct_hex_cells.
func hexSQL(layers []*spatial.Layer) string {
	res := fmt.Sprintf("LEAST(%d, GREATEST(%d, !ZOOM! - %d))", hexMaxRes, hexMinRes, hexResOffset)
	env := fmt.Sprintf("ST_Transform(ST_TileEnvelope(!Z!, !X!, !Y!, margin => %g), 4326)", hexMargin)
	var parts []string
	seenUser := false
	for _, l := range layers {
		if l.User {
			if seenUser {
				continue
			}
			seenUser = true
			parts = append(parts, fmt.Sprintf("SELECT 'user' AS l, h3 FROM user_features WHERE h3 IS NOT NULL AND geom && %s", env))
			continue
		}
		parts = append(parts, fmt.Sprintf("SELECT %s AS l, h3 FROM %s WHERE h3 IS NOT NULL AND geom && %s",
			quoteLiteral(l.Name), l.TableIdent(), env))
	}
	counts := []string{"count(*) AS count"}
	outs := []string{"a.count"}
	for _, n := range hexCountLayers {
		counts = append(counts, fmt.Sprintf("count(*) FILTER (WHERE f.l = %s) AS %s", quoteLiteral(n), n))
		outs = append(outs, "a."+n)
	}
	return fmt.Sprintf(`SELECT ST_AsMVTGeom(ST_Transform(c.geom, 3857), ST_TileEnvelope(!Z!, !X!, !Y!), 4096, 64, true) AS geom,
  a.cell AS id, to_hex(a.cell) AS cell, c.res::integer AS res, %s
FROM (
  SELECT ct_h3_parent(f.h3, %s) AS cell, %s
  FROM (%s) f
  GROUP BY 1
) a
JOIN ct_hex_cells c ON c.cell = a.cell
WHERE c.geom && !BBOX!`, strings.Join(outs, ", "), res, strings.Join(counts, ", "), strings.Join(parts, "\n  UNION ALL "))
}

// providerMu serialises tegola provider creation: tegola's postgis package
// keeps its providers in a package-level slice.
var providerMu sync.Mutex

// tegolaURI returns the database URL for tegola's pgx/v4 pool with its size.
func tegolaURI(dbURL string, maxConns int) (string, error) {
	u, err := url.Parse(dbURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Port() == "" || u.User == nil {
		return "", fmt.Errorf("tiles: tegola needs a postgres://user@host:port/db URL, got %q", redactURL(dbURL))
	}
	q := u.Query()
	q.Set("pool_max_conns", strconv.Itoa(maxConns))
	// pgx/v4's default protocol is kept: each tile's SQL (new text, its
	// envelope is literal) is prepared as a named statement and run from it.
	// Measured tile by tile on the bench district, the unnamed statement
	// (statement_cache_capacity=0, pgx/v5's describe_exec) and the describe
	// mode (which parses twice) cost about a quarter more per light tile,
	// more than the DEALLOCATE round trip the full cache of 512 statements
	// adds per new tile.
	if q.Get("application_name") == "" {
		q.Set("application_name", "citytwin-tiles")
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// buildMaps creates the tegola provider for the registry's layers and the
// maps that draw from it.
func buildMaps(dbURL string, maxConns int, layers []*spatial.Layer) (map[string]*tileMap, provider.MVTTiler, error) {
	uri, err := tegolaURI(dbURL, maxConns)
	if err != nil {
		return nil, nil, err
	}
	const providerName = "citytwin"
	var plays []map[string]interface{}
	maps := map[string]*tileMap{
		MapBase:  {name: MapBase, atlas: atlas.NewWebMercatorMap(MapBase), minZoom: MaxZoom, maxZoom: 0, sql: map[string]string{}},
		MapInfra: {name: MapInfra, atlas: atlas.NewWebMercatorMap(MapInfra), minZoom: MaxZoom, maxZoom: 0, sql: map[string]string{}},
		MapHex:   {name: MapHex, atlas: atlas.NewWebMercatorMap(MapHex), minZoom: hexMinZoom, maxZoom: MaxZoom, sql: map[string]string{}},
	}
	for _, l := range layers {
		m := maps[l.Group]
		if m == nil {
			continue
		}
		m.layers = append(m.layers, l)
		for _, b := range bands(l) {
			pname := fmt.Sprintf("%s__z%d", l.Name, b.minZoom)
			gt := strings.ToLower(l.GeomType)
			if gt == "geometry" {
				gt = "geometrycollection"
			}
			m.sql[pname] = layerSQL(l, b)
			plays = append(plays, map[string]interface{}{
				"name":               pname,
				"sql":                m.sql[pname],
				"geometry_fieldname": "geom",
				"id_fieldname":       "id",
				"geometry_type":      gt,
				"srid":               4326,
			})
			m.atlas.Layers = append(m.atlas.Layers, atlas.Layer{
				Name:              l.Name,
				ProviderLayerName: pname,
				MinZoom:           uint(b.minZoom),
				MaxZoom:           uint(b.maxZoom),
			})
			m.minZoom = min(m.minZoom, b.minZoom)
			m.maxZoom = max(m.maxZoom, b.maxZoom)
		}
	}
	maps[MapHex].sql["hex"] = hexSQL(layers)
	plays = append(plays, map[string]interface{}{
		"name":               "hex",
		"sql":                maps[MapHex].sql["hex"],
		"geometry_fieldname": "geom",
		"id_fieldname":       "id",
		"geometry_type":      "polygon",
		"srid":               4326,
	})
	maps[MapHex].atlas.Layers = []atlas.Layer{{Name: "hex", ProviderLayerName: "hex", MinZoom: hexMinZoom, MaxZoom: MaxZoom}}

	cfg := dict.Dict{
		"name":             providerName,
		"type":             postgis.MVTProviderType,
		"uri":              uri,
		"srid":             4326,
		"layers":           plays,
		"ssl_mode":         "disable",
		"application_name": "citytwin-tiles",
	}
	if q, err := url.Parse(uri); err == nil && q.Query().Get("sslmode") != "" {
		cfg["ssl_mode"] = q.Query().Get("sslmode")
	}
	providerMu.Lock()
	tu, err := provider.For(postgis.MVTProviderType, cfg, nil)
	providerMu.Unlock()
	if err != nil {
		return nil, nil, fmt.Errorf("tiles: tegola provider: %w", err)
	}
	if tu.Mvt == nil {
		return nil, nil, fmt.Errorf("tiles: tegola provider %s is not an MVT provider", postgis.MVTProviderType)
	}
	for _, m := range maps {
		m.atlas.SetMVTProvider(providerName, tu.Mvt)
	}
	return maps, tu.Mvt, nil
}

// BareSQL returns the one query that makes tile z/x/y of map mapName: the
// same layer SQL and ST_AsMVT calls tegola runs, with its tokens replaced
// (for benchmarks against the bare query). Empty when no layer is drawn at z.
func (s *Service) BareSQL(mapName string, z int, x, y uint32) (string, error) {
	m, ok := s.tileMap(mapName)
	if !ok {
		return "", fmt.Errorf("tiles: unknown map %q", mapName)
	}
	am := m.forTile(z, "")
	if len(am.Layers) == 0 {
		return "", nil
	}
	b := maptile.New(x, y, maptile.Zoom(z)).Bound()
	const r = 6378137.0
	merc := func(lon float64) float64 { return lon * math.Pi / 180 * r }
	pixelWidth := (merc(b.Max[0]) - merc(b.Min[0])) / 256
	rep := strings.NewReplacer(
		"!BBOX!", fmt.Sprintf("ST_MakeEnvelope(%.8f,%.8f,%.8f,%.8f,4326)", b.Min[0], b.Min[1], b.Max[0], b.Max[1]),
		"!ZOOM!", strconv.Itoa(z), "!Z!", strconv.Itoa(z), "!X!", strconv.Itoa(int(x)), "!Y!", strconv.Itoa(int(y)),
		"!PIXEL_WIDTH!", strconv.FormatFloat(pixelWidth, 'f', 8, 64),
	)
	var parts []string
	for _, l := range am.Layers {
		parts = append(parts, fmt.Sprintf("(SELECT ST_AsMVT(q, %s, 4096, 'geom', 'id') AS data FROM (%s) AS q)",
			quoteLiteral(l.Name), rep.Replace(m.sql[l.ProviderLayerName])))
	}
	return "SELECT (" + strings.Join(parts, " || ") + ") AS data", nil
}
