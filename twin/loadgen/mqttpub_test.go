package loadgen

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// countHook counts the messages the broker received and checks their
// topic and payload.
type countHook struct {
	mqtt.HookBase
	n   atomic.Int64
	bad atomic.Int64
}

func (h *countHook) ID() string { return "count" }
func (h *countHook) Provides(b byte) bool {
	return b == mqtt.OnPublish || b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}
func (h *countHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	return string(pk.Connect.Username) == "gateway" && string(pk.Connect.Password) == "key"
}
func (h *countHook) OnACLCheck(*mqtt.Client, string, bool) bool { return true }
func (h *countHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.TopicName != "citytwin/devices/d1/telemetry" || string(pk.Payload) != `{"v":1}` || pk.FixedHeader.Qos != 1 {
		h.bad.Add(1)
	}
	h.n.Add(1)
	return pk, nil
}

// TestMQTTPub: every message published with QoS 1 reaches a real broker
// and is counted once when its PUBACK comes back, with more messages than
// packet ids and than in-flight slots; a refused login is an error.
func TestMQTTPub(t *testing.T) {
	srv := mqtt.New(&mqtt.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	h := &countHook{}
	if err := srv.AddHook(h, nil); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AddListener(listeners.NewNet("t", ln)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	addr := ln.Addr().String()

	if _, err := dialMQTT(ctx, addr, "c0", "gateway", "wrong", new(atomic.Int64)); err == nil {
		t.Fatal("a wrong password connected")
	}
	var acked atomic.Int64
	p, err := dialMQTT(ctx, addr, "c1", "gateway", "key", &acked)
	if err != nil {
		t.Fatal(err)
	}
	const n = 70000 // more than the 65,535 packet ids
	for range n {
		if err := p.reserve(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p.publish("citytwin/devices/d1/telemetry", []byte(`{"v":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	if unacked := p.close(10 * time.Second); unacked != 0 {
		t.Fatalf("%d messages not acknowledged", unacked)
	}
	if acked.Load() != n || h.n.Load() != n || h.bad.Load() != 0 {
		t.Fatalf("acked %d, broker received %d (%d malformed), want %d", acked.Load(), h.n.Load(), h.bad.Load(), n)
	}
}
