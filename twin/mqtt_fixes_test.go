package twin_test

import (
	"bufio"
	"bytes"
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
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/citytwin/citytwin/internal/apptest"
	"github.com/citytwin/citytwin/internal/auth"
	"github.com/citytwin/citytwin/twin"
)

// mqtt5 is a minimal MQTT 5 client: it publishes at QoS 1 and reports each
// PUBACK's reason code and reason string (paho.mqtt.golang speaks 3.1.1).
type mqtt5 struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	id   uint16
}

func dialMQTT5(t *testing.T, addr, clientID, user, pass string) *mqtt5 {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := &mqtt5{t: t, conn: conn, r: bufio.NewReader(conn)}
	t.Cleanup(func() {
		conn.Write([]byte{packets.Disconnect << 4, 0})
		conn.Close()
	})
	c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 5,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 60, ClientIdentifier: clientID,
			UsernameFlag: true, Username: []byte(user), PasswordFlag: true, Password: []byte(pass)}})
	fh, body := c.read()
	if fh.Type != packets.Connack || len(body) < 2 || body[1] != 0 {
		t.Fatalf("MQTT 5 connect as %s: %v %x", user, fh, body)
	}
	return c
}

func (c *mqtt5) write(pk packets.Packet) {
	c.t.Helper()
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	}
	if err == nil {
		_, err = c.conn.Write(buf.Bytes())
	}
	if err != nil {
		c.t.Fatalf("MQTT 5 write: %v", err)
	}
}

func (c *mqtt5) read() (packets.FixedHeader, []byte) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var fh packets.FixedHeader
	b, err := c.r.ReadByte()
	if err == nil {
		err = fh.Decode(b)
	}
	var n int
	if err == nil {
		n, _, err = packets.DecodeLength(c.r)
	}
	body := make([]byte, n)
	if err == nil {
		_, err = io.ReadFull(c.r, body)
	}
	if err != nil {
		c.t.Fatalf("MQTT 5 read: %v", err)
	}
	fh.Remaining = n
	return fh, body
}

// publish sends payload to topic at QoS 1 and returns its PUBACK's reason
// code and reason string.
func (c *mqtt5) publish(topic, payload string) (byte, string) {
	c.t.Helper()
	c.id++
	c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 5,
		TopicName: topic, PacketID: c.id, Payload: []byte(payload)})
	for {
		fh, body := c.read()
		if fh.Type != packets.Puback {
			continue
		}
		ack := packets.Packet{FixedHeader: fh, ProtocolVersion: 5}
		if err := ack.PubackDecode(body); err != nil {
			c.t.Fatalf("PUBACK: %v", err)
		}
		if ack.PacketID == c.id {
			return ack.ReasonCode, ack.Properties.ReasonString
		}
	}
}

// logBuffer collects a server's log.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// mustServerLogging is mustServer logging at debug level to the returned
// buffer.
func mustServerLogging(t *testing.T) (*server, *logBuffer) {
	t.Helper()
	cfg := apptest.Config(t)
	cfg.LogLevel = "debug"
	cfg.LogFormat = "text"
	logs := &logBuffer{}
	a, _ := apptest.RunLogged(t, cfg, logs)
	return &server{App: a, admin: apptest.Key(t, a, auth.Admin), operator: apptest.Key(t, a, auth.Operator), viewer: apptest.Key(t, a, auth.Viewer)}, logs
}

// postJSON is apptest.DoJSON for other goroutines than the test's.
func postJSON(url, key, body string) (int, []byte, error) {
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// TestMQTTRefusals: what the embedded broker refuses is refused whole, with
// the MQTT 5 reason code that says why, stored nowhere, and logged in one
// short line of our own.
func TestMQTTRefusals(t *testing.T) {
	s, logs := mustServerLogging(t)
	for _, id := range []string{"env-1", "env-2", "env-3"} {
		s.createDevice(t, fmt.Sprintf(`{"id":%q,"kind":"env","lon":116.3,"lat":37.45}`, id))
	}
	addr := s.Twin.MQTTAddr()
	g5 := dialMQTT5(t, addr, "gateway-v5", "gateway", s.operator)
	g3 := mustMQTT(t, addr, "gateway", s.operator)
	rows := func(id string) int {
		return s.count(t, `SELECT count(*) FROM observations WHERE device_id = $1`, id)
	}
	at := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)

	t.Run("trailing junk", func(t *testing.T) {
		topic := "citytwin/devices/env-1/telemetry"
		good := fmt.Sprintf(`{"time":%q,"values":{"pm25":4}}`, rfc(at))
		for _, junk := range []string{"xyz", ` {"x":1}`, "]", "}", "{}", ` {"time":"2026-01-01T00:00:00Z","values":{"pm25":5}}`} {
			if code, reason := g5.publish(topic, good+junk); code != 0x99 {
				t.Errorf("MQTT 5 %s: PUBACK %#x %q", good+junk, code, reason)
			}
			if err := publish(t, g3, topic, good+junk); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []string{fmt.Sprintf(`{"time":%q}junk`, rfc(at)), `{}{}`, `{} x`} {
			if code, reason := g5.publish("citytwin/devices/env-1/heartbeat", p); code != 0x99 {
				t.Errorf("MQTT 5 heartbeat %s: PUBACK %#x %q", p, code, reason)
			}
			if err := publish(t, g3, "citytwin/devices/env-1/heartbeat", p); err != nil {
				t.Fatal(err)
			}
		}
		if n := rows("env-1"); n != 0 {
			t.Fatalf("%d rows stored from payloads with trailing junk", n)
		}
		if d := s.device(t, "env-1"); d.Status != "unknown" || d.LastSeen != nil {
			t.Fatalf("refused messages made env-1 %s, last seen %v", d.Status, d.LastSeen)
		}
		// The same payload without the junk is stored.
		if code, reason := g5.publish(topic, good); code != 0 {
			t.Fatalf("MQTT 5 %s: PUBACK %#x %q", good, code, reason)
		}
		if n := rows("env-1"); n != 1 {
			t.Fatalf("%d rows", n)
		}
	})

	t.Run("one refused value refuses the message", func(t *testing.T) {
		topic := "citytwin/devices/env-2/telemetry"
		for _, p := range []string{`{"values":{"pm25":25,"zzz":1}}`, `{"values":{"pm25":25,"pm10":1e9}}`, `{"values":{"pm25":25,"pm10":"high"}}`} {
			if code, reason := g5.publish(topic, p); code != 0x99 || !strings.Contains(reason, "none stored") {
				t.Errorf("MQTT 5 %s: PUBACK %#x %q", p, code, reason)
			}
			if err := publish(t, g3, topic, p); err != nil {
				t.Fatal(err)
			}
		}
		if n := rows("env-2"); n != 0 {
			t.Fatalf("%d values of refused messages stored", n)
		}
		if d := s.device(t, "env-2"); len(d.Values) != 0 || d.Status != "unknown" {
			t.Fatalf("refused messages changed env-2: %s %+v", d.Status, d.Values)
		}
		if code, reason := g5.publish(topic, `{"values":{"pm25":25,"pm10":30}}`); code != 0 {
			t.Fatalf("PUBACK %#x %q", code, reason)
		}
		if n := rows("env-2"); n != 2 {
			t.Fatalf("%d rows", n)
		}
	})

	t.Run("lower-case t and z", func(t *testing.T) {
		lower := strings.ToLower(rfc(at))
		if code, reason := g5.publish("citytwin/devices/env-3/telemetry", fmt.Sprintf(`{"time":%q,"values":{"pm25":4}}`, lower)); code != 0 {
			t.Fatalf("MQTT 5 telemetry at %s: PUBACK %#x %q", lower, code, reason)
		}
		if code, reason := g5.publish("citytwin/devices/env-3/heartbeat", fmt.Sprintf(`{"time":%q}`, lower)); code != 0 {
			t.Fatalf("MQTT 5 heartbeat at %s: PUBACK %#x %q", lower, code, reason)
		}
		lower2 := strings.ToLower(rfc(at.Add(time.Second)))
		r := s.ingest(t, s.operator, fmt.Sprintf(`[{"device":"env-3","time":%q,"metric":"pm25","value":5}]`, lower2))
		if r.Accepted != 1 || len(r.Rejected) != 0 {
			t.Fatalf("HTTP at %s: %+v", lower2, r)
		}
		resp, b := apptest.Do(t, "POST", s.URL()+"/api/v1/observations", s.operator,
			strings.NewReader(fmt.Sprintf(`{"device":"env-3","time":%q,"metric":"pm10","value":6}`+"\n", lower2)), "Content-Type", "application/x-ndjson")
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"accepted":1`) {
			t.Fatalf("NDJSON at %s: %d %s", lower2, resp.StatusCode, b)
		}
		if n := s.count(t, `SELECT count(*) FROM observations WHERE device_id = 'env-3' AND time IN ($1, $2)`, at, at.Add(time.Second)); n != 3 {
			t.Fatalf("%d rows at the lower-case times", n)
		}
	})

	t.Run("refused command acks", func(t *testing.T) {
		lamp := s.createDevice(t, `{"id":"lamp-1","kind":"lamp","lon":116.3,"lat":37.45}`)
		s.createDevice(t, `{"id":"lamp-2","kind":"lamp","lon":116.3,"lat":37.45}`)
		// lamp-2 has an open command (nobody answered it in time).
		resp, b := apptest.DoJSON(t, "POST", s.URL()+"/api/v1/devices/lamp-2/commands?timeout=100ms", s.operator, `{"command":"switch","args":{"on":true}}`)
		if resp.StatusCode != 504 {
			t.Fatalf("command to lamp-2: %d %s", resp.StatusCode, b)
		}
		resp, b = apptest.Do(t, "GET", s.URL()+"/api/v1/devices/lamp-2/commands", s.viewer, nil)
		var cs []twin.Command
		if resp.StatusCode != 200 || json.Unmarshal(b, &cs) != nil || len(cs) != 1 {
			t.Fatalf("lamp-2's commands: %d %s", resp.StatusCode, b)
		}
		before := logs.String()
		l5 := dialMQTT5(t, addr, "lamp-1-v5", "lamp-1", lamp.Key)
		l3 := mustMQTT(t, addr, "lamp-1", lamp.Key)
		topic := "citytwin/devices/lamp-1/commands/ack"
		for _, c := range []struct {
			payload string
			code    byte
		}{
			{`{"id":`, 0x99},
			{`{"id":1,"ok":"yes"}`, 0x99},
			{`{"id":1,"ok":true}junk`, 0x99},
			{`{"id":999999,"ok":true}`, 0x83},
			{fmt.Sprintf(`{"id":%d,"ok":true,"state":{"on":true}}`, cs[0].ID), 0x83}, // lamp-2's
		} {
			if code, reason := l5.publish(topic, c.payload); code != c.code || reason == "" {
				t.Errorf("MQTT 5 ack %s: PUBACK %#x %q, want %#x", c.payload, code, reason, c.code)
			}
			if err := publish(t, l3, topic, c.payload); err != nil {
				t.Fatalf("MQTT 3.1.1 ack %s: %v", c.payload, err)
			}
		}
		if d := s.device(t, "lamp-2"); len(d.Values) != 0 {
			t.Fatalf("lamp-1 answered lamp-2's command: %+v", d.Values)
		}
		// Each refusal is one short line of ours; mochi's error line with
		// the packet dumped is not there.
		added := strings.TrimPrefix(logs.String(), before)
		if strings.Contains(added, "publish packet error") || strings.Contains(added, "level=ERROR") {
			t.Fatalf("refused acks logged as errors:\n%s", added)
		}
		n := 0
		for _, line := range strings.Split(added, "\n") {
			if !strings.Contains(line, "mqtt: message refused") {
				continue
			}
			n++
			if !strings.Contains(line, "device=lamp-1") || !strings.Contains(line, "reason=") || len(line) > 500 {
				t.Errorf("refusal log line: %s", line)
			}
		}
		if n != 10 {
			t.Errorf("%d refusal lines for 10 refused acks:\n%s", n, added)
		}
	})
}

// TestMQTTPersistentSession: a command sent while a device with a
// persistent session is offline is delivered when it reconnects in time,
// and the API answers with its ack; another device, with its own valid
// key, cannot resume that session to take it.
func TestMQTTPersistentSession(t *testing.T) {
	s := mustServer(t)
	l1 := s.createDevice(t, `{"id":"lamp-1","kind":"lamp","lon":116.3,"lat":37.45}`)
	l2 := s.createDevice(t, `{"id":"lamp-2","kind":"lamp","lon":116.3,"lat":37.45}`)
	addr := s.Twin.MQTTAddr()
	const clientID = "lamp-1-controller"
	got := make(chan paho.Message, 8)
	connect := func(user, key string) (paho.Client, error) {
		opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(clientID).SetUsername(user).SetPassword(key).
			SetCleanSession(false).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetOrderMatters(false).
			SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { got <- m })
		c := paho.NewClient(opts)
		tok := c.Connect()
		if !tok.WaitTimeout(10 * time.Second) {
			return nil, fmt.Errorf("connect timeout")
		}
		if err := tok.Error(); err != nil {
			return nil, err
		}
		t.Cleanup(func() { c.Disconnect(0) })
		return c, nil
	}
	c, err := connect("lamp-1", l1.Key)
	if err != nil {
		t.Fatal(err)
	}
	if tok := c.Subscribe("citytwin/devices/lamp-1/commands", 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	c.Disconnect(100)
	time.Sleep(300 * time.Millisecond) // the broker has seen the connection end

	type answer struct {
		status int
		body   []byte
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		status, body, err := postJSON(s.URL()+"/api/v1/devices/lamp-1/commands?timeout=8s", s.operator, `{"command":"switch","args":{"on":true}}`)
		answered <- answer{status, body, err}
	}()
	eventually(t, func() string {
		if s.count(t, `SELECT count(*) FROM device_commands WHERE device_id = 'lamp-1'`) == 1 {
			return ""
		}
		return "the command was not recorded"
	})
	time.Sleep(200 * time.Millisecond) // and published, to the offline session

	// lamp-2 authenticates, but the session is lamp-1's.
	if _, err := connect("lamp-2", l2.Key); err == nil {
		t.Fatal("lamp-2 resumed lamp-1's session")
	}
	select {
	case m := <-got:
		t.Fatalf("delivered before lamp-1 came back: %s", m.Payload())
	default:
	}

	c, err = connect("lamp-1", l1.Key)
	if err != nil {
		t.Fatal(err)
	}
	var cmd struct {
		ID      int64
		Command string
	}
	select {
	case m := <-got:
		if m.Topic() != "citytwin/devices/lamp-1/commands" || json.Unmarshal(m.Payload(), &cmd) != nil || cmd.Command != "switch" {
			t.Fatalf("got %s: %s", m.Topic(), m.Payload())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the command sent while lamp-1 was offline was not delivered when it came back")
	}
	if err := publish(t, c, "citytwin/devices/lamp-1/commands/ack", fmt.Sprintf(`{"id":%d,"ok":true,"state":{"on":true}}`, cmd.ID)); err != nil {
		t.Fatal(err)
	}
	var a answer
	select {
	case a = <-answered:
	case <-time.After(15 * time.Second):
		t.Fatal("the API did not answer")
	}
	var got2 twin.Command
	if a.err != nil || a.status != 200 || json.Unmarshal(a.body, &got2) != nil || got2.Status != "ok" || got2.ID != cmd.ID {
		t.Fatalf("API: %d %s %v", a.status, a.body, a.err)
	}
	if d := s.device(t, "lamp-1"); d.Values["on"].Value != 1 {
		t.Fatalf("state after the ack: %+v", d.Values)
	}
}
