package agent

import (
	"context"
	"fmt"
	"net"

	"github.com/corral-sched/corral/internal/netns"
)

// dialInNetns connects from inside the network namespace of process pid:
// a container with an isolated network can only be health-checked from
// within. The socket is created on an OS thread switched into the
// namespace; the thread switches back, or is discarded if it cannot.
func dialInNetns(ctx context.Context, pid int, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := netns.Do(fmt.Sprintf("/proc/%d/ns/net", pid), func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}
