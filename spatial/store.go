package spatial

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
)

// Feature is one feature of a layer, as read from or written to the store.
type Feature struct {
	// ID is the stable id; 0 for a feature not yet stored.
	ID       int64  `json:"id"`
	Layer    string `json:"layer"`
	Source   string `json:"source"`
	SourceID string `json:"source_id"`
	// Geometry in EPSG:4326 (lon, lat).
	Geometry orb.Geometry `json:"-"`
	// Attrs holds the layer's typed attributes by name.
	Attrs map[string]any `json:"attributes"`
	// Props holds free properties (jsonb).
	Props     map[string]any `json:"properties"`
	H3        uint64         `json:"h3,omitempty"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// Change tells what a write touched: the layer, the features' ids and the
// bound of their geometries before and after the write. Tile caches drop the
// tiles that cover Bound; the live hub tells clients.
type Change struct {
	Layer string
	IDs   []int64
	Bound orb.Bound
	// All is true when the change may touch any feature of the layer
	// (a bulk import with no useful bound, a layer dropped).
	All bool
}

// ChangeFunc is told about changes after they commit and before the write
// returns to its caller, so that no reader sees stale derived data (tiles)
// after a write has returned.
type ChangeFunc func(ctx context.Context, changes []Change)

// Store is the PostGIS store of the twin's features.
type Store struct {
	Pool     *pgxpool.Pool
	Registry *Registry

	mu       sync.RWMutex
	onChange []ChangeFunc
}

// NewStore returns a store on pool with the layers of reg.
func NewStore(pool *pgxpool.Pool, reg *Registry) *Store {
	return &Store{Pool: pool, Registry: reg}
}

// OnChange registers fn to be told about every committed change.
func (s *Store) OnChange(fn ChangeFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onChange = append(s.onChange, fn)
}

// Changed tells every registered ChangeFunc about changes. Writers call it
// after their transaction commits and before they return.
func (s *Store) Changed(ctx context.Context, changes ...Change) {
	if len(changes) == 0 {
		return
	}
	s.mu.RLock()
	fns := append([]ChangeFunc(nil), s.onChange...)
	s.mu.RUnlock()
	for _, fn := range fns {
		fn(ctx, changes)
	}
}
