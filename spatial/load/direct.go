package load

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"

	"github.com/citytwin/citytwin/internal/errs"
	"github.com/citytwin/citytwin/spatial"
)

// The direct path. The common bulk case is a first load: a source that has
// no features in the layer yet. Its records need no upsert, so they are
// copied straight into the layer's table (binary COPY, encoded by the
// workers) and their H3 cover cells straight into feature_cells, with ids
// reserved from the table's sequence beforehand; no staging table, no
// INSERT ... SELECT, no ON CONFLICT. Records of other layers or sources go
// through the staging table and the upsert as before, after the direct
// rows. A source id seen before in the same load is rejected.

// directPlan says how records of one (layer, source) are copied into the
// layer's table.
type directPlan struct {
	layer   *spatial.Layer
	source  string
	seq     string // the id column's sequence
	copySQL string
	attrs   []directAttr
	attrIdx map[string]int
	has3D   bool
	fields  int16
	// cellLayer is the layer name as an encoded text field (feature_cells).
	cellLayer []byte
	seed      maphash.Seed
	// rebuild holds the definitions of indexes dropped for the load.
	rebuild []string
	// ogc renders the rows' ogc_json (the last field) when not nil; ogcOff
	// says why it is nil.
	ogc    *ogcJSON
	ogcOff string
}

// directColumn is a column of the layer's table.
type directColumn struct {
	udt, def  string
	generated bool
}

type directAttr struct {
	spatial.Attribute
	kind colKind
	// def is the column default's value, written when a record has none,
	// as the upsert's COALESCE(value, default) does.
	def any
}

// planDirect returns the plan to load the records of source into l's table
// directly, or nil when the layer already holds features of source (or its
// table has a column type the direct path does not write). It takes a
// transaction-scoped advisory lock on (layer, source), so that two loads of
// one source do not both take the direct path.
func planDirect(ctx context.Context, tx pgx.Tx, l *spatial.Layer, source string) (p *directPlan, err error) {
	if source == "" {
		return nil, nil
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`,
		"citytwin.load|"+l.Table+"|"+l.Name+"|"+source); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	var exists bool
	q, args := fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM %s WHERE source = $1)`, l.TableIdent()), []any{source}
	if l.User {
		q, args = fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM %s WHERE layer = $2 AND source = $1)`, l.TableIdent()), []any{source, l.Name}
	}
	if err := tx.QueryRow(ctx, q, args...).Scan(&exists); err != nil {
		return nil, fmt.Errorf("%s: %w", l.Name, err)
	}
	if exists {
		return nil, nil
	}
	defer func() {
		if p != nil && err == nil {
			err = p.dropIndexes(ctx, tx)
		}
	}()
	rows, err := tx.Query(ctx, `SELECT column_name, udt_name, coalesce(column_default, ''), is_generated <> 'NEVER' FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1`, l.Table)
	if err != nil {
		return nil, err
	}
	cols := map[string]directColumn{}
	for rows.Next() {
		var name string
		var c directColumn
		if err := rows.Scan(&name, &c.udt, &c.def, &c.generated); err != nil {
			return nil, err
		}
		cols[name] = c
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	p = &directPlan{layer: l, source: source, attrIdx: map[string]int{}, seed: maphash.MakeSeed()}
	names := []string{"id"}
	if l.User {
		names = append(names, "layer")
	}
	names = append(names, "source", "source_id", "props", "h3", "geom")
	for _, n := range names {
		if _, ok := cols[n]; !ok {
			return nil, nil
		}
	}
	if c, ok := cols["geom3d"]; ok && c.udt == "geometry" {
		p.has3D = true
		names = append(names, "geom3d")
	}
	if !l.User {
		for _, a := range l.Attributes {
			c, ok := cols[a.Name]
			if !ok {
				return nil, nil
			}
			k, ok := kindOf(c.udt)
			if !ok {
				return nil, nil
			}
			da := directAttr{Attribute: a, kind: k}
			if c.def != "" {
				// A constant default ('ok'::text, '{light}'::text[]) is
				// evaluated once; anything else leaves the layer to the
				// staging path.
				var s *string
				if err := tx.QueryRow(ctx, `SELECT (`+c.def+`)::text`).Scan(&s); err != nil || s == nil || strings.Contains(strings.ToLower(c.def), "nextval") {
					return nil, nil
				}
				v, err := convert(a, *s)
				if err != nil {
					return nil, nil
				}
				da.def = v
			}
			p.attrIdx[a.Name] = len(p.attrs)
			p.attrs = append(p.attrs, da)
			names = append(names, a.Name)
		}
	}
	if err := tx.QueryRow(ctx, `SELECT coalesce(pg_get_serial_sequence($1, 'id'), '')`, l.Table).Scan(&p.seq); err != nil {
		return nil, err
	}
	if p.seq == "" {
		return nil, nil
	}
	if p.ogc, p.ogcOff, err = planOGC(ctx, tx, p, cols); err != nil {
		return nil, err
	}
	if p.ogc != nil {
		names = append(names, "ogc_json")
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = pgx.Identifier{n}.Sanitize()
	}
	p.fields = int16(len(names))
	p.copySQL = fmt.Sprintf(`COPY %s (%s) FROM STDIN (FORMAT binary)`, l.TableIdent(), strings.Join(quoted, ", "))
	p.cellLayer, _ = putText(nil, l.Name)
	return p, nil
}

// dropIndexes drops the table's plain (non-unique) indexes when the table
// is empty, to build them again once the load's rows are in
// (rebuildIndexes): PostgreSQL builds a GiST index over sorted rows at a
// third of the cost of inserting them one by one, and on an idle machine the
// database backend is what bounds a load's speed. The transaction then holds
// the table's exclusive lock until it ends, so that readers of a table that
// was empty wait for the load instead of seeing it without an index. Unique
// indexes stay (they back constraints, and repeats need them).
func (p *directPlan) dropIndexes(ctx context.Context, tx pgx.Tx) error {
	var empty bool
	if err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT NOT EXISTS (SELECT 1 FROM %s)`, p.layer.TableIdent())).Scan(&empty); err != nil {
		return err
	}
	if !empty {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
		WHERE i.indrelid = $1::regclass AND NOT i.indisunique AND NOT i.indisprimary AND i.indisvalid
		AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)`, p.layer.TableIdent())
	if err != nil {
		return err
	}
	type index struct{ name, def string }
	idx, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (index, error) {
		var x index
		return x, r.Scan(&x.name, &x.def)
	})
	if err != nil {
		return err
	}
	for _, x := range idx {
		if _, err := tx.Exec(ctx, `DROP INDEX `+x.name); err != nil {
			return fmt.Errorf("%s: drop index %s: %w", p.layer.Name, x.name, err)
		}
		p.rebuild = append(p.rebuild, x.def)
	}
	return nil
}

// rebuildIndexes builds the indexes dropIndexes dropped.
func (p *directPlan) rebuildIndexes(ctx context.Context, tx pgx.Tx) error {
	for _, def := range p.rebuild {
		if _, err := tx.Exec(ctx, def); err != nil {
			return fmt.Errorf("%s: rebuild index: %w", p.layer.Name, err)
		}
	}
	p.rebuild = nil
	return nil
}

// directBatch is a batch's rows for the direct path, encoded.
type directBatch struct {
	buf  []byte
	rows []directRow
}

type directRow struct {
	end   int // the row's tuple is buf[previous row's end:end]
	key   uint64
	cells []uint64
	// The record, to stage instead if its source id repeats.
	rec  *Record
	geom orb.Geometry
	g3   []byte
}

// idOffset is where a tuple's id (its first field) starts: after the field
// count and the field's length.
const idOffset = 2 + 4

// encode appends r's tuple to b, with id 0 (the COPY goroutine sets it), and
// returns r's cover cells.
func (p *directPlan) encode(b []byte, r *Record, g orb.Geometry, g3 []byte, vals []any, cc *cellCache, sc *ogcScratch) ([]byte, []uint64, error) {
	start := len(b)
	fail := func(err error) ([]byte, []uint64, error) { return b[:start], nil, err }
	for i := range vals {
		vals[i] = nil
	}
	var props map[string]any
	for k, v := range r.Props {
		if v == nil {
			continue
		}
		if i, ok := p.attrIdx[k]; ok {
			cv, err := convert(p.attrs[i].Attribute, v)
			if err != nil {
				return fail(err)
			}
			vals[i] = cv
			continue
		}
		if props == nil {
			props = make(map[string]any, len(r.Props))
		}
		props[k] = v
	}
	b = be16(b, p.fields)
	b = putInt8(b, 0)
	var err error
	if p.layer.User {
		b, _ = putText(b, p.layer.Name)
	}
	if b, err = putText(b, r.Source); err != nil {
		return fail(errs.Invalid("source", "%v", err))
	}
	if b, err = putText(b, r.SourceID); err != nil {
		return fail(errs.Invalid("id", "%v", err))
	}
	pj := []byte("{}")
	if len(props) > 0 {
		if pj, err = json.Marshal(props); err != nil {
			return fail(errs.Invalid("properties", "cannot be stored as JSON: %v", err))
		}
	}
	if b, err = putJSONB(b, pj); err != nil {
		return fail(errs.Invalid("properties", "%v", err))
	}
	b = putInt8(b, int64(spatial.FeatureCell(g)))
	if b, err = putGeometry(b, g); err != nil {
		return fail(err)
	}
	if p.has3D {
		if len(g3) > 0 {
			if b, err = putWKB3D(b, g3); err != nil {
				return fail(err)
			}
		} else {
			b = putNull(b)
		}
	}
	for i, a := range p.attrs {
		if vals[i] == nil {
			vals[i] = a.def
		}
		if b, err = putValue(b, a.kind, a.Name, vals[i]); err != nil {
			return fail(err)
		}
	}
	if p.ogc != nil {
		b = p.ogc.appendField(b, g, pj, vals, r.Source, r.SourceID, sc)
	}
	return b, cover(g, cc), nil
}

// Limits of one chunk of the direct path: its rows' cells and staged rows
// wait in memory until the chunk's COPY ends.
const (
	maxChunkCellBytes = 32 << 20
	maxChunkStaged    = 20_000
	// maxIDBlock is the most ids reserved at a time; blocks grow from
	// minIDBlock so that a small load leaves no large gap in the sequence.
	minIDBlock = 1024
	maxIDBlock = 65536
	// maxDirectKeys bounds the source ids remembered to catch repeats
	// (about 10 bytes each); past it records go through the staging table.
	maxDirectKeys = 8_000_000
)

// directSink is the io.Reader that a direct chunk's COPY reads: it takes
// checked batches from the workers, stages what cannot go directly, sets the
// reserved ids and gathers the chunk's cover cells.
type directSink struct {
	*collector
	plan *directPlan
	ids  []int64

	out      []byte // what Read hands out next, from buf
	buf      []byte
	started  bool
	ended    bool // the chunk's trailer is queued
	endAfter bool // end the chunk after the current batch
	pending  *doneBatch
	eof      bool // no more batches

	cellBuf   []byte
	cellRows  int64
	stageRows [][]any
	seen      map[uint64]struct{}
	// Written are the features copied directly; IDs lists their ids while
	// they are few enough to tell the store one by one.
	written int64
	ids2    []int64
}

func newDirectSink(c *collector, p *directPlan) *directSink {
	return &directSink{collector: c, plan: p, seen: map[uint64]struct{}{}}
}

// startChunk readies the sink for a chunk with ids reserved.
func (s *directSink) startChunk(ids []int64) {
	s.ids = ids
	s.started, s.ended, s.endAfter = false, false, false
	s.out = nil
	s.cellBuf = s.cellBuf[:0]
	s.cellRows = 0
	s.stageRows = s.stageRows[:0]
}

func (s *directSink) Read(p []byte) (int, error) {
	if len(s.out) == 0 {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	return n, nil
}

// fill puts the next bytes of the chunk's COPY stream into s.out: the
// header, a batch's rows, or the trailer; io.EOF after the trailer.
func (s *directSink) fill() error {
	s.buf = s.buf[:0]
	for len(s.buf) == 0 {
		switch {
		case s.ended:
			return io.EOF
		case !s.started:
			s.started = true
			s.buf = append(s.buf, copyHeader...)
			continue
		case s.endAfter:
			s.ended = true
			s.buf = append(s.buf, copyTrailer...)
			continue
		}
		var d doneBatch
		if s.pending != nil {
			d, s.pending = *s.pending, nil
		} else {
			var ok bool
			if d, ok = s.receive(); !ok {
				if s.err != nil {
					return s.err
				}
				if s.stopped {
					return s.ctx.Err()
				}
				s.eof, s.endAfter = true, true
				continue
			}
			if !s.absorb(d) {
				return s.err
			}
		}
		if d.direct != nil && len(d.direct.rows) > len(s.ids) {
			// Out of reserved ids: end the chunk, take more, go on.
			s.pending = &d
			s.endAfter = true
			continue
		}
		s.take(d)
		if s.err != nil {
			return s.err
		}
		if len(s.cellBuf) > maxChunkCellBytes || len(s.stageRows) > maxChunkStaged {
			s.endAfter = true
		}
	}
	s.out = s.buf
	return nil
}

// take queues batch d's direct rows for COPY and keeps its staged rows.
func (s *directSink) take(d doneBatch) {
	rows, ok := s.unique(d.rows, d.recs)
	if !ok {
		return
	}
	s.stageRows = append(s.stageRows, rows...)
	s.count(rows)
	s.progress(int64(len(rows)))
	db := d.direct
	if db == nil {
		return
	}
	start := 0
	for _, r := range db.rows {
		tuple := db.buf[start:r.end]
		start = r.end
		if _, seen := s.seen[r.key]; seen {
			if !s.reject(repeated(r.rec)) {
				return
			}
			continue
		}
		if len(s.seen) >= maxDirectKeys {
			// A source id that cannot be told apart any more: the upsert
			// of the staging path makes the last one win.
			s.dupes = true
			vals, err := s.st.row(s.plan.layer, r.rec, r.geom, r.g3, nil)
			if err != nil {
				s.reject(Rejection{File: r.rec.File, Record: r.rec.Num, Reason: reason(err)})
				continue
			}
			s.stageRows = append(s.stageRows, vals)
			s.count([][]any{vals})
			continue
		}
		s.seen[r.key] = struct{}{}
		id := s.ids[0]
		s.ids = s.ids[1:]
		off := len(s.buf)
		s.buf = append(s.buf, tuple...)
		binary.BigEndian.PutUint64(s.buf[off+idOffset:], uint64(id))
		for _, c := range r.cells {
			s.cellBuf = be16(s.cellBuf, 3)
			s.cellBuf = append(s.cellBuf, s.plan.cellLayer...)
			s.cellBuf = putInt8(s.cellBuf, id)
			s.cellBuf = putInt8(s.cellBuf, int64(c))
			s.cellRows++
		}
		s.written++
		if s.written <= maxChangeIDs {
			s.ids2 = append(s.ids2, id)
		}
	}
	s.progress(int64(len(db.rows)))
}

// key hashes a direct row's source id for the repeat check.
func (p *directPlan) key(sourceID string) uint64 { return maphash.String(p.seed, sourceID) }

// runDirect copies the load's records chunk by chunk: the chunk's rows into
// the layer's table, then its cover cells into feature_cells, then its
// staged rows into ct_stage.
func runDirect(ctx context.Context, tx pgx.Tx, s *directSink, logger *slog.Logger) error {
	conn := tx.Conn().PgConn()
	if s.plan.ogc != nil {
		// The rows carry their ogc_json: the table's insert trigger keeps it
		// (migration 0630) while this transaction says so.
		if _, err := tx.Exec(ctx, `SET LOCAL citytwin.loader_json = 'on'`); err != nil {
			return err
		}
	} else {
		logger.Info("import ogc_json left to the database", "layer", s.plan.layer.Name, "why", s.plan.ogcOff)
	}
	block := minIDBlock
	for !s.eof {
		t0 := time.Now()
		written := s.written
		var ids []int64
		if err := tx.QueryRow(ctx, `SELECT array_agg(nextval($1::regclass)) FROM generate_series(1, $2)`, s.plan.seq, block).Scan(&ids); err != nil {
			return fmt.Errorf("%s: reserve ids: %w", s.plan.layer.Name, err)
		}
		if block < maxIDBlock {
			block *= 2
		}
		s.startChunk(ids)
		if _, err := conn.CopyFrom(ctx, s, s.plan.copySQL); err != nil {
			if s.err != nil {
				return s.err
			}
			return directError(s.plan, err)
		}
		t1 := time.Now()
		if s.cellRows > 0 {
			s.cellBuf = append(s.cellBuf, copyTrailer...)
			r := io.MultiReader(strings.NewReader(string(copyHeader)), &byteReader{b: s.cellBuf})
			if _, err := conn.CopyFrom(ctx, r, `COPY feature_cells (layer, feature_id, cell) FROM STDIN (FORMAT binary)`); err != nil {
				return fmt.Errorf("feature cells: %w", err)
			}
		}
		t2 := time.Now()
		if len(s.stageRows) > 0 {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"ct_stage"}, s.st.columns(), pgx.CopyFromRows(s.stageRows)); err != nil {
				return fmt.Errorf("stage: %w", err)
			}
		}
		logger.Debug("import chunk", "layer", s.plan.layer.Name, "rows", s.written-written, "cells", s.cellRows, "staged", len(s.stageRows),
			"rows_took", t1.Sub(t0).Round(time.Millisecond), "cells_took", t2.Sub(t1).Round(time.Millisecond), "stage_took", time.Since(t2).Round(time.Millisecond))
	}
	if s.plan.ogc != nil {
		// The upsert of staged rows and later writes get their text from
		// the trigger, whatever they carry.
		if _, err := tx.Exec(ctx, `SET LOCAL citytwin.loader_json = 'off'`); err != nil {
			return err
		}
	}
	return nil
}

type byteReader struct{ b []byte }

func (r *byteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// directError words a failed direct COPY: a value the table refuses is the
// input's fault; a unique violation is another load of the same source
// committed meanwhile.
func directError(p *directPlan, err error) error {
	msg := err.Error()
	if strings.Contains(msg, "duplicate key") {
		return errs.Wrap(errs.ECONFLICT, err, "layer %s: features of source %q were written by someone else during the import; run it again", p.layer.Name, p.source)
	}
	return upsertError(p.layer, err)
}
