package zktxn

import (
	"bytes"
	"os"
	"testing"
)

// Whatever a log holds (torn, truncated, corrupt), decoding ends with
// the transactions it could read or an error, never a panic or a huge
// allocation.
func FuzzDecode(f *testing.F) {
	if b, err := os.ReadFile("testdata/log.1"); err == nil {
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{0x5a, 0x4b, 0x4c, 0x47, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		txns, _ := Decode(bytes.NewReader(data))
		_ = Events(txns, "/corral")
	})
}
