package feed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// DefaultSubject is the NATS subject the live feed is published on.
const DefaultSubject = "citytwin.feed"

// NATSBus carries the feed between instances through NATS: Publish delivers
// a batch to this instance's subscribers at once and sends it on Subject;
// every other instance subscribed to Subject delivers it to its own. A
// message lost in NATS (a disconnect) is not lost to clients: the hub's
// Follower reads gaps and polls the event log.
type NATSBus struct {
	Subject string
	Logger  *slog.Logger

	nc    *nats.Conn
	sub   *nats.Subscription
	self  string
	local *LocalBus
	max   int

	mu     sync.Mutex
	closed bool
}

var _ Bus = (*NATSBus)(nil)

// NewNATSBus connects to the NATS server at url (e.g. nats://127.0.0.1:4222)
// and subscribes to DefaultSubject. It fails when the server cannot be
// reached; once connected it reconnects for ever.
func NewNATSBus(url string, logger *slog.Logger) (*NATSBus, error) {
	var id [8]byte
	_, _ = rand.Read(id[:])
	b := &NATSBus{Subject: DefaultSubject, Logger: logger, self: hex.EncodeToString(id[:]), local: NewLocalBus()}
	nc, err := nats.Connect(url,
		nats.Name("citytwin-"+b.self),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond),
		nats.Timeout(5*time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("nats: disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { logger.Info("nats: reconnected", "url", c.ConnectedUrl()) }),
	)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w (start nats-server or unset --nats-url)", url, err)
	}
	b.nc = nc
	b.max = int(nc.MaxPayload()) / 2
	if b.max <= 0 {
		b.max = 512 << 10
	}
	sub, err := nc.Subscribe(b.Subject, b.receive)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats subscribe %s: %w", b.Subject, err)
	}
	_ = sub.SetPendingLimits(1<<20, 512<<20)
	b.sub = sub
	if err := nc.Flush(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats %s: %w", url, err)
	}
	return b, nil
}

// receive handles a batch from NATS; batches of this instance were already
// delivered by Publish.
func (b *NATSBus) receive(m *nats.Msg) {
	if m.Header.Get("Citytwin-Origin") == b.self {
		return
	}
	var evs []Event
	if err := json.Unmarshal(m.Data, &evs); err != nil {
		b.Logger.Warn("nats: bad feed message", "err", err, "bytes", len(m.Data))
		return
	}
	_ = b.local.Publish(context.Background(), evs)
}

// Publish delivers evs to this instance's subscribers and sends them to the
// others through NATS, split into messages under the server's payload limit.
func (b *NATSBus) Publish(ctx context.Context, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if err := b.local.Publish(ctx, evs); err != nil {
		return err
	}
	var first error
	for len(evs) > 0 {
		n, data, err := b.encode(evs)
		if err != nil {
			return err
		}
		evs = evs[n:]
		m := nats.NewMsg(b.Subject)
		m.Header.Set("Citytwin-Origin", b.self)
		m.Data = data
		if err := b.nc.PublishMsg(m); err != nil && first == nil {
			first = fmt.Errorf("nats publish: %w", err)
		}
	}
	return first
}

// encode marshals the longest prefix of evs that fits in one message (at
// least one event).
func (b *NATSBus) encode(evs []Event) (int, []byte, error) {
	n := len(evs)
	for {
		data, err := json.Marshal(evs[:n])
		if err != nil {
			return 0, nil, fmt.Errorf("nats publish: %w", err)
		}
		if len(data) <= b.max || n == 1 {
			return n, data, nil
		}
		// Aim under the limit from the average event size.
		m := int(float64(n) * float64(b.max) / float64(len(data)) * 0.9)
		n = max(1, min(m, n/2))
	}
}

// Subscribe calls fn with each batch published by any instance.
func (b *NATSBus) Subscribe(fn func([]Event)) (cancel func()) { return b.local.Subscribe(fn) }

// Close drains the subscription and closes the connection.
func (b *NATSBus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	_ = b.sub.Unsubscribe()
	b.nc.Close()
	return b.local.Close()
}
