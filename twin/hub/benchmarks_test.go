package hub

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"

	"github.com/paulmach/orb"

	"github.com/citytwin/citytwin/twin/feed"
)

// benchHub is a hub without a database, loaded with devices over the
// bench-live area and clients subscribed to random viewports.
func benchHub(b *testing.B, devices, clients int) (*Hub, []feed.Event, []*client) {
	b.Helper()
	h := New(nil, feed.NewLocalBus(), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	h.epoch = "bench"
	h.state = map[string]*entry{}
	h.byCell = map[uint64]map[string]*entry{}
	rnd := rand.New(rand.NewPCG(1, 2))
	w, s, e, n := 116.20, 37.38, 116.42, 37.52
	evs := make([]feed.Event, devices)
	for i := range evs {
		evs[i] = devEvent(fmt.Sprintf("d%d", i), orb.Point{w + rnd.Float64()*(e-w), s + rnd.Float64()*(n-s)}, 1)
	}
	cs := make([]*client, clients)
	for i := range cs {
		cw, ch := (e-w)/10*(0.5+rnd.Float64()), (n-s)/10*(0.5+rnd.Float64())
		x, y := w+rnd.Float64()*(e-w-cw), s+rnd.Float64()*(n-s-ch)
		sub, err := newSubscription(ClientMessage{Type: "subscribe", BBox: []float64{x, y, x + cw, y + ch}})
		if err != nil {
			b.Fatal(err)
		}
		cs[i] = newClient(h)
		h.register(cs[i], sub, 0)
	}
	return h, evs, cs
}

// BenchmarkDispatch: applying and routing one device change to 1,000
// clients on viewports, and draining every client's queue into frames as
// their writers would; reports events/s.
func BenchmarkDispatch(b *testing.B) {
	for _, tc := range []struct{ devices, clients int }{{2000, 100}, {2000, 1000}} {
		b.Run(fmt.Sprintf("devices=%d/clients=%d", tc.devices, tc.clients), func(b *testing.B) {
			h, evs, cs := benchHub(b, tc.devices, tc.clients)
			const batch = 100
			b.ReportAllocs()
			b.ResetTimer()
			seq := int64(0)
			for i := 0; i < b.N; i += batch {
				out := make([]feed.Event, 0, batch)
				for j := 0; j < batch; j++ {
					seq++
					ev := evs[(i+j)%len(evs)]
					ev.Seq = seq
					ev.Version = seq
					out = append(out, ev)
				}
				h.dispatch(out)
				for _, c := range cs {
					select {
					case <-c.notify:
						c.drain("bench")
					default:
					}
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
