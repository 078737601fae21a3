// Package feed is the live feed of the twin: the Event type, the event log
// that events are written to in the same transaction as their data, and the
// Bus that carries committed events to every instance's websocket hub.
//
// Writers: append in the data's transaction, publish after commit.
//
//	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
//		// ... write the data ...
//		return feed.AppendEvents(ctx, tx, evs) // sets evs[i].Seq
//	})
//	if err == nil {
//		_ = bus.Publish(ctx, evs)
//	}
//
// Buses: NewLocalBus (in-process, the default) and NewNATSBus (several
// instances behind a load balancer; --nats-url). Readers: Log reads the
// log's position (epoch, seq), events after a seq, and trims it; Follower
// turns a bus into an exactly-once, in-order stream of the log, filling gaps
// and polling the log so that an event stored but never published (its
// writer died between commit and Publish) is still delivered.
package feed

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Streams of the live feed.
const (
	// StreamState carries the latest value per entity (device values,
	// online/offline, feature status); a slow client may skip to the latest.
	StreamState = "state"
	// StreamEvent carries things that happen (alarms, incidents); a client
	// sees every one, or a reset.
	StreamEvent = "event"
)

// Event is one change in the live feed. It is written to the event log in the
// same transaction as the data it describes (AppendEvents), then published on
// the bus; the hub routes it to the websocket clients whose subscriptions
// cover its layer, cell or entity.
type Event struct {
	// Seq is the event's position in the log, gapless and in commit order.
	Seq    int64  `json:"seq"`
	Stream string `json:"stream"`
	// Kind says what changed: "device_state", "device_status",
	// "feature_status", "alarm", "incident".
	Kind string `json:"kind"`
	// Entity is the id of what changed, e.g. "device:lamp-0001", "alarm:17".
	Entity string `json:"entity"`
	// Layer is the subscription layer: "devices", "alarms", "incidents", or a
	// feature layer of the registry.
	Layer string `json:"layer"`
	// Cell is the H3 cell (spatial.CoverRes) where it happened; 0 if nowhere.
	Cell uint64 `json:"cell,string,omitempty"`
	// Version of the entity; it grows with every change of that entity.
	Version int64           `json:"version"`
	At      time.Time       `json:"at"`
	Data    json.RawMessage `json:"data"`
}

// AppendEvents writes evs to the event log in tx, giving them the next
// sequence numbers (set in evs), and their time when At is zero. The row lock
// on event_seq serialises writers until tx ends, so sequence order is commit
// order; keep such transactions short.
func AppendEvents(ctx context.Context, tx pgx.Tx, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	var last, upto, partRows int64
	if err := tx.QueryRow(ctx, `UPDATE event_seq SET seq = seq + $1 RETURNING seq, part_upto, part_rows`, len(evs)).Scan(&last, &upto, &partRows); err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	// The log's partitions are made half a partition ahead of need, so that
	// most appends find theirs there.
	if need := last + partRows/2; need >= upto {
		if _, err := tx.Exec(ctx, `SELECT ct_event_log_partitions($1)`, need); err != nil {
			return fmt.Errorf("event log partition: %w", err)
		}
	}
	first := last - int64(len(evs)) + 1
	now := time.Now().UTC()
	rows := make([][]any, len(evs))
	for i := range evs {
		e := &evs[i]
		e.Seq = first + int64(i)
		if e.At.IsZero() {
			e.At = now
		}
		if len(e.Data) == 0 {
			e.Data = json.RawMessage(`{}`)
		}
		var cell any
		if e.Cell != 0 {
			cell = int64(e.Cell)
		}
		rows[i] = []any{e.Seq, e.At, e.Stream, e.Kind, e.Entity, e.Layer, cell, e.Version, []byte(e.Data)}
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"event_log"},
		[]string{"seq", "at", "stream", "kind", "entity", "layer", "cell", "version", "data"},
		pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	return nil
}

// Bus carries committed events to every subscriber: in-process by default,
// through NATS across instances. Publish is called after the transaction
// that appended the events has committed.
type Bus interface {
	// Publish delivers evs (in sequence order) to every subscriber of every
	// instance. It does not block on slow subscribers.
	Publish(ctx context.Context, evs []Event) error
	// Subscribe calls fn with each published batch, in order, until the
	// returned cancel function is called.
	Subscribe(fn func([]Event)) (cancel func())
	// Close stops the bus.
	Close() error
}

// AlarmData is the Data of an "alarm" event: the twin writes it when an alarm
// changes and the hub rebuilds it for snapshots, so both share this shape.
type AlarmData struct {
	ID           int64      `json:"id"`
	Device       string     `json:"device"`
	Type         string     `json:"type"`
	Severity     string     `json:"severity"`
	Message      string     `json:"message"`
	Metric       *string    `json:"metric"`
	Value        *float64   `json:"value"`
	Active       bool       `json:"active"`
	Acknowledged bool       `json:"acknowledged"`
	RaisedAt     time.Time  `json:"raised_at"`
	ClearedAt    *time.Time `json:"cleared_at"`
	AckedAt      *time.Time `json:"acked_at"`
	AckedBy      *string    `json:"acked_by"`
	Lon          float64    `json:"lon"`
	Lat          float64    `json:"lat"`
}
