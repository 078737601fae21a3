package samples

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"
	"github.com/paulmach/orb/geojson"

	"github.com/citytwin/citytwin/data-samples/dezhou"
	"github.com/citytwin/citytwin/importers"
)

// OSMResult is what SetupOSM built.
type OSMResult struct {
	// Source is the source of the imported extract ("osm-NAME"); the
	// generated networks, poles and devices use Source + "-twin".
	Source  string
	Devices []dezhou.Device
	// Report is the extract's import report (nil when it was loaded
	// before).
	Report *importers.Report
}

var nonSource = regexp.MustCompile(`[^a-z0-9]+`)

// OSMSource is the source name of an extract's features: "osm-" and the
// file's base name ("monaco-latest.osm.pbf" -> "osm-monaco-latest").
func OSMSource(file string) string {
	b := strings.ToLower(filepath.Base(file))
	for _, ext := range []string{".pbf", ".bz2", ".osm", ".xml"} {
		b = strings.TrimSuffix(b, ext)
	}
	return "osm-" + strings.Trim(nonSource.ReplaceAllString(b, "-"), "-")
}

// roadClasses are the OSM highway classes that carry pipes and poles.
var roadClasses = map[string]bool{
	"motorway": false, "trunk": true, "primary": true, "secondary": true, "tertiary": true,
	"unclassified": true, "residential": true, "living_street": true, "pedestrian": true,
	"trunk_link": true, "primary_link": true, "secondary_link": true, "tertiary_link": true,
}

// SetupOSM builds a twin on a real OpenStreetMap extract: its buildings,
// roads, water, landuse, street lamps and parking through importers.Run
// (source OSMSource(file)), then the networks of the Dezhou district along
// its real streets: water (junctions at the street graph's vertices, valves
// next to them, hydrants, a service connection from the nearest junction
// to every building within 300 m), gas (mains with valves under the main
// streets, leak sensors), district heating supply and return under the
// main streets, drainage flowing by gravity to outfalls (near the
// extract's water, else at the south end of each street network), and a
// utility tunnel under the longest main street carrying the water main,
// both heating pipes, a power and a telecom cable, with its sensors; then
// smart poles every 30 to 40 m along the streets and the devices bound to
// them, written to dir/SOURCE-twin and loaded the same way.
func SetupOSM(ctx context.Context, env Env, file, dir string, seed uint64) (*OSMResult, error) {
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("samples: OSM extract: %w", err)
	}
	source := OSMSource(file)
	res := &OSMResult{Source: source}
	loaded, err := Loaded(ctx, env.Pool, source)
	if err != nil {
		return nil, err
	}
	if !loaded {
		start := time.Now()
		env.Logger.Info("importing the OpenStreetMap extract", "file", file, "source", source)
		rep, err := importers.Run(ctx, env.Store, env.Logger, importers.Options{Files: []string{file}, Source: source, SkipInvalid: true, Actor: "samples",
			Progress: func(p importers.Progress) {}})
		if err != nil {
			return nil, fmt.Errorf("samples: importing %s: %w", file, err)
		}
		res.Report = rep
		env.Logger.Info("extract imported", "layers", rep.Layers, "rejected", rep.Rejected, "duration", time.Since(start).Round(time.Millisecond))
	}
	twinDir := filepath.Join(dir, source+"-twin")
	if _, err := dezhou.ReadManifest(twinDir); err != nil {
		if err := generateAlongRoads(ctx, env, source, twinDir, seed); err != nil {
			os.RemoveAll(twinDir)
			return nil, err
		}
	}
	var have bool
	if err := env.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM network_nodes WHERE source = $1)`, source+"-twin").Scan(&have); err != nil {
		return nil, fmt.Errorf("samples: %w", err)
	}
	if !have {
		if _, err := Load(ctx, env.Store, env.Logger, twinDir); err != nil {
			return nil, err
		}
	}
	devs, err := ReadDevices(filepath.Join(twinDir, "devices.ndjson"))
	if err != nil {
		return nil, err
	}
	res.Devices = devs
	res.Source = source + "-twin"
	return res, nil
}

// lframe is a local metric frame about a point.
type lframe struct{ lon0, lat0, mx, my float64 }

func newLFrame(lon, lat float64) lframe {
	return lframe{lon, lat, 111320 * math.Cos(lat*math.Pi/180), 110574}
}
func (f lframe) xy(p orb.Point) [2]float64 {
	return [2]float64{(p[0] - f.lon0) * f.mx, (p[1] - f.lat0) * f.my}
}
func (f lframe) ll(x, y float64) orb.Point {
	return orb.Point{round7(f.lon0 + x/f.mx), round7(f.lat0 + y/f.my)}
}
func round7(v float64) float64 { return math.Round(v*1e7) / 1e7 }

// ndjson writes features to a layer file.
type ndjson struct {
	f     *os.File
	w     *bufio.Writer
	count int64
	err   error
}

func (n *ndjson) add(id string, g orb.Geometry, props map[string]any) {
	if n.err != nil {
		return
	}
	f := geojson.NewFeature(g)
	f.ID = id
	f.Properties = props
	b, err := json.Marshal(f)
	if err != nil {
		n.err = err
		return
	}
	n.w.Write(b)
	n.err = n.w.WriteByte('\n')
	n.count++
}

// edge is a street between two vertices of the street graph.
type edge struct {
	a, b int
	line orb.LineString
	road int
}

type roadLine struct {
	sourceID, name, class string
	line                  orb.LineString
}

// generateAlongRoads writes the networks, poles and devices of an imported
// extract into dir.
func generateAlongRoads(ctx context.Context, env Env, source, dir string, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("samples: %w", err)
	}
	// the extract's streets, in a stable order
	rows, err := env.Pool.Query(ctx, `SELECT source_id, coalesce(name, ''), coalesce(class, ''), ST_AsBinary(geom) FROM roads WHERE source = $1 ORDER BY source_id`, source)
	if err != nil {
		return fmt.Errorf("samples: %w", err)
	}
	var roads []roadLine
	for rows.Next() {
		var sid, name, class string
		var b []byte
		if err := rows.Scan(&sid, &name, &class, &b); err != nil {
			rows.Close()
			return fmt.Errorf("samples: %w", err)
		}
		if !roadClasses[class] {
			continue
		}
		g, err := wkb.Unmarshal(b)
		if err != nil {
			continue
		}
		switch g := g.(type) {
		case orb.LineString:
			roads = append(roads, roadLine{sid, name, class, g})
		case orb.MultiLineString:
			for _, l := range g {
				roads = append(roads, roadLine{sid, name, class, l})
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("samples: %w", err)
	}
	if len(roads) == 0 {
		return fmt.Errorf("samples: the extract has no streets (highway=%s) to lay networks along", strings.Join(sortedTrue(roadClasses), "|"))
	}
	var bound orb.Bound
	for i, r := range roads {
		if i == 0 {
			bound = r.line.Bound()
		}
		bound = bound.Union(r.line.Bound())
	}
	fr := newLFrame(bound.Center()[0], bound.Center()[1])
	rng := rand.New(rand.NewPCG(seed, 0x05a))

	files := map[string]*ndjson{}
	layers := []string{"network_nodes", "pipes", "smart_poles", "cameras"}
	for _, l := range layers {
		f, err := os.Create(filepath.Join(dir, l+".ndjson"))
		if err != nil {
			return fmt.Errorf("samples: %w", err)
		}
		defer f.Close()
		files[l] = &ndjson{f: f, w: bufio.NewWriterSize(f, 1<<20)}
	}
	devf, err := os.Create(filepath.Join(dir, "devices.ndjson"))
	if err != nil {
		return fmt.Errorf("samples: %w", err)
	}
	defer devf.Close()
	devw := bufio.NewWriter(devf)
	var ndev int64
	device := func(d dezhou.Device) {
		d.Lon, d.Lat = round7(d.Lon), round7(d.Lat)
		if d.IntervalS == 0 {
			d.IntervalS = map[string]int{"lamp": 300, "env": 300, "weather_station": 300, "pressure": 30, "flow": 60, "parking": 120, "energy_meter": 900,
				"gas_leak": 60, "tunnel_water": 30, "tunnel_gas": 30, "tunnel_temp": 60}[d.Kind]
		}
		b, _ := json.Marshal(d)
		devw.Write(append(b, '\n'))
		ndev++
	}
	nodes, pipes := files["network_nodes"], files["pipes"]

	// The street graph: vertices shared by two streets or ending one.
	type key [2]int64
	k := func(p orb.Point) key { return key{int64(math.Round(p[0] * 1e6)), int64(math.Round(p[1] * 1e6))} }
	uses := map[key]int{}
	for _, r := range roads {
		for i, p := range r.line {
			uses[k(p)]++
			if i == 0 || i == len(r.line)-1 {
				uses[k(p)]++
			}
		}
	}
	nodeID := map[key]int{}
	var nodePts []orb.Point
	vertex := func(p orb.Point) int {
		if id, ok := nodeID[k(p)]; ok {
			return id
		}
		nodeID[k(p)] = len(nodePts)
		nodePts = append(nodePts, p)
		return len(nodePts) - 1
	}
	var edges []edge
	for ri, r := range roads {
		start := 0
		for i := 1; i < len(r.line); i++ {
			if uses[k(r.line[i])] >= 2 || i == len(r.line)-1 {
				seg := append(orb.LineString(nil), r.line[start:i+1]...)
				a, b := vertex(seg[0]), vertex(seg[len(seg)-1])
				if a != b {
					edges = append(edges, edge{a, b, seg, ri})
				}
				start = i
			}
		}
	}
	// components (union-find); every component with 3 or more pipes gets
	// a supply: the largest a treatment plant, the others a tank
	comps := newUnionFind(len(nodePts))
	find := comps.find
	for _, e := range edges {
		comps.union(e.a, e.b)
	}
	size := map[int]int{}
	for _, e := range edges {
		size[find(e.a)]++
	}
	largest := -1
	for _, e := range edges { // first seen among the largest: deterministic
		if c := find(e.a); largest < 0 || size[c] > size[largest] {
			largest = c
		}
	}
	used := make([]bool, len(nodePts))
	for _, e := range edges {
		if size[find(e.a)] >= 3 {
			used[e.a], used[e.b] = true, true
		}
	}
	jid := func(i int) string { return fmt.Sprintf("W-J%d", i) }
	supplied := map[int]bool{}
	for i, p := range nodePts {
		if !used[i] {
			continue
		}
		kind, name := "junction", ""
		if c := find(i); !supplied[c] {
			supplied[c] = true
			kind, name = "tank", "水塔 Water tower"
			if c == largest {
				kind, name = "source", "水厂 Water works"
			}
		}
		nodes.add(jid(i), p, map[string]any{"network": "water", "kind": kind, "name": name, "depth_m": 1.5, "status": "ok"})
		if kind == "junction" && i%12 == 0 {
			device(dezhou.Device{ID: fmt.Sprintf("PR-J%d", i), Kind: "pressure", Name: "Pressure " + jid(i), Lon: p[0], Lat: p[1], Feature: &dezhou.FeatureRef{Layer: "network_nodes", SourceID: jid(i)}, Params: map[string]any{"base_mpa": 0.3}})
		}
	}
	length := func(l orb.LineString) float64 {
		var s float64
		for i := 1; i < len(l); i++ {
			a, b := fr.xy(l[i-1]), fr.xy(l[i])
			s += math.Hypot(b[0]-a[0], b[1]-a[1])
		}
		return s
	}
	// along returns the point t metres along l.
	along := func(l orb.LineString, t float64) (orb.Point, [2]float64) {
		for i := 1; i < len(l); i++ {
			a, b := fr.xy(l[i-1]), fr.xy(l[i])
			d := math.Hypot(b[0]-a[0], b[1]-a[1])
			if t <= d || i == len(l)-1 {
				f := 0.0
				if d > 0 {
					f = math.Min(1, t/d)
				}
				dir := [2]float64{0, 0}
				if d > 0 {
					dir = [2]float64{(b[0] - a[0]) / d, (b[1] - a[1]) / d}
				}
				return fr.ll(a[0]+f*(b[0]-a[0]), a[1]+f*(b[1]-a[1])), dir
			}
			t -= d
		}
		return l[len(l)-1], [2]float64{}
	}
	comp := make([]int, len(nodePts))
	for i := range comp {
		comp[i] = find(i)
	}
	nets := &osmNets{fr: fr, pts: nodePts, edges: edges, roads: roads, comp: comp, size: size, largest: largest, length: length,
		nodes: nodes, pipes: pipes, device: device, rng: rand.New(rand.NewPCG(seed, 0x6a5))}
	nets.pickTunnel()
	for ei, e := range edges {
		if !used[e.a] {
			continue
		}
		r := roads[e.road]
		pid := fmt.Sprintf("W-P%d", ei)
		kind, d := "distribution", 150.0
		switch r.class {
		case "trunk", "primary", "secondary", "trunk_link", "primary_link", "secondary_link":
			kind, d = "main", 400
		}
		l := length(e.line)
		depth, tunnel := 1.5, ""
		if nets.tunnel[ei] {
			depth, tunnel = 4, nets.tunnelName
		}
		pipes.add(pid, e.line, map[string]any{"network": "water", "kind": kind, "diameter_mm": d, "material": "DI", "depth_m": depth,
			"length_m": math.Round(l*10) / 10, "install_year": 1980 + rng.IntN(43), "status": "ok", "from_node": jid(e.a), "to_node": jid(e.b), "tunnel": tunnel})
		if l >= 30 {
			for end, near := range []int{e.a, e.b} {
				t := 5.0
				if end == 1 {
					t = l - 5
				}
				p, _ := along(e.line, t)
				st := "ok"
				if u := rng.Float64(); u < 0.03 {
					st = "broken"
				} else if u < 0.05 {
					st = "inaccessible"
				}
				nodes.add(fmt.Sprintf("W-V%d%c", ei, 'a'+end), p, map[string]any{"network": "water", "kind": "valve", "valve_state": "open", "status": st,
					"on_pipe": pid, "near_node": jid(near), "depth_m": 1.5})
			}
		}
		if l >= 120 {
			p, dir := along(e.line, l/2)
			h := fr.xy(p)
			hp := fr.ll(h[0]-dir[1]*6, h[1]+dir[0]*6)
			nodes.add(fmt.Sprintf("W-H%d", ei), hp, map[string]any{"network": "water", "kind": "hydrant", "status": "ok", "depth_m": 1.2})
			pipes.add(fmt.Sprintf("W-PH%d", ei), orb.LineString{nodePts[e.a], hp}, map[string]any{"network": "water", "kind": "pipe", "diameter_mm": 100.0,
				"status": "ok", "from_node": jid(e.a), "to_node": fmt.Sprintf("W-H%d", ei)})
		}
		if kind == "main" && ei%10 == 0 {
			p, _ := along(e.line, l/2)
			device(dezhou.Device{ID: fmt.Sprintf("FL-P%d", ei), Kind: "flow", Name: "Flow " + pid, Lon: p[0], Lat: p[1], Feature: &dezhou.FeatureRef{Layer: "pipes", SourceID: pid}, Params: map[string]any{"base_m3h": 400.0}})
		}
	}
	// gas, district heating, drainage and the utility tunnel
	nets.layGas()
	nets.layHeat()
	wet, err := waterNear(ctx, env, source, nodePts, 80)
	if err != nil {
		return err
	}
	nets.layDrainage(wet)
	nets.layTunnel()
	// building service connections from the nearest junction (grid index)
	const cell = 0.003
	grid := map[[2]int][]int{}
	for i, p := range nodePts {
		if used[i] {
			c := [2]int{int(math.Floor(p[0] / cell)), int(math.Floor(p[1] / cell))}
			grid[c] = append(grid[c], i)
		}
	}
	brows, err := env.Pool.Query(ctx, `SELECT source_id, ST_X(p), ST_Y(p), coalesce(use, ''), ST_Area(geom::geography)
		FROM (SELECT source_id, use, geom, ST_PointOnSurface(geom) p FROM buildings WHERE source = $1) b ORDER BY source_id`, source)
	if err != nil {
		return fmt.Errorf("samples: %w", err)
	}
	nb := 0
	for brows.Next() {
		var sid, use string
		var x, y, area float64
		if err := brows.Scan(&sid, &x, &y, &use, &area); err != nil {
			brows.Close()
			return fmt.Errorf("samples: %w", err)
		}
		nb++
		bp := orb.Point{x, y}
		c := [2]int{int(math.Floor(x / cell)), int(math.Floor(y / cell))}
		best, bd := -1, 300.0
		for dx := -1; dx <= 1; dx++ {
			for dy := -1; dy <= 1; dy++ {
				for _, i := range grid[[2]int{c[0] + dx, c[1] + dy}] {
					a, b := fr.xy(bp), fr.xy(nodePts[i])
					if d := math.Hypot(a[0]-b[0], a[1]-b[1]); d < bd {
						best, bd = i, d
					}
				}
			}
		}
		if best >= 0 {
			cid := "W-C" + sid
			nodes.add(cid, bp, map[string]any{"network": "water", "kind": "connection", "status": "ok", "depth_m": 1.2})
			pipes.add("W-S"+sid, orb.LineString{nodePts[best], bp}, map[string]any{"network": "water", "kind": "service", "diameter_mm": 32.0,
				"status": "ok", "from_node": jid(best), "to_node": cid, "length_m": math.Round(bd*10) / 10})
		}
		if nb%5 == 0 {
			device(dezhou.Device{ID: "EM-" + sanitizeID(sid), Kind: "energy_meter", Name: "Energy " + sid, Lon: x, Lat: y,
				Feature: &dezhou.FeatureRef{Layer: "buildings", SourceID: sid, Source: source}, Params: map[string]any{"base_kw": math.Round(math.Min(2000, area*0.05)*10) / 10, "use": useOf(use)}})
		}
	}
	brows.Close()
	if err := brows.Err(); err != nil {
		return fmt.Errorf("samples: %w", err)
	}
	// smart poles every 30 to 40 m along each street, 6 m to its right
	np := 0
	for ri, r := range roads {
		l := length(r.line)
		for t, kk := 10+rng.Float64()*10, 0; t < l-5; kk++ {
			p, dir := along(r.line, t)
			q := fr.xy(p)
			pp := fr.ll(q[0]+dir[1]*6, q[1]-dir[0]*6)
			id := fmt.Sprintf("SP-%d-%d", ri, kk)
			fns := []string{"light"}
			camera, env := np%9 == 0, np%10 == 5
			if camera {
				fns = append(fns, "camera")
			}
			if env {
				fns = append(fns, "env_sensor")
			}
			name := strings.TrimSpace(fmt.Sprintf("%s %d", r.name, kk+1))
			nodesPole := files["smart_poles"]
			nodesPole.add(id, pp, map[string]any{"name": name, "functions": fns, "height_m": 9.0, "road": r.name, "status": "ok"})
			device(dezhou.Device{ID: "LP-" + id[3:], Kind: "lamp", Name: name, Lon: pp[0], Lat: pp[1], Feature: &dezhou.FeatureRef{Layer: "smart_poles", SourceID: id}, Params: map[string]any{"watts": 120}})
			if env {
				device(dezhou.Device{ID: "EV-" + id[3:], Kind: "env", Name: name, Lon: pp[0], Lat: pp[1], Feature: &dezhou.FeatureRef{Layer: "smart_poles", SourceID: id}})
			}
			if camera {
				heading := math.Mod(math.Atan2(dir[0], dir[1])*180/math.Pi+360, 360)
				files["cameras"].add("CAM-"+id[3:], pp, map[string]any{"name": name, "pole": id, "direction_deg": math.Mod(math.Round(heading), 360), "fov_deg": 70.0, "range_m": 100.0, "status": "ok"})
			}
			np++
			t += 30 + rng.Float64()*10
		}
	}
	// the extract's own street lamps and parking lots get controllers
	if err := osmDevices(ctx, env, source, device); err != nil {
		return err
	}
	// weather stations on a 4.5 km lattice over the extract
	w, s := fr.xy(bound.Min), fr.xy(bound.Max)
	cols, rws := max(1, int(math.Ceil((s[0]-w[0])/4500))), max(1, int(math.Ceil((s[1]-w[1])/4500)))
	for ry := 0; ry < rws; ry++ {
		for cx := 0; cx < cols; cx++ {
			p := fr.ll(w[0]+(float64(cx)+0.5)*(s[0]-w[0])/float64(cols), w[1]+(float64(ry)+0.5)*(s[1]-w[1])/float64(rws))
			device(dezhou.Device{ID: fmt.Sprintf("WS-%d-%d", ry, cx), Kind: "weather_station", Name: fmt.Sprintf("Weather station %d-%d", ry, cx), Lon: p[0], Lat: p[1]})
		}
	}
	m := &dezhou.Manifest{Source: source + "-twin", Scale: "osm", Seed: seed, Devices: "devices.ndjson"}
	for _, l := range layers {
		f := files[l]
		if f.err == nil {
			f.err = f.w.Flush()
		}
		if f.err != nil {
			return fmt.Errorf("samples: writing %s: %w", l, f.err)
		}
		m.Layers = append(m.Layers, dezhou.LayerFile{Layer: l, File: l + ".ndjson", Count: f.count})
	}
	if err := devw.Flush(); err != nil {
		return fmt.Errorf("samples: %w", err)
	}
	m.DeviceCount = ndev
	m.Bounds = [4]float64{bound.Min[0], bound.Min[1], bound.Max[0], bound.Max[1]}
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("samples: %w", err)
	}
	env.Logger.Info("networks, poles and devices generated along the extract's streets", "streets", len(roads), "pipes", pipes.count, "poles", np, "devices", ndev)
	return nil
}

// osmDevices adds lamp controllers to the extract's street lamps and
// occupancy counters to its parking lots.
func osmDevices(ctx context.Context, env Env, source string, device func(dezhou.Device)) error {
	rows, err := env.Pool.Query(ctx, `SELECT source_id, ST_X(geom), ST_Y(geom) FROM smart_poles WHERE source = $1 AND 'light' = ANY(functions) ORDER BY source_id`, source)
	if err != nil {
		return fmt.Errorf("samples: %w", err)
	}
	for rows.Next() {
		var sid string
		var x, y float64
		if err := rows.Scan(&sid, &x, &y); err != nil {
			rows.Close()
			return fmt.Errorf("samples: %w", err)
		}
		device(dezhou.Device{ID: "LP-OSM-" + sanitizeID(sid), Kind: "lamp", Name: "Street lamp " + sid, Lon: x, Lat: y, Feature: &dezhou.FeatureRef{Layer: "smart_poles", SourceID: sid, Source: source}, Params: map[string]any{"watts": 120}})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("samples: %w", err)
	}
	rows, err = env.Pool.Query(ctx, `SELECT source_id, coalesce(capacity, greatest(5, ST_Area(geom::geography) / 25)::int), coalesce(name, ''),
		ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom))
		FROM parking_lots WHERE source = $1 ORDER BY source_id`, source)
	if err != nil {
		return fmt.Errorf("samples: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sid, name string
		var capacity int
		var x, y float64
		if err := rows.Scan(&sid, &capacity, &name, &x, &y); err != nil {
			return fmt.Errorf("samples: %w", err)
		}
		device(dezhou.Device{ID: "PK-" + sanitizeID(sid), Kind: "parking", Name: strings.TrimSpace("Parking " + name), Lon: x, Lat: y, Feature: &dezhou.FeatureRef{Layer: "parking_lots", SourceID: sid, Source: source}, Params: map[string]any{"capacity": capacity}})
	}
	return rows.Err()
}

var nonID = regexp.MustCompile(`[^A-Za-z0-9._:-]+`)

func sanitizeID(s string) string { return nonID.ReplaceAllString(s, "-") }

func useOf(osmUse string) string {
	switch osmUse {
	case "house", "residential", "apartments", "detached", "terrace", "":
		return "residential"
	case "industrial", "warehouse":
		return "industrial"
	case "hospital":
		return "hospital"
	case "retail", "commercial", "supermarket":
		return "retail"
	}
	return "office"
}

func sortedTrue(m map[string]bool) []string {
	var out []string
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// unionFind groups the nodes of a street network into connected components.
type unionFind []int

func newUnionFind(n int) unionFind {
	u := make(unionFind, n)
	for i := range u {
		u[i] = i
	}
	return u
}

// find returns x's component, halving the path on the way.
func (u unionFind) find(x int) int {
	for u[x] != x {
		u[x] = u[u[x]]
		x = u[x]
	}
	return x
}

// union joins a's component to b's.
func (u unionFind) union(a, b int) { u[u.find(a)] = u.find(b) }
