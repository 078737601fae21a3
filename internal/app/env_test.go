package app

import (
	"strings"
	"testing"
	"time"
)

// TestEnvReader: unset tuning variables mean the defaults; a value that
// does not parse, or is out of range, is an error naming the variable.
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
	if n := e.intOr("CT_TEST_UNSET", 8, 1); n != 8 {
		t.Fatalf("intOr unset = %d, want the default", n)
	}
	t.Setenv("CT_TEST_N", "0")
	if n := e.intOr("CT_TEST_N", 256, 0); n != 0 || e.err != nil {
		t.Fatalf("intOr 0 = %d (%v), want 0", n, e.err)
	}
	if n := e.intOr("CT_TEST_N", 8, 1); n != 8 || e.err == nil || !strings.Contains(e.err.Error(), "at least 1") {
		t.Fatalf("intOr below its minimum = %d (%v), want the default and an error", n, e.err)
	}
	e = envReader{}
	t.Setenv("CT_TEST_WAIT", "20")
	t.Setenv("CT_TEST_RATE", "-1")
	e.duration("CT_TEST_WAIT")
	e.float("CT_TEST_RATE")
	if e.err == nil || !strings.Contains(e.err.Error(), "CT_TEST_WAIT") || !strings.Contains(e.err.Error(), `"20"`) {
		t.Fatalf("err = %v, want the first bad variable named", e.err)
	}
}
