package tiles

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-spatial/geom/slippy"
	"github.com/go-spatial/tegola/provider"
	pgconnv4 "github.com/jackc/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/klauspost/compress/gzip"
	"github.com/paulmach/orb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/uber/h3-go/v4"

	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/spatial"
)

// Service renders, caches and invalidates the twin's vector tiles.
//
// Lock order: mu (maps) before nothing; hexMu and flightMu are leaves.
type Service struct {
	logger   *slog.Logger
	registry *spatial.Registry
	pool     *pgxpool.Pool
	cache    Cache
	mem      *MemoryCache // cache, when it is the memory cache
	dbURL    string
	tilePool int
	// MaxAge is the Cache-Control max-age of tiles; 0 sends "no-cache", so
	// that clients revalidate (ETag) and never keep a tile after a write.
	MaxAge time.Duration

	mu        sync.RWMutex
	maps      map[string]*tileMap
	providers []provider.MVTTiler

	hexMu    sync.Mutex
	hexKnown map[uint64]struct{}

	flightMu sync.Mutex
	inflight map[flightKey]*flight

	m *metrics
}

// Options configure a Service.
type Options struct {
	Logger   *slog.Logger
	Registry *spatial.Registry
	// Pool is citytwin's pool (hexagon outlines, TileJSON bounds).
	Pool *pgxpool.Pool
	// DatabaseURL is given to tegola's own pgx/v4 pool.
	DatabaseURL string
	// TilePool is the size of tegola's pool (default 8).
	TilePool int
	// Cache holds rendered tiles (default: a 256 MB MemoryCache).
	Cache Cache
	// Metrics registers the service's metrics when set.
	Metrics prometheus.Registerer
}

// New builds the maps from the registry and connects tegola's provider.
func New(ctx context.Context, o Options) (*Service, error) {
	if o.Logger == nil || o.Registry == nil || o.Pool == nil {
		return nil, errors.New("tiles: New needs a logger, a registry and a pool")
	}
	if o.TilePool <= 0 {
		o.TilePool = 8
	}
	if o.Cache == nil {
		o.Cache = NewMemoryCache(256 << 20)
	}
	s := &Service{
		logger: o.Logger, registry: o.Registry, pool: o.Pool, cache: o.Cache,
		dbURL: o.DatabaseURL, tilePool: o.TilePool,
		hexKnown: map[uint64]struct{}{}, inflight: map[flightKey]*flight{},
		m: newMetrics(),
	}
	s.mem, _ = o.Cache.(*MemoryCache)
	for _, n := range []string{MapBase, MapInfra, MapHex} {
		s.m.hits[n] = s.m.requests.WithLabelValues(n, "hit")
	}
	if o.Metrics != nil {
		if err := s.m.register(o.Metrics); err != nil {
			return nil, err
		}
	}
	if rc, ok := o.Cache.(*RedisCache); ok && rc.Layers == nil {
		rc.Layers = s.layerNames
	}
	if err := s.rebuild(); err != nil {
		return nil, err
	}
	return s, nil
}

// rebuild (re)creates the maps from the registry's current layers.
func (s *Service) rebuild() error {
	maps, p, err := buildMaps(s.dbURL, s.tilePool, s.registry.Layers())
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.maps = maps
	s.providers = append(s.providers, p)
	s.mu.Unlock()
	return nil
}

// Close closes tegola's pools and the cache.
func (s *Service) Close() error {
	s.mu.Lock()
	ps := s.providers
	s.providers = nil
	s.mu.Unlock()
	for _, p := range ps {
		if c, ok := p.(interface{ Close() }); ok {
			c.Close()
		}
	}
	return s.cache.Close()
}

// Cache returns the service's tile cache.
func (s *Service) Cache() Cache { return s.cache }

func (s *Service) tileMap(name string) (*tileMap, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.maps[name]
	return m, ok
}

// layerNames returns the MVT layer names of map m.
func (s *Service) layerNames(m string) []string {
	tm, ok := s.tileMap(m)
	if !ok {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, l := range tm.atlas.Layers {
		if !seen[l.Name] {
			seen[l.Name] = true
			out = append(out, l.Name)
		}
	}
	return out
}

// MapNames returns the served maps' names.
func (s *Service) MapNames() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.maps))
	for n := range s.maps {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Check validates a tile request without touching the database. Returns
// ENOTFOUND for an unknown map or layer and EINVALID for a zoom outside
// 0..22 or x, y outside the zoom's range.
func (s *Service) Check(mapName, layer string, z int, x, y uint64) error {
	m, ok := s.tileMap(mapName)
	if !ok {
		return &errs.Error{Code: errs.ENOTFOUND, Where: "map", Message: fmt.Sprintf("unknown map %q (maps: %s)", mapName, strings.Join(s.MapNames(), ", "))}
	}
	if layer != "" && !m.hasLayer(layer) {
		return &errs.Error{Code: errs.ENOTFOUND, Where: "layer", Message: fmt.Sprintf("map %q has no layer %q", mapName, layer)}
	}
	if z < 0 || z > MaxZoom {
		return errs.Invalid("z", "zoom %d is outside 0..%d", z, MaxZoom)
	}
	n := uint64(1) << uint(z)
	if x >= n {
		return errs.Invalid("x", "x %d is outside 0..%d at zoom %d", x, n-1, z)
	}
	if y >= n {
		return errs.Invalid("y", "y %d is outside 0..%d at zoom %d", y, n-1, z)
	}
	return nil
}

// Tile is a rendered tile.
type Tile struct {
	// Gzip is the gzipped MVT (nil for an empty tile).
	Gzip []byte
	// Cached is true when the tile came from the cache.
	Cached bool
	// p holds the tile's header values when they were computed already.
	p *prepared
}

// Empty reports whether the tile has no features.
func (t Tile) Empty() bool { return gzipEmpty(t.Gzip) }

// ETag is a strong validator of the tile's bytes.
func (t Tile) ETag() string {
	p := t.p
	if p == nil || p.etag == nil {
		p = prepare(t.Gzip)
	}
	if p.etag == nil {
		return `""`
	}
	return p.etag[0]
}

// prepared returns the tile's header values, computing them if needed.
func (t Tile) prepared() *prepared {
	if t.p != nil {
		return t.p
	}
	return prepare(t.Gzip)
}

// gzipEmpty reports whether a gzip member holds no bytes: its trailer's
// ISIZE (the uncompressed size mod 2^32) is 0 and it is a short member.
func gzipEmpty(b []byte) bool {
	if len(b) < 18 {
		return true
	}
	return binary.LittleEndian.Uint32(b[len(b)-4:]) == 0 && len(b) < 64
}

// renderTimeout bounds one tile's rendering.
const renderTimeout = time.Minute

type flightKey struct {
	key Key
	gen uint64
}

type flight struct {
	done chan struct{}
	tile *prepared
	err  error
}

// Tile returns tile z/x/y of the map (of one layer of it when layer is not
// empty), from the cache or rendered by tegola. Check must have passed.
func (s *Service) Tile(ctx context.Context, mapName, layer string, z int, x, y uint32) (Tile, error) {
	k := Key{Map: mapName, Layer: layer, Z: z, X: x, Y: y}
	if s.mem != nil {
		// the memory cache's fast path: the stored tile and its headers
		if p, ok := s.mem.getPrepared(k); ok {
			s.m.hit(mapName)
			return Tile{Gzip: p.gzip, Cached: true, p: p}, nil
		}
	} else {
		b, ok, err := s.cache.Get(ctx, k)
		if err != nil {
			s.logger.Warn("tile cache get failed", "tile", k.String(), "err", err)
		} else if ok {
			s.m.hit(mapName)
			return Tile{Gzip: b, Cached: true}, nil
		}
	}
	// Read the generation before rendering: a purge after this point makes
	// PutIf refuse the tile, however the render and the write interleave.
	gen, err := s.cache.Gen(ctx, mapName)
	if err != nil {
		s.logger.Warn("tile cache generation failed", "map", mapName, "err", err)
		b, err := s.render(ctx, k)
		return Tile{Gzip: b}, err
	}
	fk := flightKey{k, gen}
	s.flightMu.Lock()
	if f, ok := s.inflight[fk]; ok {
		s.flightMu.Unlock()
		select {
		case <-f.done:
			s.m.requests.WithLabelValues(mapName, "shared").Inc()
			if f.err != nil {
				return Tile{}, f.err
			}
			return Tile{Gzip: f.tile.gzip, p: f.tile}, nil
		case <-ctx.Done():
			return Tile{}, ctx.Err()
		}
	}
	f := &flight{done: make(chan struct{})}
	s.inflight[fk] = f
	s.flightMu.Unlock()

	// The render serves every waiter, so one client going away does not
	// cancel it; it is bounded by its own timeout instead.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), renderTimeout)
	b, err := s.render(rctx, k)
	cancel()
	f.err = err
	if err == nil {
		f.tile = prepare(b)
		if s.mem != nil {
			s.mem.putPreparedIf(k, gen, f.tile)
		} else if _, err := s.cache.PutIf(ctx, k, gen, b); err != nil {
			s.logger.Warn("tile cache put failed", "tile", k.String(), "err", err)
		}
	}
	s.flightMu.Lock()
	delete(s.inflight, fk)
	s.flightMu.Unlock()
	close(f.done)
	s.m.requests.WithLabelValues(mapName, "miss").Inc()
	if f.err != nil {
		return Tile{}, f.err
	}
	return Tile{Gzip: f.tile.gzip, p: f.tile}, nil
}

// Render renders tile k with tegola, bypassing the cache.
func (s *Service) Render(ctx context.Context, k Key) ([]byte, error) { return s.render(ctx, k) }

func (s *Service) render(ctx context.Context, k Key) ([]byte, error) {
	m, ok := s.tileMap(k.Map)
	if !ok {
		return nil, errs.NotFound("unknown map %q", k.Map)
	}
	am := m.forTile(k.Z, k.Layer)
	if len(am.Layers) == 0 {
		return nil, nil // nothing drawn at this zoom: no query
	}
	start := time.Now()
	if k.Map == MapHex {
		if err := s.ensureHexCells(ctx, k.Z, k.X, k.Y); err != nil {
			return nil, err
		}
	}
	// This is what atlas.Map.Encode does for an MVT provider (one
	// MVTForLayers query, every layer's ST_AsMVT concatenated), except its
	// gzip: Encode compresses with the standard library at the default
	// level, which costs more than the query on dense tiles. The tile is
	// gzipped here once, for every client and the cache, with gzipBytes.
	layers := make([]provider.Layer, len(am.Layers))
	for i := range am.Layers {
		layers[i] = provider.Layer{Name: am.Layers[i].ProviderLayerName, MVTName: am.Layers[i].MVTName()}
	}
	ptile := provider.NewTile(slippy.Zoom(k.Z), uint(k.X), uint(k.Y), uint(am.TileBuffer), uint(am.SRID))
	raw, err := am.MVTProvider().MVTForLayers(ctx, ptile, nil, layers)
	var b []byte
	if err == nil && len(raw) > 0 {
		b, err = gzipBytes(raw)
	}
	s.m.render.WithLabelValues(k.Map).Observe(time.Since(start).Seconds())
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var pe *pgconnv4.PgError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("tiles: render %s: %w", k, err)
		}
		return nil, errs.Wrap(errs.EUNAVAILABLE, err, "the tile could not be rendered: the database did not answer")
	}
	if gzipEmpty(b) {
		return nil, nil
	}
	return b, nil
}

// gzipLevel is klauspost/compress's stateless compression: the tile is
// written in one call, so the encoder needs no history between writes. On
// dense MVT it is about twice the standard library's BestSpeed (three times
// on small tiles), with output as small or smaller than klauspost's level 1;
// the standard library makes tiles some 5% smaller still.
const gzipLevel = gzip.StatelessCompression

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzipLevel)
	return w
}}

// gzipBytes compresses b at gzipLevel into a buffer of the right size.
func gzipBytes(b []byte) ([]byte, error) {
	buf := bytes.NewBuffer(make([]byte, 0, len(b)/2+64))
	w := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(w)
	w.Reset(buf)
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ensureHexCells stores the outlines of the H3 cells that tile z/x/y of the
// hex map may draw, when they are not stored yet.
func (s *Service) ensureHexCells(ctx context.Context, z int, x, y uint32) error {
	res := HexRes(z)
	b := tileBound(z, x, y, 0)
	// widen by about a cell so that cells whose centre lies outside the tile
	// but which overlap it are stored too
	d := 3 * h3.HexagonEdgeLengthAvgM(res)
	lat := math.Max(math.Abs(b.Min[1]), math.Abs(b.Max[1]))
	dlat := d / 111320
	dlon := d / (111320 * math.Max(math.Cos(lat*math.Pi/180), 0.05))
	minLon, maxLon := math.Max(b.Min[0]-dlon, -180), math.Min(b.Max[0]+dlon, 180)
	minLat, maxLat := math.Max(b.Min[1]-dlat, -89.9), math.Min(b.Max[1]+dlat, 89.9)
	poly := h3.GeoPolygon{GeoLoop: h3.GeoLoop{
		{Lat: minLat, Lng: minLon}, {Lat: minLat, Lng: maxLon}, {Lat: maxLat, Lng: maxLon}, {Lat: maxLat, Lng: minLon},
	}}
	cells := h3.PolygonToCells(poly, res)
	var ids []int64
	var wkts []string
	s.hexMu.Lock()
	for _, c := range cells {
		if _, ok := s.hexKnown[uint64(c)]; ok {
			continue
		}
		ids = append(ids, int64(c))
	}
	s.hexMu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	for _, id := range ids {
		wkts = append(wkts, cellWKT(h3.Cell(id)))
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO ct_hex_cells (cell, res, geom)
		SELECT c, $2, ST_GeomFromText(w, 4326) FROM unnest($1::bigint[], $3::text[]) AS t(c, w)
		ON CONFLICT (cell) DO NOTHING`, ids, res, wkts)
	if err != nil {
		return fmt.Errorf("tiles: store hexagon outlines: %w", err)
	}
	s.hexMu.Lock()
	if len(s.hexKnown) > 4_000_000 {
		s.hexKnown = map[uint64]struct{}{} // bounded: forget, the table keeps them
	}
	for _, id := range ids {
		s.hexKnown[uint64(id)] = struct{}{}
	}
	s.hexMu.Unlock()
	return nil
}

// cellWKT is the outline of cell c as a WKT polygon in lon/lat.
func cellWKT(c h3.Cell) string {
	bd := c.Boundary()
	var sb strings.Builder
	sb.WriteString("POLYGON((")
	for i, p := range bd {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "%.9f %.9f", p.Lng, p.Lat)
	}
	fmt.Fprintf(&sb, ",%.9f %.9f))", bd[0].Lng, bd[0].Lat)
	return sb.String()
}

// mapsWith returns the names of the maps that draw layer (every map for "").
func (s *Service) mapsWith(layer string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for n, m := range s.maps {
		if layer == "" || n == MapHex || m.hasLayer(layer) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Changed drops the cached tiles that the changes touch, at every zoom, in
// every map that draws their layers (and the hex map, whose counts they
// move). It is registered with spatial.Store.OnChange, so it runs after the
// write commits and before the write returns.
func (s *Service) Changed(ctx context.Context, changes []spatial.Change) {
	// The write has committed: the purge must happen even if the writer's
	// client has gone away, or a shared cache would keep stale tiles.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, ch := range changes {
		if ch.Layer != "" {
			if _, err := s.registry.Layer(ch.Layer); err == nil && len(s.mapsWithLayerOnly(ch.Layer)) == 0 {
				// a user layer created since the maps were built
				if err := s.rebuild(); err != nil {
					s.logger.Error("tiles: rebuild maps for a new layer failed", "layer", ch.Layer, "err", err)
				}
			}
		}
		var bound *orb.Bound
		if !ch.All && !(ch.Bound == orb.Bound{} && len(ch.IDs) > 0) {
			b := ch.Bound
			bound = &b
		}
		n, err := s.Purge(ctx, ch.Layer, bound, 0, MaxZoom)
		if err != nil {
			s.logger.Error("tiles: purge after a change failed; cached tiles may be stale", "layer", ch.Layer, "err", err)
			continue
		}
		s.logger.Debug("tiles purged after change", "layer", ch.Layer, "ids", len(ch.IDs), "tiles", n)
	}
}

func (s *Service) mapsWithLayerOnly(layer string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for n, m := range s.maps {
		if m.hasLayer(layer) {
			out = append(out, n)
		}
	}
	return out
}

// Purge drops the cached tiles between zooms minz and maxz that meet bound
// (every tile when bound is nil) in every map drawing layer (every map when
// layer is ""). It returns how many tiles it dropped (-1 when the cache
// cannot tell).
func (s *Service) Purge(ctx context.Context, layer string, bound *orb.Bound, minz, maxz int) (int, error) {
	total := 0
	for _, m := range s.mapsWith(layer) {
		sel := Selection{Map: m, Layer: layer, Bound: bound, MinZoom: minz, MaxZoom: maxz}
		if m == MapHex {
			sel.Layer = ""
			sel.Margin = hexMargin
		}
		n, err := s.cache.Purge(ctx, sel)
		if err != nil {
			return total, err
		}
		if n < 0 || total < 0 {
			total = -1
		} else {
			total += n
		}
		if n > 0 {
			s.m.purged.WithLabelValues(m).Add(float64(n))
		}
	}
	return total, nil
}

type metrics struct {
	requests *prometheus.CounterVec
	// hits are requests' "hit" counters by map, looked up once
	hits   map[string]prometheus.Counter
	render *prometheus.HistogramVec
	purged *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		hits: map[string]prometheus.Counter{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "citytwin_tiles_requests_total", Help: "Tiles served, by map and cache result (hit, miss, shared).",
		}, []string{"map", "result"}),
		render: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "citytwin_tiles_render_seconds", Help: "Time to render a tile with tegola (PostGIS ST_AsMVT).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"map"}),
		purged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "citytwin_tiles_purged_total", Help: "Cached tiles dropped by invalidation and purges.",
		}, []string{"map"}),
	}
}

// hit counts a cache hit of map name.
func (m *metrics) hit(name string) {
	if c := m.hits[name]; c != nil {
		c.Inc()
		return
	}
	m.requests.WithLabelValues(name, "hit").Inc()
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.requests, m.render, m.purged} {
		if err := r.Register(c); err != nil {
			return fmt.Errorf("tiles: metrics: %w", err)
		}
	}
	return nil
}
