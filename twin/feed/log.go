package feed

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrClosed is returned by a bus that has been closed.
var ErrClosed = errors.New("feed: bus closed")

// Position is a place in the event log: its epoch (which names the log and
// changes only if the log is reset) and the seq of the last committed event.
type Position struct {
	Epoch string `json:"epoch"`
	Seq   int64  `json:"seq"`
}

// Log reads the event log table.
type Log struct {
	Pool *pgxpool.Pool
}

// NewLog returns a reader of the event log in pool's database.
func NewLog(pool *pgxpool.Pool) *Log { return &Log{Pool: pool} }

// Querier is what Log's reads need: a pool, a connection or a transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Position returns the log's current position (the last committed seq).
func (l *Log) Position(ctx context.Context) (Position, error) {
	return PositionIn(ctx, l.Pool)
}

// PositionIn reads the log position with q, e.g. inside the REPEATABLE READ
// transaction that also reads a snapshot, so both are of the same instant.
func PositionIn(ctx context.Context, q Querier) (Position, error) {
	var p Position
	if err := q.QueryRow(ctx, `SELECT epoch, seq FROM event_seq`).Scan(&p.Epoch, &p.Seq); err != nil {
		return p, fmt.Errorf("event log position: %w", err)
	}
	return p, nil
}

// Oldest returns the smallest seq the log still holds, or 0 when it is empty.
func (l *Log) Oldest(ctx context.Context) (int64, error) {
	var s *int64
	if err := l.Pool.QueryRow(ctx, `SELECT min(seq) FROM event_log`).Scan(&s); err != nil {
		return 0, fmt.Errorf("event log: %w", err)
	}
	if s == nil {
		return 0, nil
	}
	return *s, nil
}

// Read returns up to limit events with after < seq <= upto (upto <= 0: no
// upper bound), in seq order.
func (l *Log) Read(ctx context.Context, after, upto int64, limit int) ([]Event, error) {
	return ReadIn(ctx, l.Pool, after, upto, limit)
}

// ReadIn is Read with q.
func ReadIn(ctx context.Context, q Querier, after, upto int64, limit int) ([]Event, error) {
	if upto <= 0 {
		upto = 1<<63 - 1
	}
	rows, err := q.Query(ctx, `SELECT seq, at, stream, kind, entity, layer, cell, version, data
		FROM event_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3`, after, upto, limit)
	if err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var cell *int64
		var data []byte
		if err := rows.Scan(&e.Seq, &e.At, &e.Stream, &e.Kind, &e.Entity, &e.Layer, &cell, &e.Version, &data); err != nil {
			return nil, fmt.Errorf("event log: %w", err)
		}
		if cell != nil {
			e.Cell = uint64(*cell)
		}
		e.At = e.At.UTC()
		e.Data = data
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}
	return out, nil
}

// Trim drops the events older than maxAge and all but the newest maxRows
// (a bound <= 0 is not applied), a whole partition at a time: it drops the
// partitions whose every event is past a bound, so the log keeps up to a
// partition more than the bounds ask. It returns the number of events
// dropped. A client whose since position falls before what is left gets a
// reset.
func (l *Log) Trim(ctx context.Context, maxAge time.Duration, maxRows int64) (int64, error) {
	var cur, upto int64
	if err := l.Pool.QueryRow(ctx, `SELECT seq, part_upto FROM event_seq`).Scan(&cur, &upto); err != nil {
		return 0, fmt.Errorf("event log trim: %w", err)
	}
	var cut int64
	if maxRows > 0 {
		cut = cur - maxRows
	}
	if maxAge > 0 {
		var s *int64
		err := l.Pool.QueryRow(ctx, `SELECT max(seq) FROM event_log WHERE at < $1`, time.Now().Add(-maxAge)).Scan(&s)
		if err != nil {
			return 0, fmt.Errorf("event log trim: %w", err)
		}
		if s != nil && *s > cut {
			cut = *s
		}
	}
	if cut <= 0 {
		return 0, nil
	}
	rows, err := l.Pool.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'event_log'::regclass`)
	if err != nil {
		return 0, fmt.Errorf("event log trim: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("event log trim: %w", err)
	}
	// Partitions are contiguous, each named after its first seq: one ends
	// where the next begins, the newest at part_upto.
	type part struct {
		name     string
		from, to int64
	}
	parts := make([]part, 0, len(names))
	for _, n := range names {
		if from, err := strconv.ParseInt(strings.TrimPrefix(n, "event_log_"), 10, 64); err == nil {
			parts = append(parts, part{name: n, from: from})
		}
	}
	slices.SortFunc(parts, func(a, b part) int { return cmp.Compare(a.from, b.from) })
	var drop []string
	var below int64
	for i := range parts {
		parts[i].to = upto
		if i+1 < len(parts) {
			parts[i].to = parts[i+1].from
		}
		// The newest partition stays whatever the bounds say: appends go there.
		if parts[i].to-1 > cut || parts[i].to == upto {
			break
		}
		drop = append(drop, pgx.Identifier{parts[i].name}.Sanitize())
		below = parts[i].to
	}
	if len(drop) == 0 {
		return 0, nil
	}
	var n int64
	err = pgx.BeginFunc(ctx, l.Pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM event_log WHERE seq < $1`, below).Scan(&n); err != nil {
			return err
		}
		// Dropping a partition locks the whole log for a moment; rather
		// than queue the ingest behind a long reader, give up and try
		// again at the next trim. (IF EXISTS: instances sharing the
		// database trim it each on its own.)
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '2s'`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+strings.Join(drop, ", "))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("event log trim: %w", err)
	}
	return n, nil
}
