package twin

import (
	"net"
	"testing"
)

// writeLog is a net.Conn that records each Write.
type writeLog struct {
	net.Conn
	writes []string
}

func (w *writeLog) Write(p []byte) (int, error) {
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

// TestCorkConn: writes between cork and uncork reach the connection as one
// write, in order; other writes go straight through.
func TestCorkConn(t *testing.T) {
	w := &writeLog{}
	c := &corkConn{Conn: w}
	c.Write([]byte("a"))
	c.cork()
	c.Write([]byte("b"))
	c.Write([]byte("cd"))
	if len(w.writes) != 1 {
		t.Fatalf("corked writes went out: %q", w.writes)
	}
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	c.uncork() // nothing gathered: no empty write
	c.Write([]byte("e"))
	if got := w.writes; len(got) != 3 || got[0] != "a" || got[1] != "bcd" || got[2] != "e" {
		t.Fatalf("writes %q, want [a bcd e]", got)
	}
}
