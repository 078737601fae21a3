package app

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/citytwin/citytwin/internal/errs"
)

// envReader reads tuning variables; unset means the default, and the
// first value that does not parse is kept in err.
type envReader struct{ err error }

func (e *envReader) float(k string) float64 {
	v := os.Getenv(k)
	if v == "" {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		e.fail(k, v, "a non-negative number")
	}
	return f
}

func (e *envReader) duration(k string) time.Duration {
	v := os.Getenv(k)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		e.fail(k, v, "a duration such as 20ms")
	}
	return d
}

// intOr reads an integer of at least min, def when unset.
func (e *envReader) intOr(k string, def, min int) int {
	v := os.Getenv(k)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min {
		e.fail(k, v, fmt.Sprintf("an integer of at least %d", min))
		return def
	}
	return n
}

func (e *envReader) fail(k, v, want string) {
	if e.err == nil {
		e.err = &errs.Error{Code: errs.EINVALID, Where: k, Message: fmt.Sprintf("%q: want %s", v, want)}
	}
}
