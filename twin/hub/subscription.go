package hub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/paulmach/orb"
	h3 "github.com/uber/h3-go/v4"

	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/spatial"
	"github.com/citytwin/citytwin/twin/feed"
)

// Limits of client messages.
const (
	// MaxMessageBytes is the largest client message accepted.
	MaxMessageBytes = 64 << 10
	// MaxCells is the most H3 cells one subscription may hold; a bigger
	// viewport is covered at a coarser resolution.
	MaxCells = 2048
	// MaxEntities is the most entity ids one subscription may name.
	MaxEntities = 2000
	// MaxLayers is the most layers one subscription may name.
	MaxLayers = 64
)

// ClientMessage is a message from a client.
type ClientMessage struct {
	Type     string          `json:"type"`
	ID       json.RawMessage `json:"id,omitempty"`
	Layers   []string        `json:"layers,omitempty"`
	BBox     []float64       `json:"bbox,omitempty"`
	Cells    []string        `json:"cells,omitempty"`
	Entities []string        `json:"entities,omitempty"`
	Since    *feed.Position  `json:"since,omitempty"`
}

// ParseClientMessage decodes and checks a client message. Errors are
// EINVALID and say where.
func ParseClientMessage(b []byte) (ClientMessage, error) {
	var m ClientMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, errs.Invalid("message", "not a valid client message: %v", err)
	}
	if dec.More() {
		return m, errs.Invalid("message", "one JSON object per message")
	}
	if len(m.ID) > 0 {
		if len(m.ID) > 128 || (m.ID[0] != '"' && m.ID[0] != '-' && (m.ID[0] < '0' || m.ID[0] > '9')) {
			return m, errs.Invalid("id", "id must be a string or a number of at most 128 characters")
		}
	}
	switch m.Type {
	case "subscribe":
	case "unsubscribe", "ping":
		if m.Layers != nil || m.BBox != nil || m.Cells != nil || m.Entities != nil || m.Since != nil {
			return m, errs.Invalid("type", "%s takes only an id", m.Type)
		}
		return m, nil
	case "":
		return m, errs.Invalid("type", "missing type (subscribe, unsubscribe or ping)")
	default:
		return m, errs.Invalid("type", "unknown type %q (subscribe, unsubscribe or ping)", m.Type)
	}
	n := 0
	if m.BBox != nil {
		n++
	}
	if m.Cells != nil {
		n++
	}
	if m.Entities != nil {
		n++
	}
	if n != 1 {
		return m, errs.Invalid("subscribe", "give exactly one of bbox, cells or entities")
	}
	if len(m.Layers) > MaxLayers {
		return m, errs.Invalid("layers", "at most %d layers", MaxLayers)
	}
	for i, l := range m.Layers {
		if l == "" || len(l) > 64 {
			return m, errs.Invalid(fmt.Sprintf("layers[%d]", i), "a layer name of 1 to 64 characters")
		}
	}
	if m.Since != nil && (m.Since.Seq < 0 || len(m.Since.Epoch) > 64) {
		return m, errs.Invalid("since", "since needs an epoch and a seq >= 0")
	}
	return m, nil
}

// subscription is what a client receives: a set of H3 cells at one
// resolution or a set of entities, filtered by layers.
type subscription struct {
	layers   map[string]bool // nil: every layer
	layer    string          // the one layer, when layers holds one
	res      int
	cells    map[uint64]bool
	entities map[string]bool
}

func (s *subscription) wantsLayer(l string) bool {
	if s.layer != "" {
		return l == s.layer // the usual case: a string compare, not a hash
	}
	return s.layers == nil || s.layers[l]
}

// covers reports whether an entity at cell (resolution 10) with the given
// entity id and layer is in the subscription.
func (s *subscription) covers(entity, layer string, cell uint64) bool {
	if !s.wantsLayer(layer) {
		return false
	}
	if s.entities != nil {
		return s.entities[entity]
	}
	return cell != 0 && s.cells[parent(cell, s.res)]
}

// newSubscription builds the subscription of a checked subscribe message.
func newSubscription(m ClientMessage) (*subscription, error) {
	s := &subscription{}
	if len(m.Layers) > 0 {
		s.layers = map[string]bool{}
		for _, l := range m.Layers {
			s.layers[l] = true
		}
		if len(s.layers) == 1 {
			s.layer = m.Layers[0]
		}
	}
	switch {
	case m.Entities != nil:
		if len(m.Entities) > MaxEntities {
			return nil, errs.Invalid("entities", "at most %d entities", MaxEntities)
		}
		s.entities = map[string]bool{}
		for i, e := range m.Entities {
			if e == "" || len(e) > 200 || !strings.Contains(e, ":") {
				return nil, errs.Invalid(fmt.Sprintf("entities[%d]", i), "an entity id like \"device:lamp-1\"")
			}
			s.entities[e] = true
		}
	case m.Cells != nil:
		if len(m.Cells) > MaxCells {
			return nil, errs.Invalid("cells", "at most %d cells", MaxCells)
		}
		s.cells = map[uint64]bool{}
		s.res = -1
		for i, c := range m.Cells {
			where := fmt.Sprintf("cells[%d]", i)
			if len(c) == 0 || len(c) > 16 {
				return nil, errs.Invalid(where, "%q is not an H3 cell", c)
			}
			cell := h3.Cell(h3.IndexFromString(c))
			if !cell.IsValid() {
				return nil, errs.Invalid(where, "%q is not an H3 cell", c)
			}
			r := cell.Resolution()
			if r > spatial.CoverRes {
				return nil, errs.Invalid(where, "cell %s has resolution %d; the finest is %d", c, r, spatial.CoverRes)
			}
			if s.res >= 0 && r != s.res {
				return nil, errs.Invalid(where, "every cell must have the same resolution (%d, not %d)", s.res, r)
			}
			s.res = r
			s.cells[uint64(cell)] = true
		}
		if len(s.cells) == 0 {
			return nil, errs.Invalid("cells", "no cells")
		}
	default:
		cells, res, err := bboxCells(m.BBox)
		if err != nil {
			return nil, err
		}
		s.res = res
		s.cells = map[uint64]bool{}
		for _, c := range cells {
			s.cells[c] = true
		}
	}
	return s, nil
}

// bboxCells covers bbox [w,s,e,n] with H3 cells at the finest resolution
// (at most spatial.CoverRes) that needs no more than MaxCells of them.
func bboxCells(bb []float64) ([]uint64, int, error) {
	if len(bb) != 4 {
		return nil, 0, errs.Invalid("bbox", "bbox is [west, south, east, north], got %d numbers", len(bb))
	}
	w, s, e, n := bb[0], bb[1], bb[2], bb[3]
	for _, v := range bb {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, 0, errs.Invalid("bbox", "bbox numbers must be finite")
		}
	}
	if w < -180 || e > 180 || s < -90 || n > 90 {
		return nil, 0, errs.Invalid("bbox", "bbox %v is outside -180..180, -90..90 (EPSG:4326 lon/lat)", bb)
	}
	if !(w < e) || !(s < n) {
		return nil, 0, errs.Invalid("bbox", "bbox %v needs west < east and south < north", bb)
	}
	if e-w > 90 || n-s > 60 {
		// Continental viewports: every resolution-0 cell.
		var out []uint64
		for _, c := range h3.Res0Cells() {
			out = append(out, uint64(c))
		}
		return out, 0, nil
	}
	lat := (s + n) / 2
	areaKm2 := (e - w) * 111.32 * math.Cos(lat*math.Pi/180) * (n - s) * 110.57
	b := orb.Bound{Min: orb.Point{w, s}, Max: orb.Point{e, n}}
	for res := spatial.CoverRes; res >= 0; res-- {
		edge := h3.HexagonEdgeLengthAvgKm(res)
		// Interior cells plus a ring along the boundary.
		est := areaKm2/h3.HexagonAreaAvgKm2(res) + 2*((e-w)*111.32*math.Cos(lat*math.Pi/180)+(n-s)*110.57)/(edge*1.5)
		if est > MaxCells*1.5 && res > 0 {
			continue
		}
		cells := spatial.CoverCells(b, res)
		if len(cells) <= MaxCells || res == 0 {
			return cells, res, nil
		}
	}
	return nil, 0, errs.Invalid("bbox", "bbox %v is too big", bb)
}

// parent is the H3 parent of cell at res (a bit operation); 0 when res is
// finer than the cell.
func parent(cell uint64, res int) uint64 {
	cur := int(cell>>52) & 0xF
	if res > cur || res < 0 {
		return 0
	}
	if res == cur {
		return cell
	}
	c := cell&^(uint64(0xF)<<52) | uint64(res)<<52
	for r := res + 1; r <= cur; r++ {
		c |= uint64(7) << ((15 - r) * 3)
	}
	return c
}
