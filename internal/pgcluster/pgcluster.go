// Package pgcluster runs a private PostgreSQL/PostGIS cluster for citytwin's
// demo and tests: it finds PostgreSQL's server binaries, runs initdb into a
// folder of its own, starts the server on a free loopback port, waits until it
// is ready, creates the database with PostGIS, and stops it again.
//
// PostgreSQL refuses to run as root, so when citytwin runs as root the
// cluster's files belong to, and its processes run as, the "postgres" system
// user (or CITYTWIN_PG_USER).
//
// A cluster left running by an earlier process is adopted; a stale
// postmaster.pid (its process gone) is removed before starting; a port in use
// makes it try another free port unless the port was fixed by the caller.
package pgcluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a private PostgreSQL cluster in Dir. Set the fields before Start.
type Cluster struct {
	// Dir holds the cluster: data/ (PGDATA) and postgres.log.
	Dir string
	// Port to listen on, on 127.0.0.1; 0 picks a free one.
	Port int
	// Database to create (with PostGIS); default "citytwin".
	Database string
	// BinDir is PostgreSQL's bin folder; found automatically when empty.
	BinDir string
	// Fast turns off fsync and synchronous commit: for tests only, where a
	// crash may lose the database.
	Fast bool
	// Logger receives progress; slog's default logger when nil.
	Logger *slog.Logger

	started bool // this process started the server (so Stop stops it)
	runAs   *user.User
}

// ErrNotInstalled says PostgreSQL's server or PostGIS is missing.
var ErrNotInstalled = errors.New("pgcluster: not installed")

func (c *Cluster) log() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

func (c *Cluster) database() string {
	if c.Database == "" {
		return "citytwin"
	}
	return c.Database
}

func (c *Cluster) dataDir() string { return filepath.Join(c.Dir, "data") }

// URL is the connection string of the cluster's database.
func (c *Cluster) URL() string { return c.URLFor(c.database()) }

// URLFor is the connection string of database db in the cluster.
func (c *Cluster) URLFor(db string) string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)), Path: "/" + db}
	q := url.Values{"sslmode": {"disable"}}
	u.RawQuery = q.Encode()
	return u.String()
}

// FindBinDir returns the folder holding initdb and pg_ctl: $CITYTWIN_PG_BINDIR,
// then `pg_config --bindir`, then the newest /usr/lib/postgresql/*/bin.
func FindBinDir() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
			if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
				return false
			}
		}
		return true
	}
	if d := os.Getenv("CITYTWIN_PG_BINDIR"); d != "" {
		if has(d) {
			return d, nil
		}
		return "", fmt.Errorf("%w: CITYTWIN_PG_BINDIR=%s has no initdb, pg_ctl and postgres", ErrNotInstalled, d)
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); has(d) {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	for _, d := range []string{"/usr/local/pgsql/bin", "/usr/bin"} {
		if has(d) {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w: PostgreSQL server binaries (initdb, pg_ctl) not found; install them with "+
		"`apt-get install postgresql postgis` (or run scripts/install-deps.sh), or set CITYTWIN_DATABASE_URL to an existing PostGIS database", ErrNotInstalled)
}

func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start initialises the cluster if needed, starts it (or adopts a running
// one), and makes sure the database exists with PostGIS.
func (c *Cluster) Start(ctx context.Context) error {
	if c.Dir == "" {
		return errors.New("pgcluster: Dir is required")
	}
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return err
	}
	c.Dir = dir
	if c.BinDir == "" {
		if c.BinDir, err = FindBinDir(); err != nil {
			return err
		}
	}
	if err := c.chooseUser(); err != nil {
		return err
	}
	c.relocate()
	if err := c.prepareDir(); err != nil {
		return err
	}
	unlock, err := lockFile(filepath.Join(c.Dir, ".lock"))
	if err != nil {
		return err
	}
	defer unlock()

	if _, err := os.Stat(filepath.Join(c.dataDir(), "PG_VERSION")); err != nil {
		if err := c.initdb(ctx); err != nil {
			return err
		}
	}
	port, running := c.runningPort()
	if running {
		c.Port = port
		c.log().Info("adopting running private PostgreSQL", "dir", c.Dir, "port", port)
	} else if err := c.startServer(ctx); err != nil {
		return err
	}
	return c.ensureDatabase(ctx)
}

func (c *Cluster) chooseUser() error {
	if os.Geteuid() != 0 {
		return nil
	}
	name := os.Getenv("CITYTWIN_PG_USER")
	if name == "" {
		name = "postgres"
	}
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("pgcluster: running as root, PostgreSQL must run as an unprivileged user, but user %q does not exist "+
			"(install postgresql, which creates it, or set CITYTWIN_PG_USER): %w", name, err)
	}
	c.runAs = u
	return nil
}

func (c *Cluster) ids() (int, int) {
	uid, _ := strconv.Atoi(c.runAs.Uid)
	gid, _ := strconv.Atoi(c.runAs.Gid)
	return uid, gid
}

// RelocationRoot holds clusters whose folder the unprivileged PostgreSQL
// user could not reach (a checkout under /root, say).
const RelocationRoot = "/var/lib/citytwin"

// relocate moves the cluster, when running as root, to a folder under
// RelocationRoot named after Dir's absolute path, if the PostgreSQL user
// could not enter Dir's parents. The same Dir always maps to the same place,
// so a later start (or stop) finds the cluster again.
func (c *Cluster) relocate() {
	if c.runAs == nil || reachable(filepath.Dir(c.Dir)) {
		return
	}
	abs, _ := filepath.Abs(c.Dir)
	sum := sha256.Sum256([]byte(abs))
	to := filepath.Join(RelocationRoot, "pg-"+hex.EncodeToString(sum[:6]))
	c.log().Warn("PostgreSQL's user cannot reach the cluster folder; using another", "wanted", abs, "using", to)
	c.Dir = to
}

// reachable reports whether every folder from dir up to / can be entered by
// any user.
func reachable(dir string) bool {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return os.IsNotExist(err) // created later with 0755
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == "/" {
			return true
		}
	}
}

// prepareDir creates Dir and, when running as root, gives it to the
// unprivileged user and checks that user can reach it.
func (c *Cluster) prepareDir() error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if c.runAs == nil {
		return nil
	}
	uid, gid := c.ids()
	if err := os.Chown(c.Dir, uid, gid); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	for d := filepath.Dir(c.Dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("pgcluster: PostgreSQL runs as user %q, which cannot enter %s (mode %v); choose a cluster folder it can reach "+
				"or run `chmod o+x %s`", c.runAs.Username, d, fi.Mode().Perm(), d)
		}
		if d == "/" {
			return nil
		}
	}
}

func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, name), args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	if c.runAs != nil {
		uid, gid := c.ids()
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		cmd.Env = append(cmd.Env, "HOME="+c.runAs.HomeDir, "USER="+c.runAs.Username)
	}
	return cmd
}

func (c *Cluster) initdb(ctx context.Context) error {
	c.log().Info("initialising private PostgreSQL cluster", "dir", c.dataDir())
	_ = os.RemoveAll(c.dataDir())
	cmd := c.command(ctx, "initdb", "-D", c.dataDir(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgcluster: initdb failed: %w\n%s", err, out)
	}
	return nil
}

// runningPort reports whether a postmaster from postmaster.pid is alive and on
// which port. A pid file whose process is gone is removed.
func (c *Cluster) runningPort() (int, bool) {
	pidFile := filepath.Join(c.dataDir(), "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, false
	}
	lines := strings.Split(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(lines[0]))
	port := 0
	if len(lines) > 3 {
		port, _ = strconv.Atoi(strings.TrimSpace(lines[3]))
	}
	if pid > 0 && processIsPostgres(pid) && port > 0 && canConnect(port) {
		return port, true
	}
	if pid > 0 && processIsPostgres(pid) {
		// Alive but not answering: starting up or shutting down. Wait briefly.
		for i := 0; i < 50 && port > 0; i++ {
			time.Sleep(100 * time.Millisecond)
			if canConnect(port) {
				return port, true
			}
		}
		return 0, false
	}
	c.log().Warn("removing stale postmaster.pid", "pid", pid, "file", pidFile)
	_ = os.Remove(pidFile)
	return 0, false
}

func processIsPostgres(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return true // no /proc: trust kill(0)
	}
	return strings.HasPrefix(strings.TrimSpace(string(comm)), "postgres")
}

func canConnect(port int) bool {
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 200*time.Millisecond)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *Cluster) startServer(ctx context.Context) error {
	fixed := c.Port != 0
	logFile := filepath.Join(c.Dir, "postgres.log")
	for attempt := 0; attempt < 5; attempt++ {
		if !fixed {
			p, err := FreePort()
			if err != nil {
				return fmt.Errorf("pgcluster: %w", err)
			}
			c.Port = p
		} else if canConnect(c.Port) {
			return fmt.Errorf("pgcluster: port %d on 127.0.0.1 is already in use by another program; choose another port or leave it unset", c.Port)
		}
		opts := []string{
			"-c listen_addresses=127.0.0.1",
			"-p " + strconv.Itoa(c.Port),
			"-c unix_socket_directories=''",
			"-c max_connections=300",
			"-c shared_buffers=256MB",
			"-c max_locks_per_transaction=256",
			"-c logging_collector=off",
		}
		if c.Fast {
			opts = append(opts, "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off")
		}
		c.log().Info("starting private PostgreSQL", "dir", c.Dir, "port", c.Port)
		cmd := c.command(ctx, "pg_ctl", "-D", c.dataDir(), "-l", logFile, "-w", "-t", "90", "-o", strings.Join(opts, " "), "start")
		out, err := cmd.CombinedOutput()
		if err == nil {
			c.started = true
			return nil
		}
		tail := logTail(logFile, 20)
		if strings.Contains(tail, "could not bind") || strings.Contains(tail, "already in use") {
			if fixed {
				return fmt.Errorf("pgcluster: port %d on 127.0.0.1 is already in use by another program", c.Port)
			}
			c.log().Warn("port taken while starting PostgreSQL, trying another", "port", c.Port)
			continue
		}
		return fmt.Errorf("pgcluster: pg_ctl start failed: %w\n%s\n--- %s (last lines) ---\n%s", err, out, logFile, tail)
	}
	return errors.New("pgcluster: could not find a free port for PostgreSQL after 5 tries")
}

func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (c *Cluster) ensureDatabase(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URLFor("postgres"))
	if err != nil {
		return fmt.Errorf("pgcluster: connect: %w", err)
	}
	defer conn.Close(ctx)
	var avail bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'postgis')`).Scan(&avail); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if !avail {
		major := majorOf(c.BinDir)
		return fmt.Errorf("%w: PostGIS is not installed for this PostgreSQL (%s); install it with `apt-get install postgresql-%d-postgis-3` "+
			"(or run scripts/install-deps.sh)", ErrNotInstalled, c.BinDir, major)
	}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, c.database()).Scan(&exists); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{c.database()}.Sanitize()); err != nil {
			return fmt.Errorf("pgcluster: create database: %w", err)
		}
	}
	db, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		return fmt.Errorf("pgcluster: connect: %w", err)
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS postgis`); err != nil {
		return fmt.Errorf("pgcluster: create extension postgis: %w", err)
	}
	return nil
}

// Stop stops the server if this process started or adopted it.
func (c *Cluster) Stop() error {
	if c.BinDir == "" || c.Dir == "" {
		return nil
	}
	if abs, err := filepath.Abs(c.Dir); err == nil {
		c.Dir = abs
	}
	if c.runAs == nil {
		if err := c.chooseUser(); err != nil {
			return err
		}
	}
	c.relocate()
	if _, err := os.Stat(filepath.Join(c.dataDir(), "postmaster.pid")); err != nil {
		return nil
	}
	c.log().Info("stopping private PostgreSQL", "dir", c.Dir)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := c.command(ctx, "pg_ctl", "-D", c.dataDir(), "-m", "fast", "-w", "-t", "60", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgcluster: pg_ctl stop: %w\n%s", err, out)
	}
	c.started = false
	return nil
}

// Kill stops the server abruptly (SIGKILL to the postmaster), as a crash
// would. Tests use it to check recovery.
func (c *Cluster) Kill() error {
	b, err := os.ReadFile(filepath.Join(c.dataDir(), "postmaster.pid"))
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Scan()
	pid, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
	if err != nil {
		return err
	}
	return syscall.Kill(pid, syscall.SIGKILL)
}

// Restart stops and starts the server on the same port.
func (c *Cluster) Restart(ctx context.Context) error {
	if err := c.Stop(); err != nil {
		return err
	}
	port := c.Port
	if err := c.Start(ctx); err != nil {
		return err
	}
	if c.Port != port {
		return fmt.Errorf("pgcluster: restarted on port %d instead of %d", c.Port, port)
	}
	return nil
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("pgcluster: lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
