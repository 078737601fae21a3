package tiles

import (
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// prepared is an encoded tile with the values of its response headers,
// computed once when the tile is rendered, so that serving it again (from
// the memory cache) writes stored bytes and stored header values only.
type prepared struct {
	// gzip is the gzipped MVT (nil for an empty tile).
	gzip []byte
	// etag is the strong ETag of the tile as MVT (identity encoding);
	// etagGzip the one of its gzip encoding. Both are one-element header
	// values, shared by every response: never modified.
	etag, etagGzip []string
	// length is the Content-Length of the gzip encoding.
	length []string
}

// prepare computes the header values of the gzipped tile b. The ETag hashes
// the bytes with xxhash (some GB/s: tens of microseconds for a dense tile,
// once per render).
func prepare(b []byte) *prepared {
	p := &prepared{gzip: b}
	if gzipEmpty(b) {
		return p
	}
	h := strconv.AppendUint(make([]byte, 0, 24), xxhash.Sum64(b), 16)
	e := make([]byte, 0, 24)
	e = append(e, '"')
	for i := len(h); i < 16; i++ {
		e = append(e, '0')
	}
	e = append(e, h...)
	p.etag = []string{string(e) + `"`}
	p.etagGzip = []string{string(e) + `-gz"`}
	p.length = []string{strconv.Itoa(len(b))}
	return p
}
