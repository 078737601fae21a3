package pgcluster_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/citytwin/citytwin/internal/dbtest"
	"github.com/citytwin/citytwin/internal/pgcluster"
)

func TestClusterStartStaleRestartStop(t *testing.T) {
	ctx := context.Background()
	c := dbtest.NewCluster(t)
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		t.Fatal(err)
	}
	var postgis string
	if err := conn.QueryRow(ctx, `SELECT postgis_lib_version()`).Scan(&postgis); err != nil {
		t.Fatalf("PostGIS not enabled: %v", err)
	}
	conn.Close(ctx)
	t.Logf("PostGIS %s on port %d", postgis, c.Port)

	// A crash leaves postmaster.pid behind; the next start must cope.
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(c.Dir, "data", "postmaster.pid")
	waitGone(t, c.Port)
	if _, err := os.Stat(pidFile); err != nil {
		t.Fatalf("expected a stale pid file after the kill: %v", err)
	}
	// Make the pid file's pid certainly dead: a pid no process has.
	b, _ := os.ReadFile(pidFile)
	lines := strings.Split(string(b), "\n")
	lines[0] = "999999"
	if err := os.WriteFile(pidFile, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	port := c.Port
	if err := c.Start(ctx); err != nil {
		t.Fatalf("start after stale pid: %v", err)
	}
	if c.Port != port {
		t.Logf("restarted on port %d (was %d)", c.Port, port)
	}
	conn, err = pgx.Connect(ctx, c.URL())
	if err != nil {
		t.Fatalf("connect after restart: %v", err)
	}
	conn.Close(ctx)

	// A second Cluster on the same folder adopts the running server.
	other := &pgcluster.Cluster{Dir: c.Dir}
	if err := other.Start(ctx); err != nil {
		t.Fatalf("adopt: %v", err)
	}
	if other.Port != c.Port {
		t.Fatalf("adopted port %d, want %d", other.Port, c.Port)
	}

	if err := c.Restart(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Fatalf("pid file still there after stop: %v", err)
	}
	if _, err := pgx.Connect(ctx, c.URL()); err == nil {
		t.Fatal("server still answers after stop")
	}
}

func waitGone(t *testing.T, port int) {
	t.Helper()
	for i := 0; i < 100; i++ {
		conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return
		}
		conn.Close()
		waitABit()
	}
	t.Fatal("killed server still listens")
}

func TestFixedPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir, err := os.MkdirTemp("", "citytwin-pg-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	defer os.RemoveAll(dir)
	c := &pgcluster.Cluster{Dir: dir, Port: ln.Addr().(*net.TCPAddr).Port, Fast: true}
	err = c.Start(context.Background())
	if err == nil {
		c.Stop()
		t.Fatal("started on a port in use")
	}
	if !strings.Contains(err.Error(), "in use") {
		t.Fatalf("error does not say the port is in use: %v", err)
	}
}

func TestNotInstalledIsClear(t *testing.T) {
	t.Setenv("CITYTWIN_PG_BINDIR", t.TempDir())
	_, err := pgcluster.FindBinDir()
	if !errors.Is(err, pgcluster.ErrNotInstalled) || !strings.Contains(err.Error(), "initdb") {
		t.Fatalf("err = %v, want ErrNotInstalled naming what is missing", err)
	}
}

// TestUnreachableFolderIsRelocated: as root, a cluster folder that the
// postgres user cannot enter (a checkout under /root, say) moves to a folder
// it can, the same one on every start and stop.
func TestUnreachableFolderIsRelocated(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Log("not root: PostgreSQL runs as this user, nothing to relocate")
		return
	}
	private, err := os.MkdirTemp("", "citytwin-private-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(private) // 0700, like /root
	c := &pgcluster.Cluster{Dir: filepath.Join(private, "pg"), Fast: true}
	if err := c.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	moved := c.Dir
	defer os.RemoveAll(moved)
	if !strings.HasPrefix(moved, pgcluster.RelocationRoot) {
		t.Fatalf("cluster in %s, want it under %s", moved, pgcluster.RelocationRoot)
	}
	again := &pgcluster.Cluster{Dir: filepath.Join(private, "pg")}
	if err := again.Start(context.Background()); err != nil || again.Dir != moved || again.Port != c.Port {
		t.Fatalf("second start: dir %s port %d (want %s %d): %v", again.Dir, again.Port, moved, c.Port, err)
	}
	stop := &pgcluster.Cluster{Dir: filepath.Join(private, "pg")}
	if stop.BinDir, err = pgcluster.FindBinDir(); err != nil {
		t.Fatal(err)
	}
	if err := stop.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(moved, "data", "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("not stopped: %v", err)
	}
}
