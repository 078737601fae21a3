package app

import (
	"strings"
	"testing"
	"time"
)

// TestEnvReader: unset tuning variables mean the defaults; a value that
// does not parse is an error naming the variable.
func TestEnvReader(t *testing.T) {
	t.Setenv("CT_TEST_WAIT", "35ms")
	t.Setenv("CT_TEST_RATE", "12.5")
	var e envReader
	if d := e.duration("CT_TEST_WAIT"); d != 35*time.Millisecond {
		t.Fatalf("duration = %v", d)
	}
	if f := e.float("CT_TEST_RATE"); f != 12.5 {
		t.Fatalf("float = %v", f)
	}
	if d, f := e.duration("CT_TEST_UNSET"), e.float("CT_TEST_UNSET"); d != 0 || f != 0 || e.err != nil {
		t.Fatalf("unset: %v %v %v", d, f, e.err)
	}
	t.Setenv("CT_TEST_WAIT", "20")
	t.Setenv("CT_TEST_RATE", "-1")
	e.duration("CT_TEST_WAIT")
	e.float("CT_TEST_RATE")
	if e.err == nil || !strings.Contains(e.err.Error(), "CT_TEST_WAIT") || !strings.Contains(e.err.Error(), `"20"`) {
		t.Fatalf("err = %v, want the first bad variable named", e.err)
	}
}
