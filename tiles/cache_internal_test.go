package tiles

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"
)

// TestMemoryCacheShardedPurgeRace checks, with renders and purges racing
// across the shards of a large cache, the promise PutIf makes: a tile
// rendered before a purge (its generation read before the purge began) is
// never in the cache once the purge has returned.
func TestMemoryCacheShardedPurgeRace(t *testing.T) {
	c := NewMemoryCache(256 << 20)
	if len(c.shards) < 2 {
		t.Fatalf("a 256 MB cache has %d shard(s)", len(c.shards))
	}
	ctx := context.Background()
	t0 := maptile.At(orb.Point{116.3575, 37.4355}, 16)
	keys := make([]Key, 64)
	for i := range keys {
		keys[i] = Key{Map: "base", Z: 16, X: t0.X + uint32(i%8), Y: t0.Y + uint32(i/8)}
	}
	for round := 0; round < 200; round++ {
		gens := make([]uint64, len(keys))
		for i := range keys {
			gens[i], _ = c.Gen(ctx, "base")
		}
		var wg sync.WaitGroup
		for i, k := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.PutIf(ctx, k, gens[i], []byte("stale"))
			}()
		}
		// every put read its generation before this purge: none may survive it
		if _, err := c.Purge(ctx, Selection{Map: "base", MaxZoom: MaxZoom}); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		for _, k := range keys {
			if _, ok, _ := c.Get(ctx, k); ok {
				t.Fatalf("round %d: %s rendered before the purge is cached after it", round, k)
			}
		}
	}
	// and a fresh generation stores, in whichever shard
	g, _ := c.Gen(ctx, "base")
	for _, k := range keys {
		if ok, _ := c.PutIf(ctx, k, g, []byte("fresh")); !ok {
			t.Fatalf("%s: fresh put refused", k)
		}
	}
	if n, _ := c.Len(); n != len(keys) {
		t.Fatalf("cache holds %d tiles, want %d", n, len(keys))
	}
}

func TestAcceptsGzip(t *testing.T) {
	cases := []struct {
		name   string
		values []string
		want   bool
	}{
		{"none", nil, false},
		{"gzip", []string{"gzip"}, true},
		{"browser", []string{"gzip, deflate, br, zstd"}, true},
		{"case", []string{"GZip"}, true},
		{"star", []string{"*"}, true},
		{"q zero", []string{"gzip;q=0"}, false},
		{"q zero spaced", []string{"br, gzip ; q=0.0"}, false},
		{"q low", []string{"gzip;q=0.1"}, true},
		{"identity", []string{"identity"}, false},
		{"two headers", []string{"br", "gzip"}, true},
		{"x-gzip only", []string{"x-gzip"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := acceptsGzip(tc.values); got != tc.want {
				t.Fatalf("acceptsGzip(%q) = %v, want %v", tc.values, got, tc.want)
			}
		})
	}
}

func TestEtagMatch(t *testing.T) {
	const e = `"00ab-gz"`
	cases := []struct {
		values []string
		want   bool
	}{
		{[]string{e}, true},
		{[]string{`W/"00ab-gz"`}, true},
		{[]string{`"x", ` + e}, true},
		{[]string{`"x"`, e}, true},
		{[]string{"*"}, true},
		{[]string{`"00ab"`}, false},
		{nil, false},
	}
	for _, tc := range cases {
		if got := etagMatch(tc.values, e); got != tc.want {
			t.Fatalf("etagMatch(%q) = %v, want %v", tc.values, got, tc.want)
		}
	}
}

// TestPreparedHit checks that a hit serves the bytes and header values
// computed when the tile was stored.
func TestPreparedHit(t *testing.T) {
	b, err := gzipBytes([]byte("a tile's bytes, long enough to be more than an empty gzip member"))
	if err != nil {
		t.Fatal(err)
	}
	c := NewMemoryCache(1 << 20)
	k := Key{Map: "base", Z: 3, X: 1, Y: 2}
	p := prepare(b)
	if !c.putPreparedIf(k, 0, p) {
		t.Fatal("put refused")
	}
	got, ok := c.getPrepared(k)
	if !ok || got != p || got.etag[0] != (Tile{Gzip: b}).ETag() || got.length[0] != strconv.Itoa(len(b)) {
		t.Fatalf("hit %v %+v", ok, got)
	}
	if got.etagGzip[0] == got.etag[0] {
		t.Fatal("the gzip encoding needs its own ETag")
	}
}
