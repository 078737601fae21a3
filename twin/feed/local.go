package feed

import (
	"context"
	"sync"
)

// LocalBus is the in-process bus: Publish calls every subscriber in turn, in
// the publisher's goroutine. Subscribers must not block (the hub's Follower
// only queues the batch).
type LocalBus struct {
	mu     sync.Mutex
	subs   map[int]func([]Event)
	next   int
	closed bool
}

var _ Bus = (*LocalBus)(nil)

// NewLocalBus returns an in-process bus.
func NewLocalBus() *LocalBus { return &LocalBus{subs: map[int]func([]Event){}} }

// Publish delivers evs to every subscriber. Batches of concurrent publishers
// are delivered one after the other, never interleaved.
func (b *LocalBus) Publish(ctx context.Context, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	for _, fn := range b.subs {
		fn(evs)
	}
	return nil
}

// Subscribe calls fn with each published batch until cancel is called.
func (b *LocalBus) Subscribe(fn func([]Event)) (cancel func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.next
	b.next++
	b.subs[id] = fn
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.subs, id)
	}
}

// Close stops the bus; later Publish calls return ErrClosed.
func (b *LocalBus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	clear(b.subs)
	return nil
}
