package tiles

import (
	"container/list"
	"context"
	"fmt"
	"math"
	"sync"

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

// MemoryCache is an in-process LRU of tiles bounded in bytes.
type MemoryCache struct {
	// MaxBytes bounds the tiles' bytes (plus a small per-entry overhead).
	MaxBytes int64

	mu    sync.Mutex
	size  int64
	ll    *list.List // front: most recent
	items map[Key]*list.Element
	gens  map[string]uint64
}

var _ Cache = (*MemoryCache)(nil)

type memEntry struct {
	key Key
	b   []byte
}

// entryOverhead approximates the bytes an entry costs beside its tile.
const entryOverhead = 128

// NewMemoryCache returns an LRU holding at most maxBytes of tiles.
func NewMemoryCache(maxBytes int64) *MemoryCache {
	return &MemoryCache{MaxBytes: maxBytes, ll: list.New(), items: map[Key]*list.Element{}, gens: map[string]uint64{}}
}

// Get returns the cached tile k.
func (c *MemoryCache) Get(_ context.Context, k Key) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		return nil, false, nil
	}
	c.ll.MoveToFront(e)
	return e.Value.(*memEntry).b, true, nil
}

// Gen returns map m's generation.
func (c *MemoryCache) Gen(_ context.Context, m string) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gens[m], nil
}

// PutIf stores b under k when k.Map's generation is gen.
func (c *MemoryCache) PutIf(_ context.Context, k Key, gen uint64, b []byte) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gens[k.Map] != gen {
		return false, nil
	}
	sz := int64(len(b)) + entryOverhead
	if sz > c.MaxBytes {
		return false, nil
	}
	if e, ok := c.items[k]; ok {
		c.removeLocked(e)
	}
	c.items[k] = c.ll.PushFront(&memEntry{key: k, b: b})
	c.size += sz
	for c.size > c.MaxBytes {
		c.removeLocked(c.ll.Back())
	}
	return true, nil
}

func (c *MemoryCache) removeLocked(e *list.Element) {
	me := e.Value.(*memEntry)
	c.ll.Remove(e)
	delete(c.items, me.key)
	c.size -= int64(len(me.b)) + entryOverhead
}

// Purge drops the tiles sel matches. It scans the entries: the cache holds
// some thousands of tiles, so a scan is microseconds, and it is exact at
// every zoom however large the bound.
func (c *MemoryCache) Purge(_ context.Context, sel Selection) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gens[sel.Map]++
	n := 0
	for k, e := range c.items {
		if sel.Matches(k) {
			c.removeLocked(e)
			n++
		}
	}
	return n, nil
}

// Len returns the number of cached tiles and their bytes.
func (c *MemoryCache) Len() (n int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items), c.size
}

// Close empties the cache.
func (c *MemoryCache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ll.Init()
	c.items = map[Key]*list.Element{}
	c.size = 0
	return nil
}
