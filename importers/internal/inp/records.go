package inp

import "github.com/citytwin/citytwin/spatial/load"

// Records yields the records built from a model, in order. A model is read
// whole by its scanner's constructor, so Err and Close have nothing to say.
type Records struct {
	recs []*load.Record
	i    int
}

// NewRecords returns a scanner over recs.
func NewRecords(recs []*load.Record) *Records { return &Records{recs: recs} }

// Scan advances to the next record.
func (s *Records) Scan() bool {
	if s.i >= len(s.recs) {
		return false
	}
	s.i++
	return true
}

// Record returns the current record.
func (s *Records) Record() *load.Record { return s.recs[s.i-1] }

// Err returns nil: the model was read before scanning.
func (s *Records) Err() error { return nil }

// Close does nothing.
func (s *Records) Close() error { return nil }
