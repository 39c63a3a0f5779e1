package election

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Detector finds the leading master by reading the election znodes.
type Detector struct {
	s    *Session
	path string
}

// NewDetector watches the election under path.
func NewDetector(s *Session, path string) *Detector { return &Detector{s: s, path: path} }

// Current returns the leader's MasterInfo, or nil if nobody leads, and a
// channel that fires when that may have changed.
func (d *Detector) Current() (*mesospb.MasterInfo, <-chan zk.Event, error) {
	children, _, watch, err := d.s.Conn.ChildrenW(d.path)
	for errors.Is(err, zk.ErrNoNode) {
		// No election yet: wait for the path. If it appeared between the
		// two calls, an exists watch would only fire on its deletion, so
		// list the children again instead.
		exists, _, created, existsErr := d.s.Conn.ExistsW(d.path)
		if existsErr != nil || !exists {
			return nil, created, existsErr
		}
		children, _, watch, err = d.s.Conn.ChildrenW(d.path)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("election: listing %s: %w", d.path, err)
	}
	for _, name := range contenders(children) {
		data, _, err := d.s.Conn.Get(d.path + "/" + name)
		if errors.Is(err, zk.ErrNoNode) {
			continue // gone meanwhile: the next one leads
		}
		if err != nil {
			return nil, nil, fmt.Errorf("election: reading %s: %w", name, err)
		}
		info := &mesospb.MasterInfo{}
		if err := codec.JSON.Unmarshal(data, info); err != nil {
			return nil, nil, fmt.Errorf("election: %s holds no MasterInfo: %w", name, err)
		}
		return info, watch, nil
	}
	return nil, watch, nil
}

// Leader waits until some master leads and returns its host:port. It
// satisfies the SDK's and the agent's detector contracts.
func (d *Detector) Leader(ctx context.Context) (string, error) {
	for {
		info, watch, err := d.Current()
		if err == nil && info != nil {
			return Address(info), nil
		}
		var retry <-chan time.Time
		if err != nil {
			retry = time.After(200 * time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("election: no leading master: %w", ctx.Err())
		case <-watch:
		case <-retry:
		}
	}
}

// Address is the host:port clients reach a master at.
func Address(info *mesospb.MasterInfo) string {
	host := info.GetAddress().GetHostname()
	if host == "" {
		host = info.GetHostname()
	}
	if host == "" {
		host = info.GetAddress().GetIp()
	}
	port := int(info.GetAddress().GetPort())
	if port == 0 {
		port = int(info.GetPort())
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}
