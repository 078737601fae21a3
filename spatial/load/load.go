package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"
	"golang.org/x/sync/errgroup"

	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/spatial"
)

// Record is one feature to load, as a reader produced it.
type Record struct {
	// Layer is the target layer's name.
	Layer string
	// Source and SourceID identify the feature for the upsert.
	Source   string
	SourceID string
	// File and Num say where the record came from (Num counts from 1).
	File string
	Num  int64
	// Geom is the geometry in the load's source CRS (Options.SRID or
	// Options.Transform), EPSG:4326 when neither is set, or in the record's
	// own SRID.
	Geom orb.Geometry
	// SRID, when not 0, is the EPSG code of this record's coordinates where
	// the file says so per record or per table (a GeoPackage's tables, an
	// EWKT's SRID). It is ignored when Options.Transform is set.
	SRID int
	// Geom3D is an optional 3D geometry as ISO WKB with Z (buildings'
	// geom3d), in the same CRS as Geom.
	Geom3D []byte
	// Props holds the record's properties: those named like an attribute
	// of the layer fill its typed column, the others go to props (jsonb).
	Props map[string]any
	// Decode, if set, fills the record from its raw form; the load's
	// workers call it, so that parsing runs in parallel. Its error rejects
	// the record.
	Decode func(*Record) error
}

// Options tune a load.
type Options struct {
	// SRID is the EPSG code of the records' coordinates; 0 or 4326 means
	// lon/lat. Other codes are reprojected with PostGIS ST_Transform.
	SRID int
	// Transform, if set, maps each geometry to lon/lat in Go (GCJ-02, BD-09,
	// local placements). It runs before SRID reprojection is considered and
	// excludes it.
	Transform func(orb.Geometry) (orb.Geometry, error)
	// SkipInvalid commits the valid records and reports the others; without
	// it any rejected record fails the whole load.
	SkipInvalid bool
	// DryRun does everything but commit.
	DryRun bool
	// Actor is recorded in the audit log ("cli" when empty).
	Actor string
	// AuditDetail is merged into the audit entry's detail.
	AuditDetail map[string]any
	// MaxRejections bounds Result.Rejections (100 when 0).
	MaxRejections int
	// Workers is the number of checking goroutines (GOMAXPROCS when 0).
	Workers int
	// Progress, if set, is called now and then with records read and written.
	Progress func(read, written int64)
	// DisableDirect stages every record and upserts it, even in a first
	// load (for tests and comparisons).
	DisableDirect bool
	Logger        *slog.Logger
}

// Rejection is a record that was not loaded, and why.
type Rejection struct {
	File   string `json:"file,omitempty"`
	Record int64  `json:"record"`
	Reason string `json:"reason"`
}

// Result tells what a load did.
type Result struct {
	Read, Inserted, Updated, Repaired, Rejected int64
	// Unchanged counts the features a re-import found as they were: the
	// upsert leaves them alone (no new row version, no tile dropped).
	Unchanged  int64
	Rejections []Rejection
	// Layers counts the features written per layer.
	Layers map[string]int64
	// Direct counts the features copied straight into their table (a
	// first load); the others were staged and upserted.
	Direct int64
	// Changes are the changes told to the store (empty for a dry run).
	Changes []spatial.Change
}

// batchSize is the number of records a worker checks at a time.
const batchSize = 256

// directAhead is the number of checked batches a direct load keeps ready
// (a few MB).
const directAhead = 64

type rawBatch struct {
	seq  int64
	recs []*Record
}

type doneBatch struct {
	// seq numbers batches in reading order: the COPY goroutine takes them
	// in that order, so that of two records with one source id the later
	// one wins however the workers interleave.
	seq int64
	// rows are staging rows, recs their records; direct holds the rows of
	// the direct path.
	rows     [][]any
	recs     []*Record
	direct   *directBatch
	rejected []Rejection
	repaired int64
	bounds   map[string]orb.Bound
}

// Load loads the records that next returns (io.EOF-free: next returns nil,
// nil at the end) into the store in one transaction, with H3 cells, pipe
// node ids resolved, an audit entry, and the store told what changed after
// commit. When the first record's source has no features in its layer yet
// (a first load), that layer's records are copied straight into its table;
// the others are staged with COPY, then upserted on (source, source_id) per
// layer. A record whose layer is not in layers is rejected. Returns EINVALID
// for a rejected record (unless SkipInvalid) naming the file and record
// number.
func Load(ctx context.Context, store *spatial.Store, layers []*spatial.Layer, next func() (*Record, error), opts Options) (*Result, error) {
	if len(layers) == 0 {
		return nil, errs.Invalid("layer", "no layer to load into")
	}
	if opts.MaxRejections == 0 {
		opts.MaxRejections = 100
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Actor == "" {
		opts.Actor = "cli"
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	byName := map[string]*spatial.Layer{}
	for _, l := range layers {
		byName[l.Name] = l
	}
	if opts.SRID == 4326 {
		opts.SRID = 0
	}
	if opts.SRID != 0 && opts.Transform == nil {
		if err := CheckSRID(ctx, store, opts.SRID); err != nil {
			return nil, err
		}
	}
	st := newStaging(layers)

	res := &Result{Layers: map[string]int64{}}
	start := time.Now()
	tx, err := store.Pool.Begin(ctx)
	if err != nil {
		return nil, errs.Wrap(errs.EUNAVAILABLE, err, "database")
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, st.createSQL()); err != nil {
		return nil, fmt.Errorf("staging table: %w", err)
	}
	// Created in this transaction, so that a failed load leaves no layer.
	var newLayers []*spatial.Layer
	for _, l := range layers {
		if l.User {
			nl, err := spatial.EnsureUserLayer(ctx, tx, store.Registry, l.Name, l.Title, l.GeomType)
			if err != nil {
				return nil, err
			}
			newLayers = append(newLayers, nl)
		}
	}

	// The first record decides the direct path: its layer and source.
	first, err := next()
	if err != nil {
		return nil, err
	}
	var plan *directPlan
	if first != nil && !opts.DisableDirect {
		if l, ok := byName[first.Layer]; ok {
			if plan, err = planDirect(ctx, tx, l, first.Source); err != nil {
				return nil, err
			}
		}
	}

	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(lctx)
	raw := make(chan rawBatch, opts.Workers*2)
	// A direct load's COPY pauses after each chunk while the backend writes
	// the chunk's cover cells (about a quarter of a second for 65,536 rows):
	// room for more checked batches keeps the workers going meanwhile.
	ahead := opts.Workers * 2
	if plan != nil {
		ahead = max(ahead, directAhead)
	}
	done := make(chan doneBatch, ahead)
	var read, staged atomic.Int64
	// The reader: next is called from this goroutine only.
	g.Go(func() error {
		defer close(raw)
		b := rawBatch{recs: make([]*Record, 0, batchSize)}
		r := first
		for r != nil {
			read.Add(1)
			b.recs = append(b.recs, r)
			if len(b.recs) == batchSize {
				select {
				case raw <- b:
				case <-gctx.Done():
					return gctx.Err()
				}
				b = rawBatch{seq: b.seq + 1, recs: make([]*Record, 0, batchSize)}
			}
			var err error
			if r, err = next(); err != nil {
				return err
			}
		}
		if len(b.recs) > 0 {
			select {
			case raw <- b:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	var wg sync.WaitGroup
	for i := 0; i < opts.Workers; i++ {
		wg.Add(1)
		g.Go(func() error {
			defer wg.Done()
			w := &worker{st: st, layers: byName, checker: spatial.NewGeomChecker(), opts: &opts, store: store, plan: plan}
			for b := range raw {
				d, err := w.process(gctx, b)
				if err != nil {
					return err
				}
				select {
				case done <- d:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	}
	g.Go(func() error { wg.Wait(); close(done); return nil })

	// The COPY runs on this goroutine, on the transaction's connection.
	col := &collector{ch: done, ctx: gctx, res: res, opts: &opts, st: st, staged: &staged, read: &read,
		bounds: map[string]orb.Bound{}, counts: map[string]int64{}, sources: map[string]bool{}, seen: map[uint64]struct{}{}}
	var sink *directSink
	var copyErr error
	if plan != nil {
		sink = newDirectSink(col, plan)
		if copyErr = runDirect(ctx, tx, sink, logger); copyErr == nil {
			t, n := time.Now(), len(plan.rebuild)
			if copyErr = plan.rebuildIndexes(ctx, tx); copyErr == nil && n > 0 {
				logger.Debug("import indexes rebuilt", "layer", plan.layer.Name, "indexes", n, "took", time.Since(t).Round(time.Millisecond))
			}
		}
	} else {
		src := &copySource{collector: col}
		_, copyErr = tx.CopyFrom(ctx, pgx.Identifier{"ct_stage"}, st.columns(), src)
	}
	if copyErr != nil {
		// Stop the reader and workers, and drain so that every goroutine ends.
		cancel()
		go func() {
			for range done {
			}
		}()
	}
	gErr := g.Wait()
	switch {
	case gErr != nil && !errors.Is(gErr, context.Canceled):
		return nil, gErr
	case col.err != nil:
		return nil, col.err
	case gErr != nil:
		return nil, gErr
	case copyErr != nil:
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var e *errs.Error
		if errors.As(copyErr, &e) {
			return nil, copyErr
		}
		return nil, fmt.Errorf("stage: %w", copyErr)
	}
	res.Read = read.Load()
	if opts.Progress != nil {
		opts.Progress(res.Read, staged.Load())
	}
	logger.Info("import staged", "read", res.Read, "written", staged.Load(), "direct", plan != nil, "rejected", res.Rejected, "took", time.Since(start).Round(time.Millisecond))

	if col.dupes {
		// Too many ids to tell repeats apart in memory: of several
		// records with one source id the last one wins.
		if _, err := tx.Exec(ctx, `DELETE FROM ct_stage WHERE ctid IN (SELECT ctid FROM (SELECT ctid,
			row_number() OVER (PARTITION BY layer, source, source_id ORDER BY rec DESC) AS rn FROM ct_stage) x WHERE rn > 1)`); err != nil {
			return nil, fmt.Errorf("dedupe: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE ct_ids (layer text, id bigint, source text, source_id text, ins boolean) ON COMMIT DROP`); err != nil {
		return nil, err
	}
	var changes []spatial.Change
	for _, l := range layers {
		direct := sink != nil && sink.plan.layer == l && sink.written > 0
		if col.counts[l.Name] == 0 && !direct {
			continue
		}
		b := col.bounds[l.Name]
		var ins, upd int64
		unchangedBefore := res.Unchanged
		var ids []int64
		if direct {
			ins = sink.written
			ids = sink.ids2
			res.Direct = sink.written
		}
		if col.counts[l.Name] > 0 {
			// The bound of the geometries the upsert replaces.
			var ob struct{ x0, y0, x1, y1 *float64 }
			where, args := "TRUE", []any(nil)
			if l.User {
				where, args = "t.layer = $2", []any{l.Name}
			}
			q := fmt.Sprintf(`SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(t.geom) e FROM %s t
			JOIN ct_stage s ON s.layer = $1 AND t.source = s.source AND t.source_id = s.source_id WHERE %s) x`, l.TableIdent(), where)
			if err := tx.QueryRow(ctx, q, append([]any{l.Name}, args...)...).Scan(&ob.x0, &ob.y0, &ob.x1, &ob.y1); err != nil {
				return nil, fmt.Errorf("%s: old bounds: %w", l.Name, err)
			}
			if ob.x0 != nil {
				b = b.Union(orb.Bound{Min: orb.Point{*ob.x0, *ob.y0}, Max: orb.Point{*ob.x1, *ob.y1}})
			}
			defaults, has3D, err := tableColumns(ctx, tx, l.Table)
			if err != nil {
				return nil, err
			}
			if _, err := tx.Exec(ctx, st.upsertSQL(l, defaults, has3D), l.Name); err != nil {
				return nil, upsertError(l, err)
			}
			// Rows of the direct source that met a row copied before are
			// repeats within this load: neither inserted nor updated.
			directSource := ""
			if direct {
				directSource = sink.plan.source
			}
			// Of the staged features that existed, the upsert rewrote those
			// that changed (updated) and skipped the others (unchanged).
			var sins, existed, supd int64
			if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM ct_ids WHERE layer = $1 AND ins),
				(SELECT count(*) FROM ct_stage s WHERE s.layer = $1 AND s.source <> $2) - (SELECT count(*) FROM ct_ids WHERE layer = $1 AND ins AND source <> $2),
				(SELECT count(*) FROM ct_ids WHERE layer = $1 AND NOT ins AND source <> $2)`,
				l.Name, directSource).Scan(&sins, &existed, &supd); err != nil {
				return nil, err
			}
			ins += sins
			upd += supd
			res.Unchanged += existed - supd
			if int64(len(ids)) < maxChangeIDs+1 {
				rows, err := tx.Query(ctx, `SELECT id FROM ct_ids WHERE layer = $1 ORDER BY id LIMIT $2`, l.Name, maxChangeIDs+1)
				if err != nil {
					return nil, err
				}
				more, err := pgx.CollectRows(rows, pgx.RowTo[int64])
				if err != nil {
					return nil, err
				}
				ids = append(ids, more...)
			}
		}
		res.Inserted += ins
		res.Updated += upd
		res.Layers[l.Name] = ins + upd + res.Unchanged - unchangedBefore
		if len(ids) == 0 {
			continue // every feature was already as the load has it
		}
		c := spatial.Change{Layer: l.Name, Bound: b}
		slices.Sort(ids)
		ids = slices.Compact(ids)
		if ins+upd <= maxChangeIDs && len(ids) <= maxChangeIDs {
			c.IDs = ids
		} else {
			c.All = true
		}
		changes = append(changes, c)
	}
	logger.Info("import upserted", "inserted", res.Inserted, "updated", res.Updated, "took", time.Since(start).Round(time.Millisecond))
	if len(col.counts) > 0 {
		// H3 cover cells of staged rows: those an updated feature no longer
		// has go, the new ones come (the cells it keeps stay as they are).
		if _, err := tx.Exec(ctx, `DELETE FROM feature_cells f USING ct_ids i JOIN ct_stage s ON s.layer = i.layer AND s.source = i.source AND s.source_id = i.source_id
			WHERE NOT i.ins AND f.layer = i.layer AND f.feature_id = i.id AND f.cell <> ALL (coalesce(s.cells, '{}'))`); err != nil {
			return nil, fmt.Errorf("feature cells: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO feature_cells (layer, feature_id, cell)
		SELECT i.layer, i.id, unnest(s.cells) FROM ct_ids i JOIN ct_stage s ON s.layer = i.layer AND s.source = i.source AND s.source_id = i.source_id
		ON CONFLICT DO NOTHING`); err != nil {
			return nil, fmt.Errorf("feature cells: %w", err)
		}
		logger.Info("import cells written", "took", time.Since(start).Round(time.Millisecond))
	}
	// Pipes find their end nodes (loaded now or before) by source id.
	if res.Layers["pipes"] > 0 || res.Layers["network_nodes"] > 0 {
		sources := make([]string, 0, len(col.sources)+1)
		for s := range col.sources {
			sources = append(sources, s)
		}
		if sink != nil && sink.written > 0 {
			sources = append(sources, sink.plan.source)
		}
		if _, err := tx.Exec(ctx, `UPDATE pipes p SET from_node_id = n.id FROM network_nodes n
			WHERE p.source = ANY($1) AND n.source = p.source AND n.source_id = p.from_node AND p.from_node_id IS DISTINCT FROM n.id`, sources); err != nil {
			return nil, fmt.Errorf("pipe nodes: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE pipes p SET to_node_id = n.id FROM network_nodes n
			WHERE p.source = ANY($1) AND n.source = p.source AND n.source_id = p.to_node AND p.to_node_id IS DISTINCT FROM n.id`, sources); err != nil {
			return nil, fmt.Errorf("pipe nodes: %w", err)
		}
	}
	detail := map[string]any{
		"read": res.Read, "inserted": res.Inserted, "updated": res.Updated, "unchanged": res.Unchanged, "repaired": res.Repaired,
		"rejected": res.Rejected, "layers": res.Layers, "dry_run": opts.DryRun,
	}
	for k, v := range opts.AuditDetail {
		detail[k] = v
	}
	names := make([]string, 0, len(res.Layers))
	for n := range res.Layers {
		names = append(names, n)
	}
	sort.Strings(names)
	dj, _ := json.Marshal(detail)
	if _, err := tx.Exec(ctx, `INSERT INTO audit_log (actor, action, entity_type, entity_id, detail) VALUES ($1, 'import', 'layer', $2, $3)`,
		opts.Actor, strings.Join(names, ","), dj); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if opts.DryRun {
		return res, nil
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	for _, l := range newLayers {
		store.Registry.Add(l)
	}
	res.Changes = changes
	store.Changed(ctx, changes...)
	logger.Info("import committed", "inserted", res.Inserted, "updated", res.Updated, "unchanged", res.Unchanged, "rejected", res.Rejected, "took", time.Since(start).Round(time.Millisecond))
	return res, nil
}

// maxChangeIDs bounds the ids listed in a Change; bigger loads say All.
const maxChangeIDs = 100_000

// maxDedupe is the number of records whose source ids are checked for
// duplicates in memory; beyond it the staging table is always deduplicated.
const maxDedupe = 2_000_000

func upsertError(l *spatial.Layer, err error) error {
	var msg string
	if e := (interface{ Error() string })(err); e != nil {
		msg = e.Error()
	}
	if strings.Contains(msg, "violates check constraint") || strings.Contains(msg, "invalid input") || strings.Contains(msg, "out of range") || strings.Contains(msg, "violates not-null") {
		return errs.Wrap(errs.EINVALID, err, "layer %s: a value does not fit the layer", l.Name)
	}
	return fmt.Errorf("%s: upsert: %w", l.Name, err)
}

// copySource feeds checked rows to COPY and collects the rest of the result.

// collector gathers what the workers report (rejections, repairs, bounds)
// for the COPY goroutine, and counts the staged rows.
type collector struct {
	ch     <-chan doneBatch
	ctx    context.Context
	res    *Result
	opts   *Options
	st     *staging
	read   *atomic.Int64
	staged *atomic.Int64
	bounds map[string]orb.Bound
	// counts are the staged rows per layer, sources their sources.
	counts  map[string]int64
	sources map[string]bool
	// seen hashes staged (layer, source, source id) to catch repeats; nil
	// once too large, when dupes says the staging table needs
	// deduplicating.
	seen    map[uint64]struct{}
	dupes   bool
	err     error
	stopped bool
	last    time.Time
	// next is the seq of the batch to take next; early holds batches that
	// came before their turn.
	next  int64
	early map[int64]doneBatch
}

// receive returns the next checked batch; false at the end or when the load
// is cancelled (stopped).
func (c *collector) receive() (doneBatch, bool) {
	for {
		if d, ok := c.early[c.next]; ok {
			delete(c.early, c.next)
			c.next++
			return d, true
		}
		select {
		case d, ok := <-c.ch:
			if !ok {
				return doneBatch{}, false
			}
			if d.seq != c.next {
				if c.early == nil {
					c.early = map[int64]doneBatch{}
				}
				c.early[d.seq] = d
				continue
			}
			c.next++
			return d, true
		case <-c.ctx.Done():
			c.stopped = true
			return doneBatch{}, false
		}
	}
}

// absorb takes a batch's rejections, repairs and bounds; false when the load
// must stop (c.err says why).
func (c *collector) absorb(d doneBatch) bool {
	c.res.Repaired += d.repaired
	for _, r := range d.rejected {
		if !c.reject(r) {
			return false
		}
	}
	for l, b := range d.bounds {
		if ob, ok := c.bounds[l]; ok {
			b = b.Union(ob)
		}
		c.bounds[l] = b
	}
	return true
}

// reject counts a rejected record; without SkipInvalid it stops the load.
func (c *collector) reject(r Rejection) bool {
	c.res.Rejected++
	if len(c.res.Rejections) < c.opts.MaxRejections {
		c.res.Rejections = append(c.res.Rejections, r)
	}
	if !c.opts.SkipInvalid {
		where := fmt.Sprintf("record %d", r.Record)
		if r.File != "" {
			where = r.File + ": " + where
		}
		c.err = errs.Invalid(where, "%s (nothing was imported; --skip-invalid loads the valid records)", r.Reason)
		return false
	}
	return true
}

// unique drops and rejects the rows (recs their records) whose (layer,
// source, source id) an earlier record of the load had: within one load
// ids must be unique, or a record would silently replace another. It
// returns the rows kept, false when a rejection stops the load. Past
// maxDedupe ids it cannot tell any more; the staging table is then
// deduplicated, the last record winning.
func (c *collector) unique(rows [][]any, recs []*Record) ([][]any, bool) {
	if c.seen == nil {
		c.dupes = true
		return rows, true
	}
	kept := rows[:0]
	for i, r := range rows {
		h := fnv.New64a()
		h.Write([]byte(r[0].(string)))
		h.Write([]byte{0})
		h.Write([]byte(r[1].(string)))
		h.Write([]byte{0})
		h.Write([]byte(r[2].(string)))
		k := h.Sum64()
		if _, ok := c.seen[k]; ok {
			if !c.reject(repeated(recs[i])) {
				return nil, false
			}
			continue
		}
		c.seen[k] = struct{}{}
		kept = append(kept, r)
	}
	if len(c.seen) > maxDedupe {
		c.seen = nil
	}
	return kept, true
}

// repeated is the rejection of a record whose source id an earlier record
// of the load had.
func repeated(r *Record) Rejection {
	return Rejection{File: r.File, Record: r.Num, Reason: fmt.Sprintf("id %q repeats an earlier record's (ids must be unique in a source: see --id-field and --source)", r.SourceID)}
}

// count notes staged rows.
func (c *collector) count(rows [][]any) {
	for _, r := range rows {
		c.counts[r[0].(string)]++
		c.sources[r[1].(string)] = true
	}
}

// progress counts n more rows written and tells now and then.
func (c *collector) progress(n int64) {
	w := c.staged.Add(n)
	if c.opts.Progress != nil && time.Since(c.last) > 200*time.Millisecond {
		c.last = time.Now()
		c.opts.Progress(c.read.Load(), w)
	}
}

// copySource feeds checked rows to the staging COPY.
type copySource struct {
	*collector
	cur [][]any
	i   int
}

func (s *copySource) Next() bool {
	for s.i+1 >= len(s.cur) {
		d, ok := s.receive()
		if !ok || !s.absorb(d) {
			return false
		}
		if d.rows, ok = s.unique(d.rows, d.recs); !ok {
			return false
		}
		s.count(d.rows)
		s.cur, s.i = d.rows, -1
		s.progress(int64(len(d.rows)))
	}
	s.i++
	return true
}

func (s *copySource) Values() ([]any, error) { return s.cur[s.i], nil }

func (s *copySource) Err() error {
	if s.err != nil {
		return s.err
	}
	if s.stopped {
		return s.ctx.Err()
	}
	return nil
}

// worker checks records, computes their cells and encodes their rows.
type worker struct {
	st      *staging
	layers  map[string]*spatial.Layer
	checker *spatial.GeomChecker
	opts    *Options
	store   *spatial.Store
	plan    *directPlan
	vals    []any
	cells   cellCache
	ogc     ogcScratch
}

func (w *worker) process(ctx context.Context, b rawBatch) (doneBatch, error) {
	d := doneBatch{seq: b.seq, bounds: map[string]orb.Bound{}}
	reject := func(r *Record, err error) {
		d.rejected = append(d.rejected, Rejection{File: r.File, Record: r.Num, Reason: reason(err)})
	}
	geoms := make([]orb.Geometry, len(b.recs))
	g3 := make([][]byte, len(b.recs))
	bad := make([]error, len(b.recs))
	for i, r := range b.recs {
		if r.Decode != nil {
			if err := r.Decode(r); err != nil {
				bad[i] = err
				continue
			}
			r.Decode = nil
		}
		geoms[i], g3[i] = r.Geom, r.Geom3D
		if r.Geom == nil {
			bad[i] = errs.Invalid("geometry", "missing geometry")
			continue
		}
		if w.opts.Transform != nil {
			g, err := w.opts.Transform(r.Geom)
			if err != nil {
				bad[i] = err
				continue
			}
			geoms[i] = g
		}
	}
	if w.opts.Transform == nil {
		srids := make([]int, len(b.recs))
		n := 0
		for i, r := range b.recs {
			srids[i] = w.opts.SRID
			if r.SRID != 0 {
				srids[i] = r.SRID
			}
			if srids[i] == 4326 {
				srids[i] = 0
			}
			if srids[i] != 0 && bad[i] == nil {
				n++
			}
		}
		if n > 0 {
			if err := w.reproject(ctx, geoms, g3, srids, bad); err != nil {
				return d, err
			}
		}
	}
	for i, r := range b.recs {
		if bad[i] != nil {
			reject(r, bad[i])
			continue
		}
		l, ok := w.layers[r.Layer]
		if !ok {
			reject(r, fmt.Errorf("layer %q is not a target of this import", r.Layer))
			continue
		}
		if r.SourceID == "" {
			reject(r, errors.New("no source id"))
			continue
		}
		snapEdges(geoms[i])
		g, repaired, err := w.checker.Check(l, geoms[i])
		if err != nil {
			reject(r, err)
			continue
		}
		if p := w.plan; p != nil && l == p.layer && r.Source == p.source {
			if d.direct == nil {
				d.direct = &directBatch{buf: make([]byte, 0, 512*len(b.recs))}
			}
			if w.vals == nil {
				w.vals = make([]any, len(p.attrs))
			}
			buf, cells, err := p.encode(d.direct.buf, r, g, g3[i], w.vals, &w.cells, &w.ogc)
			d.direct.buf = buf
			if err != nil {
				reject(r, err)
				continue
			}
			d.direct.rows = append(d.direct.rows, directRow{end: len(buf), key: p.key(r.SourceID), cells: cells, rec: r, geom: g, g3: g3[i]})
		} else {
			vals, err := w.st.row(l, r, g, g3[i], &w.cells)
			if err != nil {
				reject(r, err)
				continue
			}
			d.rows = append(d.rows, vals)
			d.recs = append(d.recs, r)
		}
		if repaired {
			d.repaired++
		}
		bb := g.Bound()
		if ob, ok := d.bounds[l.Name]; ok {
			bb = bb.Union(ob)
		}
		d.bounds[l.Name] = bb
	}
	return d, nil
}

// CheckSRID returns EINVALID when PostGIS does not know the EPSG code srid
// (0 and 4326, lon/lat, are fine).
func CheckSRID(ctx context.Context, store *spatial.Store, srid int) error {
	if srid == 0 || srid == 4326 {
		return nil
	}
	var n int
	if err := store.Pool.QueryRow(ctx, `SELECT count(*) FROM spatial_ref_sys WHERE srid = $1`, srid).Scan(&n); err != nil {
		return fmt.Errorf("crs: %w", err)
	}
	if n == 0 {
		return errs.Invalid("crs", "EPSG:%d is not a CRS that PostGIS knows", srid)
	}
	return nil
}

// reproject transforms geometries (and 3D geometries) whose srids are not
// 0 to EPSG:4326 with PostGIS, a batch per round trip. Coordinates PostGIS
// cannot transform are marked bad.
func (w *worker) reproject(ctx context.Context, geoms []orb.Geometry, g3 [][]byte, srids []int, bad []error) error {
	in := make([][]byte, len(geoms))
	in3 := make([][]byte, len(geoms))
	for i, g := range geoms {
		if bad[i] != nil || g == nil || srids[i] == 0 {
			continue
		}
		b, err := wkb.Marshal(g)
		if err != nil {
			bad[i] = errs.Invalid("geometry", "cannot encode: %v", err)
			continue
		}
		in[i] = b
		in3[i] = g3[i]
	}
	rows, err := w.store.Pool.Query(ctx, `SELECT i, ST_AsBinary(ST_Transform(ST_GeomFromWKB(g, s), 4326)),
		ST_AsBinary(ST_Transform(ST_SetSRID(ST_GeomFromWKB(g3), s), 4326), 'NDR')
		FROM unnest($1::int[], $2::bytea[], $3::bytea[]) WITH ORDINALITY AS u(s, g, g3, i) WHERE g IS NOT NULL`, srids, in, in3)
	if err != nil {
		return fmt.Errorf("reproject: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int64
		var b, b3 []byte
		if err := rows.Scan(&i, &b, &b3); err != nil {
			return fmt.Errorf("reproject: %w", err)
		}
		g, err := wkb.Unmarshal(b)
		if err != nil {
			bad[i-1] = errs.Invalid("geometry", "after reprojection: %v", err)
			continue
		}
		geoms[i-1] = g
		g3[i-1] = b3
	}
	if err := rows.Err(); err != nil {
		// One bad geometry fails the batch: find it record by record.
		if len(geoms) > 1 {
			for i := range geoms {
				if bad[i] != nil || in[i] == nil {
					continue
				}
				one := []orb.Geometry{geoms[i]}
				o3 := [][]byte{g3[i]}
				ob := []error{nil}
				if e := w.reproject(ctx, one, o3, srids[i:i+1], ob); e != nil {
					bad[i] = errs.Invalid("geometry", "cannot reproject from EPSG:%d: wrong CRS? %v", srids[i], e)
					continue
				}
				geoms[i], g3[i], bad[i] = one[0], o3[0], ob[0]
			}
			return nil
		}
		return err
	}
	return nil
}

func reason(err error) string {
	var e *errs.Error
	if errors.As(err, &e) {
		if e.Where != "" && e.Where != "geometry" {
			return e.Where + ": " + e.Message
		}
		if e.Where == "geometry" {
			return "geometry: " + e.Message
		}
		return e.Message
	}
	return err.Error()
}

// tableColumns returns the column defaults of table and whether it has a
// geom3d column.
func tableColumns(ctx context.Context, tx pgx.Tx, table string) (map[string]string, bool, error) {
	rows, err := tx.Query(ctx, `SELECT column_name, coalesce(column_default, '') FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1`, table)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	defaults := map[string]string{}
	has3D := false
	for rows.Next() {
		var c, d string
		if err := rows.Scan(&c, &d); err != nil {
			return nil, false, err
		}
		defaults[c] = d
		if c == "geom3d" {
			has3D = true
		}
	}
	return defaults, has3D, rows.Err()
}

// snapEdges moves coordinates a rounding error beyond ±180° or ±90° onto the
// edge (files written through projections carry such noise).
func snapEdges(g orb.Geometry) {
	fix := func(ps []orb.Point) {
		for i, p := range ps {
			for k, lim := range [2]float64{180, 90} {
				if v := p[k]; v > lim && v < lim+1e-9 {
					ps[i][k] = lim
				} else if v < -lim && v > -lim-1e-9 {
					ps[i][k] = -lim
				}
			}
		}
	}
	switch g := g.(type) {
	case orb.Point:
		// A point is a value: nothing to fix in place at this size of noise.
	case orb.MultiPoint:
		fix(g)
	case orb.LineString:
		fix(g)
	case orb.Ring:
		fix(g)
	case orb.MultiLineString:
		for _, ls := range g {
			fix(ls)
		}
	case orb.Polygon:
		for _, r := range g {
			fix(r)
		}
	case orb.MultiPolygon:
		for _, p := range g {
			for _, r := range p {
				fix(r)
			}
		}
	case orb.Collection:
		for _, x := range g {
			snapEdges(x)
		}
	}
}
