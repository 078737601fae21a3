package tiles_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"
	"github.com/uber/h3-go/v4"

	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/config"
	"github.com/citytwin/citytwin/spatial"
	"github.com/citytwin/citytwin/tiles"
)

func TestTileJSONAndStyle(t *testing.T) {
	a := apptest.MustRun(t, func(c *config.Config) { c.PublicReads = true })
	insertBuilding(t, a.Pool, square(centre, 0.0004), "residential", 10, 3, "A", "")
	host := strings.TrimPrefix(a.URL(), "http://")
	key := apptest.Key(t, a, auth.Viewer)

	for _, m := range []string{"base", "infra", "hex"} {
		resp, b := apptest.Do(t, "GET", a.URL()+"/tiles/"+m+".json?access_token="+key, "", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s.json: %d %s", m, resp.StatusCode, b)
		}
		var tj tiles.TileJSON
		if err := json.Unmarshal(b, &tj); err != nil {
			t.Fatal(err)
		}
		want := "http://" + host + "/tiles/" + m + "/{z}/{x}/{y}.pbf?access_token=" + key
		if tj.TileJSON != "3.0.0" || len(tj.Tiles) != 1 || tj.Tiles[0] != want || len(tj.VectorLayers) == 0 {
			t.Fatalf("%s.json: %s", m, b)
		}
		if tj.MinZoom > tj.MaxZoom || tj.MaxZoom != 22 {
			t.Fatalf("%s.json zooms %d..%d", m, tj.MinZoom, tj.MaxZoom)
		}
		ids := map[string]tiles.VectorLayer{}
		for _, vl := range tj.VectorLayers {
			ids[vl.ID] = vl
		}
		switch m {
		case "base":
			bl, ok := ids["buildings"]
			if !ok || bl.MinZoom != 12 || bl.Fields["height_m"] != "Number" || bl.Fields["use"] != "String" {
				t.Fatalf("base buildings layer: %+v", bl)
			}
			// the bounds are the data's
			if !(tj.Bounds[0] <= centre[0] && centre[0] <= tj.Bounds[2] && tj.Bounds[2]-tj.Bounds[0] < 0.01) {
				t.Fatalf("bounds %v", tj.Bounds)
			}
		case "infra":
			if _, ok := ids["pipes"]; !ok {
				t.Fatalf("infra layers %v", ids)
			}
		case "hex":
			if ids["hex"].Fields["count"] != "Number" {
				t.Fatalf("hex layer %+v", ids["hex"])
			}
		}
	}

	resp, b := apptest.Do(t, "GET", a.URL()+"/tiles/style.json", "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("style: %d %s", resp.StatusCode, b)
	}
	var st struct {
		Version int
		Glyphs  string
		Sprite  any
		Sources map[string]struct{ Type, URL string }
		Layers  []struct {
			ID, Type, Source string
			SourceLayer      string `json:"source-layer"`
		}
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if st.Version != 8 || st.Glyphs != "" || st.Sprite != nil {
		t.Fatalf("style header: %s", b)
	}
	for _, s := range []string{"base", "infra", "hex"} {
		if st.Sources[s].Type != "vector" || st.Sources[s].URL != "http://"+host+"/tiles/"+s+".json" {
			t.Fatalf("source %s: %+v", s, st.Sources[s])
		}
	}
	// no external URL anywhere: every URL in the style is this server's
	for _, part := range strings.Split(string(b), "http")[1:] {
		if !strings.HasPrefix(part, "://"+host+"/") {
			t.Fatalf("external URL in style: http%s", part[:min(60, len(part))])
		}
	}
	ids := map[string]string{}
	for _, l := range st.Layers {
		ids[l.ID] = l.Type
		if l.Type == "symbol" {
			t.Fatalf("symbol layer %s needs glyphs", l.ID)
		}
	}
	for id, typ := range map[string]string{"background": "background", "buildings-3d": "fill-extrusion", "roads": "line", "pipes": "line",
		"network-nodes": "circle", "smart-poles": "circle", "project-sites": "fill", "landuse": "fill", "water": "fill", "hex": "fill"} {
		if ids[id] != typ {
			t.Fatalf("style layer %s: %q, want %s", id, ids[id], typ)
		}
	}
}

func TestHexMapCountsFeatures(t *testing.T) {
	a := apptest.MustRun(t, func(c *config.Config) { c.PublicReads = true })
	ctx := context.Background()
	// buildings spread over a z13 tile's interior
	tl13 := maptile.At(centre, 13)
	b := tl13.Bound()
	want := map[h3.Cell]int{}
	for i := 0; i < 40; i++ {
		p := orb.Point{b.Min[0] + (b.Max[0]-b.Min[0])*(0.2+0.6*float64(i%8)/7), b.Min[1] + (b.Max[1]-b.Min[1])*(0.2+0.6*float64(i/8)/4)}
		g := square(p, 0.0002)
		insertBuilding(t, a.Pool, g, "residential", 10, 3, "", "")
		want[h3.Cell(spatial.FeatureCell(g)).Parent(tiles.HexRes(13))]++
	}
	if _, err := a.Pool.Exec(ctx, `INSERT INTO smart_poles (functions, h3, geom) VALUES ('{light}', $1, ST_SetSRID(ST_MakePoint($2, $3), 4326))`,
		int64(spatial.PointCell(centre, 15)), centre[0], centre[1]); err != nil {
		t.Fatal(err)
	}
	want[h3.Cell(spatial.PointCell(centre, 15)).Parent(tiles.HexRes(13))]++

	url, tl := tileURL(a, "hex", "", centre, 13)
	_, fcs := getTile(t, url, "", tl)
	hex := fcs["hex"]
	if hex == nil {
		t.Fatalf("no hex layer: %v", keys(fcs))
	}
	got := map[h3.Cell]int{}
	total, poles := 0, 0
	for _, f := range hex.Features {
		c, err := strconv.ParseUint(f.Properties["cell"].(string), 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		if int(f.Properties["res"].(float64)) != tiles.HexRes(13) {
			t.Fatalf("res %v", f.Properties["res"])
		}
		n := int(f.Properties["count"].(float64))
		got[h3.Cell(c)] = n
		total += n
		poles += int(f.Properties["smart_poles"].(float64))
		// the hexagon drawn contains the cell's centre
		ll := h3.Cell(c).LatLng()
		if !f.Geometry.Bound().Pad(1e-4).Contains(orb.Point{ll.Lng, ll.Lat}) {
			t.Fatalf("cell %x drawn at %v", c, f.Geometry.Bound())
		}
	}
	if total != 41 || poles != 1 || len(got) != len(want) {
		t.Fatalf("hex tile: %d features in %d cells (poles %d), want 41 in %d", total, len(got), poles, len(want))
	}
	for c, n := range want {
		if got[c] != n {
			t.Fatalf("cell %x: %d, want %d", c, got[c], n)
		}
	}
	// a new feature changes the count in the very next hex tile
	g := square(centre, 0.0001)
	insertBuilding(t, a.Pool, g, "office", 10, 3, "", "")
	a.Store.Changed(ctx, spatial.Change{Layer: "buildings", Bound: g.Bound()})
	resp, fcs := getTile(t, url, "", tl)
	sum := 0
	for _, f := range fcs["hex"].Features {
		sum += int(f.Properties["count"].(float64))
	}
	if sum != 42 || resp.Header.Get("X-Tile-Cache") != "miss" {
		t.Fatalf("after an insert: %d features (%s)", sum, resp.Header.Get("X-Tile-Cache"))
	}
}

// cacheContract checks what every Cache must do.
func cacheContract(t *testing.T, c tiles.Cache) {
	ctx := context.Background()
	k := tiles.Key{Map: "base", Z: 14, X: 13487, Y: 6220}
	kl := k
	kl.Layer = "buildings"
	kr := k
	kr.Layer = "roads"
	other := tiles.Key{Map: "base", Z: 14, X: 100, Y: 100}
	if _, ok, err := c.Get(ctx, k); ok || err != nil {
		t.Fatalf("empty cache: %v %v", ok, err)
	}
	gen, err := c.Gen(ctx, "base")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []tiles.Key{k, kl, kr, other} {
		if ok, err := c.PutIf(ctx, key, gen, []byte("tile "+key.String())); !ok || err != nil {
			t.Fatalf("put %s: %v %v", key, ok, err)
		}
	}
	if b, ok, _ := c.Get(ctx, k); !ok || string(b) != "tile "+k.String() {
		t.Fatalf("get: %q %v", b, ok)
	}
	// a purge of buildings at the tile's place drops the map tile and the
	// buildings tile, not the roads tile nor the far tile
	tb := maptile.New(k.X, k.Y, 14).Bound()
	pt := tb.Center()
	bound := orb.Bound{Min: pt, Max: pt}
	n, err := c.Purge(ctx, tiles.Selection{Map: "base", Layer: "buildings", Bound: &bound, MinZoom: 0, MaxZoom: 22})
	if err != nil || n != 2 {
		t.Fatalf("purge: %d %v", n, err)
	}
	for key, want := range map[tiles.Key]bool{k: false, kl: false, kr: true, other: true} {
		if _, ok, _ := c.Get(ctx, key); ok != want {
			t.Fatalf("after purge %s cached=%v", key, ok)
		}
	}
	// a render that read the generation before the purge cannot store
	if ok, err := c.PutIf(ctx, k, gen, []byte("stale")); ok || err != nil {
		t.Fatalf("stale put stored: %v %v", ok, err)
	}
	if _, ok, _ := c.Get(ctx, k); ok {
		t.Fatal("stale tile cached")
	}
	gen2, _ := c.Gen(ctx, "base")
	if gen2 == gen {
		t.Fatal("purge did not move the generation")
	}
	if ok, _ := c.PutIf(ctx, k, gen2, []byte("fresh")); !ok {
		t.Fatal("fresh put refused")
	}
	// a purge of everything
	if _, err := c.Purge(ctx, tiles.Selection{Map: "base", MinZoom: 0, MaxZoom: 22}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []tiles.Key{k, kr, other} {
		if _, ok, _ := c.Get(ctx, key); ok {
			t.Fatalf("%s survived a full purge", key)
		}
	}
}

func TestMemoryCache(t *testing.T) {
	cacheContract(t, tiles.NewMemoryCache(1<<20))
	// the LRU bound holds
	c := tiles.NewMemoryCache(10 * (1000 + 128))
	for i := 0; i < 50; i++ {
		c.PutIf(context.Background(), tiles.Key{Map: "base", Z: 10, X: uint32(i)}, 0, make([]byte, 1000))
	}
	if n, size := c.Len(); n != 10 || size > 10*(1000+128) {
		t.Fatalf("LRU holds %d tiles, %d bytes", n, size)
	}
	if _, ok, _ := c.Get(context.Background(), tiles.Key{Map: "base", Z: 10, X: 49}); !ok {
		t.Fatal("newest tile evicted")
	}
}

// startRedis runs a redis-server of the test's own on a free port.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (scripts/install-deps.sh installs it): %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--loglevel", "warning")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "redis://" + addr + "/0"
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("redis-server did not listen on %s (log in %s)", addr, filepath.Join(dir))
	return ""
}

func TestRedisCache(t *testing.T) {
	url := startRedis(t)
	c, err := tiles.NewRedisCache(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Layers = func(string) []string { return []string{"buildings", "roads"} }
	cacheContract(t, c)

	// the whole server on Redis: an edit shows in the next tile
	a := apptest.MustRun(t, func(cfg *config.Config) { cfg.PublicReads = true; cfg.RedisURL = url })
	g := square(centre, 0.0004)
	id := insertBuilding(t, a.Pool, g, "residential", 10, 3, "A", "")
	u, tl := tileURL(a, "base", "", centre, 15)
	getTile(t, u, "", tl)
	if resp, _ := getTile(t, u, "", tl); resp.Header.Get("X-Tile-Cache") != "hit" {
		t.Fatal("not cached in Redis")
	}
	if _, err := a.Pool.Exec(context.Background(), `UPDATE buildings SET height_m = 55 WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	a.Store.Changed(context.Background(), spatial.Change{Layer: "buildings", IDs: []int64{id}, Bound: g.Bound()})
	resp, fcs := getTile(t, u, "", tl)
	if f := featureByID(fcs["buildings"], id); resp.Header.Get("X-Tile-Cache") != "miss" || f == nil || f.Properties["height_m"] != 55.0 {
		t.Fatalf("after the edit: %s %v", resp.Header.Get("X-Tile-Cache"), f)
	}
}

func TestRedisURLRefused(t *testing.T) {
	if _, err := tiles.NewRedisCache(context.Background(), "http://nope"); err == nil {
		t.Fatal("bad Redis URL accepted")
	}
}
