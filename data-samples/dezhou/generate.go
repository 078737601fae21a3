package dezhou

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// Source is the source name of every generated feature: re-importing the
// district upserts on (source, source_id) and never duplicates.
const Source = "dezhou-sample"

// Center is the middle of the generated district: the old city of Dezhou on
// the Grand Canal (南运河), WGS84.
var Center = [2]float64{116.30, 37.45}

// Block is the distance between parallel streets, in metres; every fourth
// street is an arterial.
const Block = 200.0

// Scale sets the size of the district.
type Scale struct {
	Name   string
	NX, NY int // blocks east-west and north-south
	// Projects is the number of major project sites.
	Projects int
	// Trunk lays the pipe networks at trunk level, as a utility models a
	// whole city (a skeleton model): water mains on every arterial
	// segment and one distribution pipe per local street between two
	// arterials, gas and district heating along the arterials, drainage
	// trunk sewers under the north-south streets. Buildings then have
	// no service pipe: their service connection is an attribute
	// (service_pipe: the water pipe they are tapped on, and
	// service_diameter_mm). Without Trunk every street segment carries
	// each network in 50 to 100 m pipes and every building a service
	// pipe from a junction to a connection node.
	Trunk bool
}

// Scales are the named sizes: small for tests (a few hundred buildings,
// loads in seconds), default for the demo (tens of thousands of buildings),
// large for benchmarks (about a million buildings and, with its networks
// at trunk level, about 100,000 pipes; streamed to disk).
var Scales = []Scale{
	{Name: "small", NX: 6, NY: 5, Projects: 6},
	{Name: "default", NX: 40, NY: 30, Projects: 40},
	{Name: "large", NX: 280, NY: 220, Projects: 42, Trunk: true},
}

// ScaleNamed returns the scale called name ("" is "default").
func ScaleNamed(name string) (Scale, error) {
	if name == "" {
		name = "default"
	}
	for _, s := range Scales {
		if s.Name == name {
			return s, nil
		}
	}
	return Scale{}, fmt.Errorf("dezhou: unknown scale %q (small, default or large)", name)
}

// Options say what to generate and where.
type Options struct {
	Scale Scale
	Seed  uint64
	// Dir receives one NDJSON file per layer, devices.ndjson and
	// manifest.json. It is created if missing. With Dir "" nothing is
	// written: Generate only counts (the manifest it returns) and calls
	// Feature.
	Dir string
	// Feature, if set, is called with every line written, by layer
	// ("devices" for device registrations); line is only valid during
	// the call.
	Feature func(layer string, line []byte)
	// Progress, if set, is called after each stage with the features
	// written so far.
	Progress func(stage string, written int64)
}

// LayerOrder is the order the layer files are loaded in: nodes before the
// pipes that reference them, poles before their cameras.
var LayerOrder = []string{"districts", "landuse", "water", "waterways", "roads", "parking_lots", "buildings", "project_sites", "network_nodes", "pipes", "smart_poles", "cameras"}

// Manifest describes a generated district; it is written to manifest.json.
type Manifest struct {
	Source string `json:"source"`
	Scale  string `json:"scale"`
	Seed   uint64 `json:"seed"`
	// Files maps each layer to its file (relative to the folder), in
	// LayerOrder.
	Layers []LayerFile `json:"layers"`
	// Devices is the file of device registrations (relative).
	Devices     string `json:"devices"`
	DeviceCount int64  `json:"device_count"`
	// Bounds is the built-up area [w,s,e,n]; CityBounds the whole
	// municipal area the districts and weather stations cover.
	Bounds     [4]float64 `json:"bounds"`
	CityBounds [4]float64 `json:"city_bounds"`
	// WeatherGap is the centre [lon,lat] of the deliberate hole in the
	// weather-station network.
	WeatherGap [2]float64 `json:"weather_gap"`
	// Tunnel is the utility tunnel's name (pipes with tunnel = this).
	Tunnel string `json:"tunnel"`
}

// LayerFile is one layer's file and feature count.
type LayerFile struct {
	Layer string `json:"layer"`
	File  string `json:"file"`
	Count int64  `json:"count"`
}

// Device is one device registration of devices.ndjson: the shape of
// POST /api/v1/devices with the bound feature named by its source id (the
// loader resolves it to the feature's database id).
type Device struct {
	ID        string         `json:"id"`
	Kind      string         `json:"kind"`
	Name      string         `json:"name"`
	Lon       float64        `json:"lon"`
	Lat       float64        `json:"lat"`
	IntervalS int            `json:"interval_s"`
	Feature   *FeatureRef    `json:"feature,omitempty"`
	Params    map[string]any `json:"params,omitempty"`
}

// FeatureRef names a feature by layer and source id; Source, when set,
// is the feature's source if it is not the district's own (a device on an
// imported OpenStreetMap feature).
type FeatureRef struct {
	Layer    string `json:"layer"`
	SourceID string `json:"source_id"`
	Source   string `json:"source,omitempty"`
}

// Device reporting intervals in seconds, by kind.
var intervals = map[string]int{
	"lamp": 300, "env": 300, "weather_station": 300, "pressure": 30, "flow": 60, "gas_leak": 60,
	"tunnel_water": 30, "tunnel_gas": 30, "tunnel_temp": 60, "parking": 120, "energy_meter": 900,
}

// TunnelName is the utility tunnel's name.
const TunnelName = "新湖大街综合管廊"

// zones of a block
const (
	zoneTowers = iota
	zoneMidrise
	zoneOldTown
	zoneCommercial
	zoneIndustrial
	zoneSchool
	zoneHospital
	zonePark
	zoneLake
	zoneProject
	zoneWaterworks
)

type gen struct {
	opts   Options
	f      frame
	nx, ny int
	W, H   float64
	files  map[string]*layerFile
	devs   *layerFile
	ln     line
	zones  []int
	projOf []int // block -> project index or -1
	city   [4]float64
	// tunnel row and columns
	tj, ti0, ti1 int
	// water supply row (plant), tank block
	ja          int
	tankBlock   int
	bcount      int
	nextName    map[int]int
	schoolN     int
	hospitalN   int
	parkN       int
	commercialN int
}

// Generate writes the district into opts.Dir and returns its manifest.
// The same options give byte-identical files.
func Generate(ctx context.Context, opts Options) (*Manifest, error) {
	if opts.Scale.NX < 4 || opts.Scale.NY < 4 {
		return nil, fmt.Errorf("dezhou: scale %q too small (need at least 4x4 blocks)", opts.Scale.Name)
	}
	if opts.Dir != "" {
		if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("dezhou: %w", err)
		}
	}
	g := &gen{opts: opts, nx: opts.Scale.NX, ny: opts.Scale.NY, files: map[string]*layerFile{}}
	g.W, g.H = float64(g.nx)*Block, float64(g.ny)*Block
	// The frame's origin is the south-west corner of the street grid,
	// placed so that the grid is centred on Center.
	f0 := newFrame(Center[0], Center[1])
	lon0, lat0 := f0.lonLat(xy{-g.W / 2, -g.H / 2})
	g.f = newFrame(lon0, lat0)
	g.ln.f = &g.f
	cw, ch := math.Max(g.W+6000, 24000), math.Max(g.H+6000, 20000)
	g.city = [4]float64{g.W/2 - cw/2, g.H/2 - ch/2, g.W/2 + cw/2, g.H/2 + ch/2}

	var err error
	for _, name := range LayerOrder {
		if g.files[name], err = createLayerFile(opts.Dir, name); err != nil {
			g.closeAll()
			return nil, err
		}
		g.files[name].seen = opts.Feature
	}
	if g.devs, err = createLayerFile(opts.Dir, "devices"); err != nil {
		g.closeAll()
		return nil, err
	}
	g.devs.seen = opts.Feature
	g.plan()
	stages := []struct {
		name string
		fn   func()
	}{
		{"districts and water", g.genBase},
		{"roads", g.genRoads},
		{"blocks", g.genBlocks},
		{"water network", g.genWater},
		{"gas network", g.genGas},
		{"heat network", g.genHeat},
		{"drainage", g.genDrainage},
		{"utility tunnel", g.genTunnel},
		{"smart poles", g.genPoles},
		{"weather stations", g.genWeather},
	}
	for _, st := range stages {
		if err := ctx.Err(); err != nil {
			g.closeAll()
			return nil, err
		}
		st.fn()
		if opts.Progress != nil {
			var n int64
			for _, name := range LayerOrder {
				n += g.files[name].count
			}
			opts.Progress(st.name, n)
		}
	}
	if err := g.closeAll(); err != nil {
		return nil, err
	}
	m := &Manifest{Source: Source, Scale: opts.Scale.Name, Seed: opts.Seed, Devices: "devices.ndjson", DeviceCount: g.devs.count, Tunnel: TunnelName}
	for _, name := range LayerOrder {
		m.Layers = append(m.Layers, LayerFile{Layer: name, File: name + ".ndjson", Count: g.files[name].count})
	}
	w, s := g.f.lonLat(xy{0, 0})
	e, n := g.f.lonLat(xy{g.W, g.H})
	m.Bounds = [4]float64{round7(w), round7(s), round7(e), round7(n)}
	w, s = g.f.lonLat(xy{g.city[0], g.city[1]})
	e, n = g.f.lonLat(xy{g.city[2], g.city[3]})
	m.CityBounds = [4]float64{round7(w), round7(s), round7(e), round7(n)}
	gx, gy := g.weatherGapCenter()
	lon, lat := g.f.lonLat(xy{gx, gy})
	m.WeatherGap = [2]float64{round7(lon), round7(lat)}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		return m, nil
	}
	if err := os.WriteFile(filepath.Join(opts.Dir, "manifest.json"), append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("dezhou: %w", err)
	}
	return m, nil
}

// ReadManifest reads dir/manifest.json.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("dezhou: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("dezhou: %s: %w", filepath.Join(dir, "manifest.json"), err)
	}
	return &m, nil
}

func round7(v float64) float64 { return math.Round(v*1e7) / 1e7 }

func (g *gen) closeAll() error {
	var first error
	for _, name := range LayerOrder {
		if lf := g.files[name]; lf != nil {
			if err := lf.close(); err != nil && first == nil {
				first = err
			}
		}
	}
	if g.devs != nil {
		if err := g.devs.close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// rng returns the random stream of one thing (a block, a street), so that
// each part of the city is the same whatever else changes.
func (g *gen) rng(kind, a, b int) *rand.Rand {
	return rand.New(rand.NewPCG(g.opts.Seed, uint64(kind)<<48|uint64(a)<<24|uint64(b)))
}

func (g *gen) emit(layer string) { g.files[layer].write(g.ln.b) }

func isArterial(i int) bool { return i%4 == 0 }

// x and y of street i / j.
func sx(i int) float64 { return float64(i) * Block }
func sy(j int) float64 { return float64(j) * Block }

// canalX is the Grand Canal's centre line west of the grid; riverY the
// river's (岔河) south of it.
func canalX(y float64) float64 { return -170 + 35*math.Sin(y/700) }
func riverY(x float64) float64 { return -140 + 25*math.Sin(x/900) }

func (g *gen) plan() {
	nb := g.nx * g.ny
	g.zones = make([]int, nb)
	g.projOf = make([]int, nb)
	r := g.rng(1, 0, 0)
	oldW, oldH := max(2, g.nx/5), max(2, g.ny/3)
	for bj := 0; bj < g.ny; bj++ {
		for bi := 0; bi < g.nx; bi++ {
			b := bj*g.nx + bi
			g.projOf[b] = -1
			switch {
			case bi < oldW && bj >= g.ny-oldH:
				g.zones[b] = zoneOldTown
			case bi >= g.nx-max(1, g.nx/5) && bj < g.ny/2:
				g.zones[b] = zoneIndustrial
			case (bi%4 == 0 || bi%4 == 3) && (bj%4 == 0 || bj%4 == 3) && r.Float64() < 0.6:
				g.zones[b] = zoneCommercial
			case r.Float64() < 0.6:
				g.zones[b] = zoneTowers
			default:
				g.zones[b] = zoneMidrise
			}
		}
	}
	// Fixed places: the lake (新湖) in the old town, the elevated tank in
	// the north-east.
	g.zones[(g.ny-1)*g.nx+0] = zoneLake
	g.tankBlock = (g.ny-1)*g.nx + g.nx - 1
	g.zones[g.tankBlock] = zoneWaterworks
	// Schools, hospitals, parks and project sites on shuffled blocks that
	// are not old town, lake or waterworks.
	var cand []int
	for b := 0; b < nb; b++ {
		if z := g.zones[b]; z != zoneOldTown && z != zoneLake && z != zoneWaterworks {
			cand = append(cand, b)
		}
	}
	r.Shuffle(len(cand), func(i, j int) { cand[i], cand[j] = cand[j], cand[i] })
	k := 0
	take := func(n, zone int) {
		for ; n > 0 && k < len(cand); n-- {
			g.zones[cand[k]] = zone
			k++
		}
	}
	projects := min(g.opts.Scale.Projects, len(projectNames))
	for p := 0; p < projects && k < len(cand); p++ {
		g.zones[cand[k]] = zoneProject
		g.projOf[cand[k]] = p
		k++
	}
	take(max(2, nb/25), zoneSchool)
	take(max(1, nb/90), zoneHospital)
	take(max(1, nb/30), zonePark)
	// Rows and columns of the networks.
	g.ja = (g.ny / 2 / 4) * 4
	g.tj = ((g.ny/2 + 2) / 4) * 4
	if g.tj == 0 {
		g.tj = 4
	}
	g.ti0, g.ti1 = (g.nx/4/4)*4, ((g.nx*3/4+3)/4)*4
	if g.ti1 <= g.ti0 {
		g.ti1 = min(g.nx, g.ti0+4)
	}
}

// genBase writes districts, the canal, the river and their waterways.
func (g *gen) genBase() {
	c := g.city
	xm, ys := g.W*0.55, -320.0
	areas := [][]xy{
		rect(c[0], ys, xm, c[3]),
		rect(xm, ys, c[2], c[3]),
		rect(c[0], c[1], c[2], ys),
	}
	for i, d := range districtNames {
		a := areas[i]
		area := (a[1].X - a[0].X) * (a[2].Y - a[1].Y) / 1e6
		g.ln.start("D-" + d.code)
		g.ln.str("name", d.zh)
		g.ln.str("name_en", d.en)
		g.ln.str("code", d.code)
		g.ln.int("population", int(area*[]float64{2600, 1100, 700}[i]))
		g.ln.multiPolygon(a)
		g.emit("districts")
	}
	// The canal: banks 30 m either side of its centre line.
	var east, west, center []xy
	for y := c[1]; y <= c[3]+1; y += 100 {
		x := canalX(y)
		east = append(east, xy{x + 30, y})
		center = append(center, xy{x, y})
	}
	for k := len(east) - 1; k >= 0; k-- {
		west = append(west, xy{east[k].X - 60, east[k].Y})
	}
	ring := append(append([]xy{}, east...), west...)
	ring = append(ring, east[0])
	g.ln.start("W-CANAL")
	g.ln.str("name", "南运河")
	g.ln.str("class", "canal")
	g.ln.multiPolygon(ring)
	g.emit("water")
	g.ln.start("WW-CANAL")
	g.ln.str("name", "南运河")
	g.ln.str("class", "canal")
	g.ln.multiLineString(center)
	g.emit("waterways")
	// The river from the canal eastwards.
	var south, north, rc []xy
	x0 := canalX(riverY(-150)) + 25
	for x := x0; x <= c[2]+1; x += 100 {
		y := riverY(x)
		south = append(south, xy{x, y - 25})
		rc = append(rc, xy{x, y})
	}
	for k := len(south) - 1; k >= 0; k-- {
		north = append(north, xy{south[k].X, south[k].Y + 50})
	}
	ring = append(append([]xy{}, south...), north...)
	ring = append(ring, south[0])
	g.ln.start("W-CHAHE")
	g.ln.str("name", "岔河")
	g.ln.str("class", "river")
	g.ln.multiPolygon(ring)
	g.emit("water")
	g.ln.start("WW-CHAHE")
	g.ln.str("name", "岔河")
	g.ln.str("class", "river")
	g.ln.multiLineString(rc)
	g.emit("waterways")
	// A green strip along the canal's east bank.
	g.ln.start("L-CANALPARK")
	g.ln.str("class", "park")
	g.ln.str("name", "运河风光带")
	g.ln.multiPolygon(rect(-95, 0, -20, g.H))
	g.emit("landuse")
}

func (g *gen) roadName(ns bool, i int) zhName {
	if isArterial(i) {
		return streetName(ns, true, i/4)
	}
	return streetName(ns, false, i-i/4-1)
}

func (g *gen) genRoads() {
	for i := 0; i <= g.nx; i++ {
		n := g.roadName(true, i)
		g.road("R-N"+strconv.Itoa(i), n, isArterial(i), xy{sx(i), 0}, xy{sx(i), g.H})
	}
	for j := 0; j <= g.ny; j++ {
		n := g.roadName(false, j)
		g.road("R-E"+strconv.Itoa(j), n, isArterial(j), xy{0, sy(j)}, xy{g.W, sy(j)})
	}
	// The road to the waterworks east of the grid.
	n := zhName{"水厂路", "Shuichang Lu"}
	g.road("R-WATERWORKS", n, false, xy{g.W, sy(g.ja)}, xy{g.W + 400, sy(g.ja)})
}

func (g *gen) road(id string, n zhName, arterial bool, a, b xy) {
	g.ln.start(id)
	g.ln.str("name", n.zh)
	g.ln.str("name_en", n.py)
	if arterial {
		g.ln.str("class", "primary")
		g.ln.int("lanes", 6)
	} else {
		g.ln.str("class", "residential")
		g.ln.int("lanes", 2)
	}
	g.ln.bool("oneway", false)
	g.ln.multiLineString([]xy{a, b})
	g.emit("roads")
}

// margin is the setback of a block's buildings from a street centre line.
func margin(i int) float64 {
	if isArterial(i) {
		return 20
	}
	return 11
}

func (g *gen) districtOf(p xy) string {
	if p.X < g.W*0.55 {
		return "德城区"
	}
	return "经济技术开发区"
}
