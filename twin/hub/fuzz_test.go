package hub

import "testing"

// FuzzClientMessage: parsing any client message and building its
// subscription never panics or hangs.
func FuzzClientMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"subscribe","id":1,"layers":["devices"],"bbox":[116.2,37.4,116.4,37.5]}`,
		`{"type":"subscribe","cells":["8a4b0c8a2a5ffff"],"since":{"epoch":"e","seq":3}}`,
		`{"type":"subscribe","entities":["device:x"]}`,
		`{"type":"subscribe","bbox":[-180,-90,180,90]}`,
		`{"type":"subscribe","bbox":[1e308,0,-1e308,1]}`,
		`{"type":"ping","id":"a"}`,
		`{"type":"unsubscribe"}`,
		`{"type":`, `[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseClientMessage(b)
		if err != nil || m.Type != "subscribe" {
			return
		}
		_, _ = newSubscription(m)
	})
}
