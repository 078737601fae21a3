package feed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/citytwin/citytwin/internal/dbtest"
	"github.com/citytwin/citytwin/twin/feed"
)

func logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func events(n int, size int) []feed.Event {
	evs := make([]feed.Event, n)
	for i := range evs {
		data, _ := json.Marshal(map[string]string{"pad": strings.Repeat("x", size)})
		evs[i] = feed.Event{Seq: int64(i + 1), Stream: feed.StreamState, Kind: "device", Entity: fmt.Sprintf("device:%d", i),
			Layer: "devices", Version: 1, At: time.Now().UTC(), Data: data}
	}
	return evs
}

func TestLocalBus(t *testing.T) {
	b := feed.NewLocalBus()
	var got [][]feed.Event
	cancel := b.Subscribe(func(evs []feed.Event) { got = append(got, evs) })
	if err := b.Publish(context.Background(), events(3, 1)); err != nil {
		t.Fatal(err)
	}
	cancel()
	_ = b.Publish(context.Background(), events(2, 1))
	if len(got) != 1 || len(got[0]) != 3 {
		t.Fatalf("got %v", got)
	}
	b.Close()
	if err := b.Publish(context.Background(), events(1, 1)); err != feed.ErrClosed {
		t.Fatalf("publish after close: %v", err)
	}
}

// startNATS starts a real nats-server on a free loopback port.
func startNATS(t *testing.T) string {
	t.Helper()
	bin := "/usr/sbin/nats-server"
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("nats-server"); err != nil {
			t.Fatal("nats-server is not installed (scripts/install-deps.sh installs it)")
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "-a", host, "-p", port)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server did not start on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "nats://" + addr
}

// TestNATSBus: a batch published on one instance's bus reaches the other's
// subscribers once, in order, also when it must be split to fit NATS's
// payload limit; the publisher's own subscribers get it once too.
func TestNATSBus(t *testing.T) {
	url := startNATS(t)
	a, err := feed.NewNATSBus(url, logger())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := feed.NewNATSBus(url, logger())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	gotB := make(chan []feed.Event, 100)
	b.Subscribe(func(evs []feed.Event) { gotB <- evs })
	gotA := make(chan []feed.Event, 100)
	a.Subscribe(func(evs []feed.Event) { gotA <- evs })

	// 3000 events of 1 KiB: more than one NATS message (1 MiB limit).
	sent := events(3000, 1000)
	if err := a.Publish(context.Background(), sent); err != nil {
		t.Fatal(err)
	}
	var n int64
	var parts int
	for n < int64(len(sent)) {
		select {
		case evs := <-gotB:
			parts++
			for _, e := range evs {
				n++
				if e.Seq != n || e.Entity != sent[n-1].Entity || string(e.Data) != string(sent[n-1].Data) {
					t.Fatalf("event %d = %+v", n, e)
				}
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d of %d events through NATS", n, len(sent))
		}
	}
	if parts < 2 {
		t.Errorf("3 MB arrived in %d message(s); expected a split", parts)
	}
	if evs := <-gotA; len(evs) != len(sent) {
		t.Fatalf("own subscriber got %d events", len(evs))
	}
	select {
	case evs := <-gotA:
		t.Fatalf("own subscriber got %d events twice", len(evs))
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := feed.NewNATSBus("nats://127.0.0.1:1", logger()); err == nil || !strings.Contains(err.Error(), "nats") {
		t.Fatalf("unreachable server: %v", err)
	}
}

// TestFollower: every stored event is delivered once and in order, whether
// it was published, published out of order, or never published.
func TestFollower(t *testing.T) {
	pool := dbtest.MustOpenPool(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := feed.NewLog(pool)
	pos, err := log.Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bus := feed.NewLocalBus()
	f := feed.NewFollower(log, bus, logger())
	f.PollInterval = 100 * time.Millisecond
	got := make(chan feed.Event, 1000)
	done := make(chan error, 1)
	go func() {
		done <- f.Run(ctx, pos, func(evs []feed.Event) {
			for _, e := range evs {
				got <- e
			}
		})
	}()
	// Partitions of 3 seqs, so that the trim below drops some.
	if _, err := pool.Exec(ctx, `UPDATE event_seq SET part_rows = 3`); err != nil {
		t.Fatal(err)
	}
	appendN := func(n int) []feed.Event {
		evs := events(n, 10)
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return feed.AppendEvents(ctx, tx, evs) }); err != nil {
			t.Fatal(err)
		}
		return evs
	}
	e1 := appendN(2)
	e2 := appendN(3)
	e3 := appendN(1) // never published
	e4 := appendN(2)
	_ = bus.Publish(ctx, e2) // out of order
	_ = bus.Publish(ctx, e1)
	_ = bus.Publish(ctx, e4)
	_ = bus.Publish(ctx, e2) // again
	want := int64(len(e1) + len(e2) + len(e3) + len(e4))
	sent := map[int64]string{}
	for _, evs := range [][]feed.Event{e1, e2, e3, e4} {
		for _, e := range evs {
			sent[e.Seq] = string(e.Data)
		}
	}
	for s := int64(1); s <= want; s++ {
		select {
		case e := <-got:
			if e.Seq != pos.Seq+s {
				t.Fatalf("got seq %d, want %d", e.Seq, pos.Seq+s)
			}
			// e3 comes from the log: its data reads back as written.
			if string(e.Data) != sent[e.Seq] {
				t.Fatalf("seq %d: data %s, want %s as appended", e.Seq, e.Data, sent[e.Seq])
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("follower stuck before seq %d", pos.Seq+s)
		}
	}
	select {
	case e := <-got:
		t.Fatalf("extra event %+v", e)
	case <-time.After(300 * time.Millisecond):
	}
	// Trim and reset the epoch: the follower stops with ErrEpochChanged.
	if n, err := log.Trim(ctx, 0, 2); err != nil || n != want-2 {
		t.Fatalf("trim: %d, %v", n, err)
	}
	if old, _ := log.Oldest(ctx); old != pos.Seq+want-1 {
		t.Fatalf("oldest after trim = %d", old)
	}
	if _, err := pool.Exec(ctx, `UPDATE event_seq SET epoch = 'new'`); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != feed.ErrEpochChanged {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follower did not notice the new epoch")
	}
}

// The log is trimmed by whole partitions: only those past a bound go, the
// newest never does, and appends go on after a trim.
func TestTrimPartitions(t *testing.T) {
	pool := dbtest.MustOpenPool(t)
	ctx := t.Context()
	log := feed.NewLog(pool)
	if _, err := pool.Exec(ctx, `UPDATE event_seq SET part_rows = 4`); err != nil {
		t.Fatal(err)
	}
	appendN := func(n int) {
		t.Helper()
		for range n {
			if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return feed.AppendEvents(ctx, tx, events(1, 10)) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(wantDropped, wantOldest int64, dropped int64, err error) {
		t.Helper()
		if err != nil || dropped != wantDropped {
			t.Fatalf("trim dropped %d (%v), want %d", dropped, err, wantDropped)
		}
		if old, err := log.Oldest(ctx); err != nil || old != wantOldest {
			t.Fatalf("oldest = %d (%v), want %d", old, err, wantOldest)
		}
	}
	appendN(10) // seqs 1..10 in partitions from 1, 5 and 9
	n, err := log.Trim(ctx, 0, 3)
	check(4, 5, n, err) // 1..4 go; 5..8 hold 8 > 10-3 and stay
	n, err = log.Trim(ctx, 0, 3)
	check(0, 5, n, err)
	n, err = log.Trim(ctx, time.Nanosecond, 0)
	check(4, 9, n, err) // all are old, but the newest partition stays
	appendN(5)
	evs, err := log.Read(ctx, 8, 0, 100)
	if err != nil || len(evs) != 7 || evs[0].Seq != 9 || evs[6].Seq != 15 {
		t.Fatalf("read after trims: %d events (%v)", len(evs), err)
	}
	// The partitions, dropped rather than vacuumed, are left out of
	// autovacuum (migration 0670).
	var parts, vacuumed int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE NOT coalesce(c.reloptions @> '{autovacuum_enabled=false}', false))
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'event_log'::regclass`).Scan(&parts, &vacuumed); err != nil {
		t.Fatal(err)
	}
	if parts < 2 || vacuumed != 0 {
		t.Fatalf("%d of %d event log partitions left to autovacuum", vacuumed, parts)
	}
}
