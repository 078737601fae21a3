package feed

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// ErrEpochChanged is returned by Follower.Run when the log's epoch is no
// longer the one it started from (the log was reset): the consumer must
// reload its state and start again.
var ErrEpochChanged = errors.New("feed: the event log's epoch changed")

// Follower turns the bus into an exactly-once, in-order stream of the log:
// it delivers every event after a position, in seq order, whether it came
// through the bus or not. Events that arrive out of order wait in a buffer;
// a gap that the bus does not fill within GapWait is read from the log; and
// the log's position is polled every PollInterval, so an event that was
// committed but never published (its writer died between commit and
// Publish) is still delivered, at most two poll intervals late.
type Follower struct {
	Log    *Log
	Bus    Bus
	Logger *slog.Logger
	// GapWait is how long an out-of-order event waits for the missing ones
	// before they are read from the log.
	GapWait time.Duration
	// PollInterval is how often the log's position is checked.
	PollInterval time.Duration
	// MaxBuffered bounds the events queued from the bus; past it the bus's
	// events are dropped and read back from the log instead.
	MaxBuffered int
	// ReadBatch is the most events read from the log at once.
	ReadBatch int
}

// NewFollower returns a Follower with default settings.
func NewFollower(log *Log, bus Bus, logger *slog.Logger) *Follower {
	return &Follower{Log: log, Bus: bus, Logger: logger, GapWait: 20 * time.Millisecond,
		PollInterval: 500 * time.Millisecond, MaxBuffered: 200000, ReadBatch: 5000}
}

// Run delivers every event with seq > from.Seq to fn, in seq order and each
// once, in batches, from Run's goroutine, until ctx ends (it returns
// ctx.Err()) or the log's epoch is no longer from.Epoch (ErrEpochChanged).
func (f *Follower) Run(ctx context.Context, from Position, fn func([]Event)) error {
	var (
		mu       sync.Mutex
		inbox    []Event
		dropped  bool
		signal   = make(chan struct{}, 1)
		pending  = map[int64]Event{}
		next     = from.Seq + 1
		lastPoll = from.Seq
	)
	cancel := f.Bus.Subscribe(func(evs []Event) {
		mu.Lock()
		if len(inbox)+len(evs) > f.MaxBuffered {
			dropped = true
		} else {
			inbox = append(inbox, evs...)
		}
		mu.Unlock()
		select {
		case signal <- struct{}{}:
		default:
		}
	})
	defer cancel()

	deliver := func() {
		var out []Event
		for {
			e, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			out = append(out, e)
			next++
		}
		if len(out) > 0 {
			fn(out)
		}
	}
	// readLog reads events after next-1 up to upto from the log into
	// pending and delivers them.
	readLog := func(upto int64) error {
		for next <= upto {
			evs, err := f.Log.Read(ctx, next-1, upto, f.ReadBatch)
			if err != nil {
				return err
			}
			if len(evs) == 0 {
				// Nothing held between next and upto: trimmed away.
				f.skip(&next, upto+1, pending)
				deliver()
				return nil
			}
			if evs[0].Seq > next {
				f.skip(&next, evs[0].Seq, pending)
			}
			for _, e := range evs {
				pending[e.Seq] = e
			}
			deliver()
			if len(evs) < f.ReadBatch {
				return nil
			}
		}
		return nil
	}

	gap := time.NewTimer(time.Hour)
	gap.Stop()
	gapArmed := false
	poll := time.NewTicker(f.PollInterval)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-signal:
			mu.Lock()
			evs := inbox
			inbox = nil
			lost := dropped
			dropped = false
			mu.Unlock()
			for _, e := range evs {
				if e.Seq >= next {
					pending[e.Seq] = e
				}
			}
			deliver()
			if lost {
				f.Logger.Warn("live feed: bus backlog dropped; reading from the event log")
			}
			if len(pending) > 0 && !gapArmed {
				gap.Reset(f.GapWait)
				gapArmed = true
			}
		case <-gap.C:
			gapArmed = false
			if len(pending) == 0 {
				continue
			}
			var max int64
			for s := range pending {
				if s > max {
					max = s
				}
			}
			if err := readLog(max); err != nil {
				f.Logger.Warn("live feed: reading the event log", "err", err)
				gap.Reset(f.PollInterval)
				gapArmed = true
			}
		case <-poll.C:
			pos, err := f.Log.Position(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				f.Logger.Warn("live feed: event log position", "err", err)
				continue
			}
			if pos.Epoch != from.Epoch {
				return ErrEpochChanged
			}
			// Read what was committed a whole interval ago and has still not
			// come through the bus.
			target := lastPoll
			lastPoll = pos.Seq
			if target >= next {
				if err := readLog(target); err != nil {
					f.Logger.Warn("live feed: reading the event log", "err", err)
				}
			}
		}
	}
}

// skip moves next forward to to, over events the log no longer holds.
func (f *Follower) skip(next *int64, to int64, pending map[int64]Event) {
	if to <= *next {
		return
	}
	// Events buffered from the bus below to are still good.
	var held []int64
	for s := range pending {
		if s < to {
			held = append(held, s)
		}
	}
	sort.Slice(held, func(i, j int) bool { return held[i] < held[j] })
	if len(held) > 0 && held[0] == *next {
		return
	}
	f.Logger.Warn("live feed: events missing from the event log (trimmed)", "from", *next, "to", to-1)
	if len(held) > 0 {
		*next = held[0]
		return
	}
	*next = to
}
