package tiles

import (
	"container/list"
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"
)

// Key names one cached tile: a whole map's tile (Layer "") or one layer's.
type Key struct {
	Map   string
	Layer string
	Z     int
	X, Y  uint32
}

func (k Key) String() string {
	if k.Layer == "" {
		return fmt.Sprintf("%s/%d/%d/%d", k.Map, k.Z, k.X, k.Y)
	}
	return fmt.Sprintf("%s/%s/%d/%d/%d", k.Map, k.Layer, k.Z, k.X, k.Y)
}

// Selection says which cached tiles of a map a purge drops.
type Selection struct {
	Map string
	// Layer, when set, spares the per-layer tiles of other layers; whole-map
	// tiles are always dropped.
	Layer string
	// Bound, when set, limits the purge to tiles whose extent, widened by
	// Margin tiles on each side, meets it. Nil means every tile.
	Bound *orb.Bound
	// Margin is in tiles (the hex map's cells reach beyond their features).
	Margin           float64
	MinZoom, MaxZoom int
}

// boundEpsilon widens tile extents in degrees so that rounding in tegola's
// envelope (8 decimals) never spares a tile that holds the feature.
const boundEpsilon = 1e-7

// Matches reports whether the selection drops the tile k.
func (s Selection) Matches(k Key) bool {
	if k.Map != s.Map || k.Z < s.MinZoom || k.Z > s.MaxZoom {
		return false
	}
	if s.Layer != "" && k.Layer != "" && k.Layer != s.Layer {
		return false
	}
	if s.Bound == nil {
		return true
	}
	return tileBound(k.Z, k.X, k.Y, s.Margin).Intersects(*s.Bound)
}

// tileBound is the extent of tile z/x/y in lon/lat, widened by margin tiles.
func tileBound(z int, x, y uint32, margin float64) orb.Bound {
	b := maptile.New(x, y, maptile.Zoom(z)).Bound()
	if margin > 0 {
		dx := (b.Max[0] - b.Min[0]) * margin
		// the y margin in latitude: take the larger neighbouring tile's height
		n := math.Exp2(float64(z))
		top := tileLat(float64(y)-margin, n)
		bot := tileLat(float64(y)+1+margin, n)
		b.Min[0] -= dx
		b.Max[0] += dx
		b.Max[1] = max(b.Max[1], top)
		b.Min[1] = min(b.Min[1], bot)
	}
	b.Min[0] -= boundEpsilon
	b.Min[1] -= boundEpsilon
	b.Max[0] += boundEpsilon
	b.Max[1] += boundEpsilon
	return b
}

// tileLat is the latitude of the top of tile row y (fractional) at n tiles.
func tileLat(y, n float64) float64 {
	return math.Atan(math.Sinh(math.Pi*(1-2*y/n))) * 180 / math.Pi
}

// Cache stores encoded (gzipped) tiles. Every purge of a map moves that map's
// generation on; PutIf stores a tile only if the generation it read before
// rendering is still current, so that a tile rendered from data older than a
// purge is never stored after it.
type Cache interface {
	// Get returns the cached tile, or ok false.
	Get(ctx context.Context, k Key) (b []byte, ok bool, err error)
	// Gen returns the current generation of map m.
	Gen(ctx context.Context, m string) (uint64, error)
	// PutIf stores b under k if m's generation is still gen.
	PutIf(ctx context.Context, k Key, gen uint64, b []byte) (stored bool, err error)
	// Purge drops the tiles that sel matches and moves sel.Map's generation
	// on. It returns how many tiles it dropped (-1 if it cannot tell).
	Purge(ctx context.Context, sel Selection) (int, error)
	// Close releases the cache's resources.
	Close() error
}

// MemoryCache is an in-process LRU of tiles bounded in bytes. It is split
// into shards (by a hash of the key), each an LRU with its own lock and its
// share of the bound, so that concurrent hits rarely wait for each other; a
// small cache is one shard, an exact LRU. Each entry keeps the tile's ETag
// and header values, computed once when it is stored, so that a hit
// allocates nothing for the tile.
//
// Lock order: a purge holds one shard's lock at a time; gensMu is taken
// with no shard lock held, or inside one (PutIf reads the generation under
// the shard's lock), never the other way round.
type MemoryCache struct {
	// MaxBytes bounds the tiles' bytes (plus a small per-entry overhead). It
	// is read by NewMemoryCache; change it through a new cache.
	MaxBytes int64

	shards []memShard
	gensMu sync.RWMutex
	gens   map[string]*atomic.Uint64
}

var _ Cache = (*MemoryCache)(nil)

type memShard struct {
	mu    sync.Mutex
	max   int64
	size  int64
	ll    list.List // front: most recent
	items map[Key]*list.Element
	_     [64]byte // keep shards' locks on separate cache lines
}

type memEntry struct {
	key  Key
	tile *prepared
}

// entryOverhead approximates the bytes an entry costs beside its tile.
const entryOverhead = 128

// Sharding: at most memMaxShards shards, each holding at least
// memMinShardBytes, so that a shard always has room for the largest tiles.
const (
	memMaxShards     = 16
	memMinShardBytes = 16 << 20
)

// NewMemoryCache returns an LRU holding at most maxBytes of tiles.
func NewMemoryCache(maxBytes int64) *MemoryCache {
	n := int(min(int64(memMaxShards), max(1, maxBytes/memMinShardBytes)))
	c := &MemoryCache{MaxBytes: maxBytes, shards: make([]memShard, n), gens: map[string]*atomic.Uint64{}}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.max = maxBytes / int64(n)
		sh.items = map[Key]*list.Element{}
		sh.ll.Init()
	}
	return c
}

// shard returns the shard holding k.
func (c *MemoryCache) shard(k Key) *memShard {
	if len(c.shards) == 1 {
		return &c.shards[0]
	}
	h := uint64(k.Z)*0x9E3779B97F4A7C15 ^ uint64(k.X)*0xC2B2AE3D27D4EB4F ^ uint64(k.Y)*0x165667B19E3779F9
	for i := 0; i < len(k.Layer); i++ {
		h = (h ^ uint64(k.Layer[i])) * 0x100000001B3
	}
	h ^= h >> 29
	return &c.shards[h%uint64(len(c.shards))]
}

// gen returns the generation counter of map m, creating it.
func (c *MemoryCache) gen(m string) *atomic.Uint64 {
	c.gensMu.RLock()
	g := c.gens[m]
	c.gensMu.RUnlock()
	if g != nil {
		return g
	}
	c.gensMu.Lock()
	defer c.gensMu.Unlock()
	if g = c.gens[m]; g == nil {
		g = new(atomic.Uint64)
		c.gens[m] = g
	}
	return g
}

// Get returns the cached tile k.
func (c *MemoryCache) Get(_ context.Context, k Key) ([]byte, bool, error) {
	p, ok := c.getPrepared(k)
	if !ok {
		return nil, false, nil
	}
	return p.gzip, true, nil
}

// getPrepared returns the cached tile k with its header values.
func (c *MemoryCache) getPrepared(k Key) (*prepared, bool) {
	sh := c.shard(k)
	sh.mu.Lock()
	e, ok := sh.items[k]
	if !ok {
		sh.mu.Unlock()
		return nil, false
	}
	sh.ll.MoveToFront(e)
	p := e.Value.(*memEntry).tile
	sh.mu.Unlock()
	return p, true
}

// Gen returns map m's generation.
func (c *MemoryCache) Gen(_ context.Context, m string) (uint64, error) {
	return c.gen(m).Load(), nil
}

// PutIf stores b under k when k.Map's generation is gen.
func (c *MemoryCache) PutIf(_ context.Context, k Key, gen uint64, b []byte) (bool, error) {
	return c.putPreparedIf(k, gen, prepare(b)), nil
}

// putPreparedIf stores p under k when k.Map's generation is gen. The
// generation is read under the shard's lock: a purge moves it on before it
// scans the shards, so either this put sees the new generation and refuses,
// or the purge's scan of this shard comes after the put and drops the tile.
func (c *MemoryCache) putPreparedIf(k Key, gen uint64, p *prepared) bool {
	sz := int64(len(p.gzip)) + entryOverhead
	g := c.gen(k.Map)
	sh := c.shard(k)
	if sz > sh.max {
		return false
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if g.Load() != gen {
		return false
	}
	if e, ok := sh.items[k]; ok {
		sh.removeLocked(e)
	}
	sh.items[k] = sh.ll.PushFront(&memEntry{key: k, tile: p})
	sh.size += sz
	for sh.size > sh.max {
		sh.removeLocked(sh.ll.Back())
	}
	return true
}

func (sh *memShard) removeLocked(e *list.Element) {
	me := e.Value.(*memEntry)
	sh.ll.Remove(e)
	delete(sh.items, me.key)
	sh.size -= int64(len(me.tile.gzip)) + entryOverhead
}

// Purge drops the tiles sel matches. It moves the map's generation on, then
// scans the entries shard by shard: the cache holds some thousands of tiles,
// so a scan is a fraction of a millisecond, and it is exact at every zoom
// however large the bound.
func (c *MemoryCache) Purge(_ context.Context, sel Selection) (int, error) {
	c.gen(sel.Map).Add(1)
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for k, e := range sh.items {
			if sel.Matches(k) {
				sh.removeLocked(e)
				n++
			}
		}
		sh.mu.Unlock()
	}
	return n, nil
}

// Len returns the number of cached tiles and their bytes.
func (c *MemoryCache) Len() (n int, bytes int64) {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += len(sh.items)
		bytes += sh.size
		sh.mu.Unlock()
	}
	return n, bytes
}

// Close empties the cache.
func (c *MemoryCache) Close() error {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.ll.Init()
		sh.items = map[Key]*list.Element{}
		sh.size = 0
		sh.mu.Unlock()
	}
	return nil
}
