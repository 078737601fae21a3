package tiles_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/paulmach/orb/maptile"

	"github.com/citytwin/citytwin/internal/app"
	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/config"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := app.Main(context.Background(), args, &out, &errb)
	return out.String() + errb.String(), err
}

func TestSeedAndPurgeCommands(t *testing.T) {
	url := startRedis(t)
	a := apptest.MustRun(t, func(c *config.Config) { c.PublicReads = true; c.RedisURL = url })
	insertBuilding(t, a.Pool, square(centre, 0.0004), "residential", 10, 3, "A", "")
	tl := maptile.At(centre, 14)
	b := tl.Bound()
	bbox := fmt.Sprintf("%f,%f,%f,%f", b.Min[0]+1e-4, b.Min[1]+1e-4, b.Max[0]-1e-4, b.Max[1]-1e-4)

	// seed through the running server: z13-14 of one z14 tile is 2 tiles
	out, err := runCLI(t, "tiles", "seed", "--server", a.URL(), "--map", "base", "--minzoom", "13", "--maxzoom", "14", "--bbox", bbox)
	if err != nil || !strings.Contains(out, "seeded 2 tiles") {
		t.Fatalf("seed --server: %v\n%s", err, out)
	}
	u, _ := tileURL(a, "base", "", centre, 14)
	if resp, _ := getTile(t, u, "", tl); resp.Header.Get("X-Tile-Cache") != "hit" {
		t.Fatal("seeded tile not cached")
	}
	// purge through the server's admin endpoint
	admin := apptest.Key(t, a, auth.Admin)
	out, err = runCLI(t, "tiles", "purge", "--server", a.URL(), "--key", admin, "--layer", "buildings", "--bbox", bbox)
	if err != nil || !strings.Contains(out, `"purged":2`) {
		t.Fatalf("purge --server: %v\n%s", err, out)
	}
	if resp, _ := getTile(t, u, "", tl); resp.Header.Get("X-Tile-Cache") != "miss" {
		t.Fatal("purged tile still cached")
	}
	// seed straight into Redis, from the database
	u15, tl15 := tileURL(a, "infra", "", centre, 15)
	out, err = runCLI(t, "tiles", "seed", "--database-url", a.DatabaseURL(), "--redis-url", url, "--map", "infra",
		"--minzoom", "15", "--maxzoom", "15", "--bbox", fmt.Sprintf("%f,%f,%f,%f", centre[0], centre[1], centre[0], centre[1]))
	if err != nil || !strings.Contains(out, "seeded 1 tiles") {
		t.Fatalf("seed --redis-url: %v\n%s", err, out)
	}
	if resp, _ := getTile(t, u15, "", tl15); resp.Header.Get("X-Tile-Cache") != "hit" {
		t.Fatal("tile seeded into Redis not served from it")
	}
	out, err = runCLI(t, "tiles", "purge", "--database-url", a.DatabaseURL(), "--redis-url", url)
	if err != nil || !strings.Contains(out, "purged") {
		t.Fatalf("purge --redis-url: %v\n%s", err, out)
	}
	if resp, _ := getTile(t, u15, "", tl15); resp.Header.Get("X-Tile-Cache") != "miss" {
		t.Fatal("tile purged from Redis still served from it")
	}

	// usage errors
	for _, args := range [][]string{
		{"tiles"},
		{"tiles", "nope"},
		{"tiles", "seed", "--server", a.URL()},
		{"tiles", "seed", "--server", a.URL(), "--minzoom", "1", "--maxzoom", "2", "--bbox", "1,2,3"},
		{"tiles", "seed", "--server", a.URL(), "--minzoom", "3", "--maxzoom", "2", "--bbox", "1,2,3,4"},
		{"tiles", "seed", "--minzoom", "1", "--maxzoom", "2", "--bbox", "1,2,3,4"},
		{"tiles", "purge", "--server", a.URL(), "--bbox", "a,b,c,d"},
	} {
		if out, err := runCLI(t, args...); err == nil {
			t.Fatalf("%v succeeded:\n%s", args, out)
		} else if _, ok := err.(*app.UsageError); !ok {
			t.Fatalf("%v: %v is not a usage error", args, err)
		}
	}
	// a purge without an admin key is refused by the server
	if out, err := runCLI(t, "tiles", "purge", "--server", a.URL()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("anonymous purge: %v\n%s", err, out)
	}
}
