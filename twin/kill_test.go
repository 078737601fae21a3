package twin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/internal/dbtest"
)

// buildCitytwin builds the citytwin command into a temporary folder.
func buildCitytwin(t *testing.T) string {
	t.Helper()
	root, err := dbtest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "citytwin")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serveProc is a `citytwin serve` process.
type serveProc struct {
	cmd  *exec.Cmd
	url  string
	log  string
	done chan error
}

// startServe runs `citytwin serve` on the database at dbURL, on free
// loopback ports, and waits until it is ready.
func startServe(t *testing.T, bin, dbURL string) *serveProc {
	t.Helper()
	dir := t.TempDir()
	p := &serveProc{url: fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), log: filepath.Join(dir, "server.log"), done: make(chan error, 1)}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, "serve", "--database-url", dbURL, "--data-dir", dir,
		"--addr", strings.TrimPrefix(p.url, "http://"), "--mqtt-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--log-level", "info")
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.done <- p.cmd.Wait()
		logf.Close()
	}()
	t.Cleanup(func() { p.kill(t) })
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(p.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("citytwin serve exited: %v\n%s", err, p.output())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("citytwin serve not ready within 2 minutes\n%s", p.output())
		}
	}
}

func (p *serveProc) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// kill sends SIGKILL and waits for the process to end.
func (p *serveProc) kill(t *testing.T) {
	t.Helper()
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Errorf("citytwin serve (pid %d) did not end after SIGKILL", p.cmd.Process.Pid)
	}
}

func createKey(t *testing.T, pool *pgxpool.Pool, role auth.Role) string {
	t.Helper()
	var key string
	err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		var err error
		key, err = auth.CreateKey(context.Background(), tx, "kill-test-"+string(role), role, "")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// wsMsg is a server message of the websocket feed.
type wsMsg struct {
	Type     string          `json:"type"`
	Epoch    string          `json:"epoch"`
	Seq      int64           `json:"seq"`
	Entity   string          `json:"entity"`
	Version  int64           `json:"version"`
	Reason   string          `json:"reason"`
	Data     json.RawMessage `json:"data"`
	Items    []wsMsg         `json:"items"`
	Entities []struct {
		Entity  string `json:"entity"`
		Version int64  `json:"version"`
	} `json:"entities"`
	Events []struct {
		Entity string `json:"entity"`
	} `json:"events"`
}

// wsFeed is a websocket client of the feed; batches are unpacked.
type wsFeed struct {
	t     *testing.T
	conn  *websocket.Conn
	queue []wsMsg
}

func dialFeed(t *testing.T, url, key string) *wsFeed {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/ws?access_token="+key, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &wsFeed{t: t, conn: conn}
}

func (f *wsFeed) send(v any) {
	f.t.Helper()
	if err := f.conn.WriteJSON(v); err != nil {
		f.t.Fatal(err)
	}
}

// next returns the next message, waiting up to wait.
func (f *wsFeed) next(wait time.Duration) (wsMsg, error) {
	for len(f.queue) == 0 {
		_ = f.conn.SetReadDeadline(time.Now().Add(wait))
		var m wsMsg
		if err := f.conn.ReadJSON(&m); err != nil {
			return wsMsg{}, err
		}
		if m.Type == "batch" {
			f.queue = append(f.queue, m.Items...)
		} else {
			f.queue = append(f.queue, m)
		}
	}
	m := f.queue[0]
	f.queue = f.queue[1:]
	return m, nil
}

func (f *wsFeed) expect(typ string) wsMsg {
	f.t.Helper()
	m, err := f.next(20 * time.Second)
	if err != nil {
		f.t.Fatalf("ws read (want %s): %v", typ, err)
	}
	if m.Type != typ {
		f.t.Fatalf("got %+v, want a %s message", m, typ)
	}
	return m
}

// TestKilledServeRestarts runs a real `citytwin serve`, ingests, raises an
// alarm and starts a duration condition, kills the process with SIGKILL and
// starts another on the same database: the latest state and the active
// alarms are the same, a websocket client resuming with its epoch and seq
// gets exactly what it missed (or a reset when its epoch is unknown), and
// the duration condition still counts from when it began.
func TestKilledServeRestarts(t *testing.T) {
	bin := buildCitytwin(t)
	dbURL := dbtest.NewDatabase(t)
	pool := dbtest.MustOpenPoolURL(t, dbURL)
	s := &server{admin: createKey(t, pool, auth.Admin), operator: createKey(t, pool, auth.Operator), viewer: createKey(t, pool, auth.Viewer)}

	p1 := startServe(t, bin, dbURL)
	s.url = p1.url
	s.createDevice(t, `{"id":"env-1","kind":"env","lon":116.3,"lat":37.45}`)
	s.createDevice(t, `{"id":"p-1","kind":"pressure","lon":116.31,"lat":37.46}`)
	base := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Second)
	s.ingest(t, s.operator, "["+obs("env-1", "pm25", base, 88)+","+obs("env-1", "temp_c", base, 19)+","+
		obs("p-1", "pressure_mpa", base, 0.10)+"]")
	// Pressure below 0.15 MPa (the built-in rule: for 60 s) since base.
	s.ingest(t, s.operator, "["+obs("p-1", "pressure_mpa", base.Add(30*time.Second), 0.12)+"]")
	active := s.alarms(t, "active=true")
	if len(active) != 1 || active[0].Device != "env-1" || active[0].Type != "pm25_high" {
		t.Fatalf("active alarms before the kill: %+v", active)
	}

	// A websocket client sees one delta, then goes away and misses another.
	ws := dialFeed(t, p1.url, s.viewer)
	ws.send(map[string]any{"type": "subscribe", "entities": []string{"device:env-1", "device:p-1"}})
	snap := ws.expect("snapshot")
	s.ingest(t, s.operator, "["+obs("env-1", "pm25", base.Add(40*time.Second), 90)+"]")
	seen := ws.expect("delta")
	if seen.Entity != "device:env-1" || seen.Seq <= snap.Seq {
		t.Fatalf("delta %+v after snapshot at %d", seen, snap.Seq)
	}
	ws.conn.Close()
	s.ingest(t, s.operator, "["+obs("env-1", "pm25", base.Add(45*time.Second), 92)+"]")
	beforeEnv, beforeP := s.device(t, "env-1"), s.device(t, "p-1")

	p1.kill(t)
	if _, err := http.Get(p1.url + "/readyz"); err == nil {
		t.Fatal("the killed server still answers")
	}

	p2 := startServe(t, bin, dbURL)
	s.url = p2.url
	for _, before := range []struct {
		id string
		d  any
	}{{"env-1", beforeEnv}, {"p-1", beforeP}} {
		b1, _ := json.Marshal(before.d)
		b2, _ := json.Marshal(s.device(t, before.id))
		if string(b1) != string(b2) {
			t.Fatalf("%s changed across the kill:\nbefore %s\nafter  %s", before.id, b1, b2)
		}
	}
	if after := s.alarms(t, "active=true"); len(after) != 1 || after[0].ID != active[0].ID || !after[0].Active {
		t.Fatalf("active alarms after the restart: %+v, before %+v", after, active)
	}

	// The client resumes where it was: the missed delta, then live ones.
	ws = dialFeed(t, p2.url, s.viewer)
	ws.send(map[string]any{"type": "subscribe", "entities": []string{"device:env-1", "device:p-1"},
		"since": map[string]any{"epoch": seen.Epoch, "seq": seen.Seq}})
	if m := ws.expect("resumed"); m.Epoch != seen.Epoch || m.Seq != seen.Seq {
		t.Fatalf("resumed %+v, want epoch %s seq %d", m, seen.Epoch, seen.Seq)
	}
	missed := ws.expect("delta")
	var d struct {
		Values map[string]struct{ Value float64 }
	}
	if err := json.Unmarshal(missed.Data, &d); err != nil || missed.Entity != "device:env-1" || missed.Version != beforeEnv.Version ||
		d.Values["pm25"].Value != 92 {
		t.Fatalf("replayed delta %+v (%s), want env-1 v%d with pm25 92", missed, missed.Data, beforeEnv.Version)
	}
	// Still pending since base: 61 s later the duration alarm is raised.
	s.ingest(t, s.operator, "["+obs("p-1", "pressure_mpa", base.Add(61*time.Second), 0.11)+"]")
	as := s.alarms(t, "device=p-1&active=true")
	if len(as) != 1 || as[0].Type != "low_pressure" {
		t.Fatalf("low pressure since %s, 61 s later across a restart: alarms %+v", base.Format(time.TimeOnly), as)
	}
	live := ws.expect("delta")
	if live.Entity != "device:p-1" || live.Seq <= missed.Seq || live.Version != beforeP.Version+1 {
		t.Fatalf("live delta %+v after the replay (seq %d)", live, missed.Seq)
	}
	// The active alarm is known to the new process: no duplicate.
	s.ingest(t, s.operator, "["+obs("env-1", "pm25", base.Add(50*time.Second), 95)+"]")
	if all := s.alarms(t, "device=env-1"); len(all) != 1 || all[0].ID != active[0].ID {
		t.Fatalf("env-1 alarms: %+v", all)
	}

	// A client of an unknown epoch gets a reset and a fresh snapshot.
	ws2 := dialFeed(t, p2.url, s.viewer)
	ws2.send(map[string]any{"type": "subscribe", "entities": []string{"device:env-1", "device:p-1"},
		"since": map[string]any{"epoch": "not-" + seen.Epoch, "seq": seen.Seq}})
	if m := ws2.expect("reset"); m.Reason != "epoch" {
		t.Fatalf("reset %+v, want reason epoch", m)
	}
	snap2 := ws2.expect("snapshot")
	got := map[string]int64{}
	for _, e := range snap2.Entities {
		got[e.Entity] = e.Version
	}
	now := map[string]int64{"device:env-1": s.device(t, "env-1").Version, "device:p-1": s.device(t, "p-1").Version}
	if fmt.Sprint(got) != fmt.Sprint(now) {
		t.Fatalf("snapshot after reset %v, want %v", got, now)
	}
	if !strings.Contains(p2.output(), "pending duration conditions rebuilt") {
		t.Errorf("the restarted server did not rebuild the pending condition:\n%s", p2.output())
	}
}
