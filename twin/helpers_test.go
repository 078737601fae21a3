package twin_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/citytwin/citytwin/internal/app"
	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/twin"
	"github.com/citytwin/citytwin/twin/feed"
)

type server struct {
	*app.App
	admin, operator, viewer string
	// url, when set, is a server in another process (App is nil).
	url string
}

// URL is the server's base URL.
func (s *server) URL() string {
	if s.url != "" {
		return s.url
	}
	return s.App.URL()
}

func mustServer(t *testing.T) *server {
	t.Helper()
	a := apptest.MustRun(t)
	return &server{App: a, admin: apptest.Key(t, a, auth.Admin), operator: apptest.Key(t, a, auth.Operator), viewer: apptest.Key(t, a, auth.Viewer)}
}

// createDevice registers one device and returns it with its key.
func (s *server) createDevice(t *testing.T, body string) twin.DeviceView {
	t.Helper()
	resp, b := apptest.DoJSON(t, "POST", s.URL()+"/api/v1/devices", s.admin, body)
	if resp.StatusCode != 201 {
		t.Fatalf("create device: %d %s", resp.StatusCode, b)
	}
	var d twin.DeviceView
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.Key, "ct_") {
		t.Fatalf("no key in %s", b)
	}
	return d
}

func (s *server) device(t *testing.T, id string) twin.DeviceView {
	t.Helper()
	resp, b := apptest.Do(t, "GET", s.URL()+"/api/v1/devices/"+id, s.viewer, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("get device: %d %s", resp.StatusCode, b)
	}
	var d twin.DeviceView
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func (s *server) ingest(t *testing.T, key, body string) twin.IngestResult {
	t.Helper()
	resp, b := apptest.DoJSON(t, "POST", s.URL()+"/api/v1/observations", key, body)
	if resp.StatusCode != 200 {
		t.Fatalf("ingest: %d %s", resp.StatusCode, b)
	}
	var r twin.IngestResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func (s *server) alarms(t *testing.T, query string) []twin.Alarm {
	t.Helper()
	resp, b := apptest.Do(t, "GET", s.URL()+"/api/v1/alarms?"+query, s.viewer, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("alarms: %d %s", resp.StatusCode, b)
	}
	var as []twin.Alarm
	if err := json.Unmarshal(b, &as); err != nil {
		t.Fatal(err)
	}
	return as
}

func (s *server) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := s.Pool.QueryRow(t.Context(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// events collects the events published on a bus.
type events struct {
	mu  sync.Mutex
	evs []feed.Event
}

func watch(t *testing.T, bus feed.Bus) *events {
	e := &events{}
	cancel := bus.Subscribe(func(evs []feed.Event) {
		e.mu.Lock()
		e.evs = append(e.evs, evs...)
		e.mu.Unlock()
	})
	t.Cleanup(cancel)
	return e
}

// wait returns the first event matching fn, waiting up to 10 s.
func (e *events) wait(t *testing.T, what string, fn func(feed.Event) bool) feed.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		e.mu.Lock()
		for _, ev := range e.evs {
			if fn(ev) {
				e.mu.Unlock()
				return ev
			}
		}
		e.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no event: %s", what)
	return feed.Event{}
}

func (e *events) all(fn func(feed.Event) bool) []feed.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []feed.Event
	for _, ev := range e.evs {
		if fn(ev) {
			out = append(out, ev)
		}
	}
	return out
}

// eventually polls fn until it returns "" or 10 s pass.
func eventually(t *testing.T, fn func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var msg string
	for time.Now().Before(deadline) {
		if msg = fn(); msg == "" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal(msg)
}

// mqttClient connects to the broker at addr as user with password.
func mqttClient(t *testing.T, addr, user, pass string) (paho.Client, error) {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(fmt.Sprintf("%s-%d", user, time.Now().UnixNano())).
		SetUsername(user).SetPassword(pass).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetOrderMatters(false)
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("connect timeout")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, nil
}

func mustMQTT(t *testing.T, addr, user, pass string) paho.Client {
	t.Helper()
	c, err := mqttClient(t, addr, user, pass)
	if err != nil {
		t.Fatalf("mqtt connect as %s: %v", user, err)
	}
	return c
}

func publish(t *testing.T, c paho.Client, topic, payload string) error {
	t.Helper()
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(10 * time.Second) {
		return fmt.Errorf("publish %s: no PUBACK", topic)
	}
	return tok.Error()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func httpPost(url, key, body string) (int, error) {
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
