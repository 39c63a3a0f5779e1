package e2e

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
)

// A body over an API's limit is refused with 413 before it is decoded;
// one at the limit is read and fails as the garbage it is.
func TestOversizedCallsAre413(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 1})
	for _, api := range []struct {
		path  string
		limit int
	}{{"/api/v1/scheduler", 16 << 20}, {"/api/v1", 4 << 20}} {
		for _, ct := range []string{codec.ProtobufMediaType, codec.JSONMediaType} {
			for _, size := range []int{api.limit + 1, api.limit} {
				resp, err := http.Post(c.MasterURL+api.path, ct, bytes.NewReader(bytes.Repeat([]byte{'['}, size)))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := http.StatusBadRequest
				if size > api.limit {
					want = http.StatusRequestEntityTooLarge
				}
				if resp.StatusCode != want || (want == http.StatusRequestEntityTooLarge && !strings.Contains(string(b), "exceeds")) {
					t.Errorf("%s %s with %d bytes: %d %q, want %d", api.path, ct, size, resp.StatusCode, b, want)
				}
			}
		}
	}
}
