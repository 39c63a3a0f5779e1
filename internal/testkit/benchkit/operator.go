package benchkit

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/masterpb"
)

var client = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Operator sends an operator call of type t to the master at addr itself
// (a standby's redirect is an error, so that polling finds the leader)
// and wants a 200.
func Operator(addr string, t masterpb.Call_Type) (*masterpb.Response, error) {
	body, err := codec.Protobuf.Marshal(&masterpb.Call{Type: t.Enum()})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", codec.ProtobufMediaType)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("benchkit: %s from %s: %s", t, addr, resp.Status)
	}
	out := &masterpb.Response{}
	if err := codec.Protobuf.Unmarshal(b, out); err != nil {
		return nil, fmt.Errorf("benchkit: %s from %s: %w", t, addr, err)
	}
	return out, nil
}

// ActiveAgents asks the master at addr how many agents are active.
func ActiveAgents(addr string) (int, error) {
	resp, err := Operator(addr, masterpb.Call_GET_AGENTS)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range resp.GetGetAgents().GetAgents() {
		if a.GetActive() {
			n++
		}
	}
	return n, nil
}
