package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// mqttPub publishes QoS 1 messages on one MQTT 3.1.1 connection, as a
// gateway does: one write per PUBLISH, up to maxInflight unacknowledged,
// and one goroutine reading the PUBACKs. Packets are encoded and decoded
// with mochi's packets package. (The load generator used paho's client
// before: its goroutine per message waiting on a token, and its reads of
// each PUBACK field by field, cost a third of the load generator's CPU,
// which it takes from the server it measures on a shared machine.)
type mqttPub struct {
	conn    net.Conn
	slots   chan struct{} // one per unacknowledged message
	acked   *atomic.Int64
	buf     bytes.Buffer
	mu      sync.Mutex
	pending map[uint16]bool
	next    uint16
	done    chan struct{} // closed when the reader ends
	err     error         // why the reader ended
}

const maxInflight = 2000

// dialMQTT connects and authenticates; acknowledged messages are counted
// in acked.
func dialMQTT(ctx context.Context, addr, clientID, user, pass string, acked *atomic.Int64) (*mqttPub, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mqtt connect %s: %w", addr, err)
	}
	p := &mqttPub{conn: conn, slots: make(chan struct{}, maxInflight), acked: acked, pending: map[uint16]bool{}, done: make(chan struct{})}
	connect := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, ClientIdentifier: clientID,
			UsernameFlag: true, Username: []byte(user), PasswordFlag: true, Password: []byte(pass)}}
	if err := connect.ConnectEncode(&p.buf); err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	r := bufio.NewReaderSize(conn, 64<<10)
	if _, err := conn.Write(p.buf.Bytes()); err != nil {
		conn.Close()
		return nil, fmt.Errorf("mqtt connect %s: %w", addr, err)
	}
	fh, body, err := readPacket(r, nil)
	if err == nil && (fh.Type != packets.Connack || len(body) < 2 || body[1] != 0) {
		err = fmt.Errorf("refused (%v)", body)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("mqtt connect %s: %w", addr, err)
	}
	conn.SetDeadline(time.Time{})
	go p.read(r)
	return p, nil
}

// readPacket reads one packet's fixed header and body (into buf's space).
func readPacket(r *bufio.Reader, buf []byte) (packets.FixedHeader, []byte, error) {
	var fh packets.FixedHeader
	b, err := r.ReadByte()
	if err != nil {
		return fh, nil, err
	}
	if err := fh.Decode(b); err != nil {
		return fh, nil, err
	}
	n, _, err := packets.DecodeLength(r)
	if err != nil {
		return fh, nil, err
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err = io.ReadFull(r, buf)
	return fh, buf, err
}

// read counts PUBACKs until the connection ends.
func (p *mqttPub) read(r *bufio.Reader) {
	defer close(p.done)
	var buf []byte
	for {
		fh, body, err := readPacket(r, buf)
		if err != nil {
			p.err = err
			return
		}
		buf = body
		if fh.Type != packets.Puback || len(body) < 2 {
			continue
		}
		id := uint16(body[0])<<8 | uint16(body[1])
		p.mu.Lock()
		ok := p.pending[id]
		delete(p.pending, id)
		p.mu.Unlock()
		if ok {
			p.acked.Add(1)
			<-p.slots
		}
	}
}

// reserve waits for a free in-flight slot, which the next publish takes.
func (p *mqttPub) reserve(ctx context.Context) error {
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-p.done:
		return fmt.Errorf("mqtt connection lost: %v", p.err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// publish sends one QoS 1 message in the slot reserve took.
func (p *mqttPub) publish(topic string, payload []byte) error {
	p.mu.Lock()
	for {
		p.next++
		if p.next != 0 && !p.pending[p.next] {
			break
		}
	}
	id := p.next
	p.pending[id] = true
	p.mu.Unlock()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 4,
		TopicName: topic, PacketID: id, Payload: payload}
	p.buf.Reset()
	if err := pk.PublishEncode(&p.buf); err != nil {
		return err
	}
	_, err := p.conn.Write(p.buf.Bytes())
	return err
}

// close waits up to wait for the messages in flight, sends DISCONNECT and
// closes the connection. It returns how many messages were not
// acknowledged.
func (p *mqttPub) close(wait time.Duration) int {
	deadline := time.Now().Add(wait)
	for len(p.slots) > 0 && time.Now().Before(deadline) {
		select {
		case <-p.done:
			deadline = time.Now()
		case <-time.After(10 * time.Millisecond):
		}
	}
	p.mu.Lock()
	unacked := len(p.pending)
	p.mu.Unlock()
	p.conn.SetWriteDeadline(time.Now().Add(time.Second))
	p.conn.Write([]byte{packets.Disconnect << 4, 0})
	p.conn.Close()
	<-p.done
	return unacked
}
