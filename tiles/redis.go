package tiles

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"
	"github.com/redis/go-redis/v9"

	"github.com/citytwin/citytwin/internal/errs"
)

// RedisCache keeps tiles in Redis, shared by every citytwin instance that
// points at the same server. Keys:
//
//	citytwin:tile:gen:{map}                     the map's generation (INCR)
//	citytwin:tile:{map}:{layer}:{z}:{x}:{y}     a gzipped tile ({layer} is "" for the whole map)
//
// A purge moves the generation on, then deletes the matching tiles: by
// listing the tile keys under the bound at every zoom when they are few, else
// by scanning the map's keys. PutIf stores a tile with a Lua script that
// checks the generation in the same step, so no instance can store a tile
// rendered before another instance's purge.
type RedisCache struct {
	Client *redis.Client
	// TTL bounds how long a tile lives without being purged (default 24h).
	TTL time.Duration
	// Prefix starts every key (default "citytwin:tile:").
	Prefix string
	// Layers returns a map's layer names (per-layer tiles to delete); set by
	// the service.
	Layers func(m string) []string
}

var _ Cache = (*RedisCache)(nil)

var putIfScript = redis.NewScript(`
local g = redis.call('GET', KEYS[1]) or '0'
if g ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1`)

// NewRedisCache connects to the Redis server at url (redis://host:port/db).
func NewRedisCache(ctx context.Context, url string) (*RedisCache, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, errs.Invalid("redis-url", "not a Redis URL (redis://host:port/db): %v", err)
	}
	c := redis.NewClient(opt)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("tiles: Redis at %s: %w", opt.Addr, err)
	}
	return &RedisCache{Client: c, TTL: 24 * time.Hour, Prefix: "citytwin:tile:"}, nil
}

func (c *RedisCache) key(k Key) string {
	return fmt.Sprintf("%s%s:%s:%d:%d:%d", c.Prefix, k.Map, k.Layer, k.Z, k.X, k.Y)
}

func (c *RedisCache) genKey(m string) string { return c.Prefix + "gen:" + m }

// parseKey reads a tile key back; ok is false for other keys.
func (c *RedisCache) parseKey(s string) (Key, bool) {
	rest, ok := strings.CutPrefix(s, c.Prefix)
	if !ok {
		return Key{}, false
	}
	p := strings.Split(rest, ":")
	if len(p) != 5 {
		return Key{}, false
	}
	z, e1 := strconv.Atoi(p[2])
	x, e2 := strconv.ParseUint(p[3], 10, 32)
	y, e3 := strconv.ParseUint(p[4], 10, 32)
	if e1 != nil || e2 != nil || e3 != nil {
		return Key{}, false
	}
	return Key{Map: p[0], Layer: p[1], Z: z, X: uint32(x), Y: uint32(y)}, true
}

// Get returns the cached tile k.
func (c *RedisCache) Get(ctx context.Context, k Key) ([]byte, bool, error) {
	b, err := c.Client.Get(ctx, c.key(k)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// Gen returns map m's generation.
func (c *RedisCache) Gen(ctx context.Context, m string) (uint64, error) {
	v, err := c.Client.Get(ctx, c.genKey(m)).Uint64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return v, err
}

// PutIf stores b under k when k.Map's generation is still gen.
func (c *RedisCache) PutIf(ctx context.Context, k Key, gen uint64, b []byte) (bool, error) {
	ttl := c.TTL
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	n, err := putIfScript.Run(ctx, c.Client, []string{c.genKey(k.Map), c.key(k)},
		strconv.FormatUint(gen, 10), b, ttl.Milliseconds()).Int()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// maxListedKeys is how many tile keys a purge lists before it scans instead.
const maxListedKeys = 20000

// Purge drops the tiles sel matches.
func (c *RedisCache) Purge(ctx context.Context, sel Selection) (int, error) {
	if err := c.Client.Incr(ctx, c.genKey(sel.Map)).Err(); err != nil {
		return 0, err
	}
	layers := []string{""}
	if sel.Layer != "" {
		layers = append(layers, sel.Layer)
	} else if c.Layers != nil {
		layers = append(layers, c.Layers(sel.Map)...)
	}
	if keys, ok := c.listKeys(sel, layers); ok {
		n := 0
		for i := 0; i < len(keys); i += 1000 {
			d, err := c.Client.Del(ctx, keys[i:min(i+1000, len(keys))]...).Result()
			if err != nil {
				return n, err
			}
			n += int(d)
		}
		return n, nil
	}
	n := 0
	iter := c.Client.Scan(ctx, 0, c.Prefix+sel.Map+":*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		if k, ok := c.parseKey(iter.Val()); ok && sel.Matches(k) {
			batch = append(batch, iter.Val())
		}
		if len(batch) >= 1000 {
			d, err := c.Client.Del(ctx, batch...).Result()
			if err != nil {
				return n, err
			}
			n += int(d)
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return n, err
	}
	if len(batch) > 0 {
		d, err := c.Client.Del(ctx, batch...).Result()
		if err != nil {
			return n, err
		}
		n += int(d)
	}
	return n, nil
}

// listKeys lists the keys of the tiles under sel's bound at each zoom, when
// there are at most maxListedKeys of them.
func (c *RedisCache) listKeys(sel Selection, layers []string) ([]string, bool) {
	if sel.Bound == nil {
		return nil, false
	}
	var keys []string
	for z := sel.MinZoom; z <= sel.MaxZoom; z++ {
		x0, y0, x1, y1 := tileRange(*sel.Bound, z, sel.Margin)
		count := (x1 - x0 + 1) * (y1 - y0 + 1) * int64(len(layers))
		if int64(len(keys))+count > maxListedKeys {
			return nil, false
		}
		for x := x0; x <= x1; x++ {
			for y := y0; y <= y1; y++ {
				k := Key{Map: sel.Map, Z: z, X: uint32(x), Y: uint32(y)}
				if !sel.Matches(k) {
					continue
				}
				for _, l := range layers {
					k.Layer = l
					keys = append(keys, c.key(k))
				}
			}
		}
	}
	return keys, true
}

// tileRange is the range of tiles at zoom z that may meet b widened by
// margin tiles (one more tile each side, Matches decides exactly).
func tileRange(b orb.Bound, z int, margin float64) (x0, y0, x1, y1 int64) {
	n := int64(1) << uint(z)
	tl := maptile.Fraction(orb.Point{b.Min[0], b.Max[1]}, maptile.Zoom(z))
	br := maptile.Fraction(orb.Point{b.Max[0], b.Min[1]}, maptile.Zoom(z))
	m := math.Ceil(margin) + 1
	clamp := func(v float64) int64 {
		i := int64(math.Floor(v))
		return max(0, min(n-1, i))
	}
	return clamp(tl[0] - m), clamp(tl[1] - m), clamp(br[0] + m), clamp(br[1] + m)
}

// Close closes the Redis client.
func (c *RedisCache) Close() error { return c.Client.Close() }
