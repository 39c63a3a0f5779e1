package cluster

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/corral-sched/corral/test/cluster/history"
	"github.com/corral-sched/corral/test/cluster/zktxn"
)

// zkClasspath is what Debian's zookeeper package needs on the class path
// (slf4j-simple gives it logs on stderr).
var zkClasspath = []string{"/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-api.jar", "/usr/share/java/slf4j-simple.jar"}

// startZooKeepers starts the ensemble, each server in its own namespace,
// and waits until all of them serve.
func (c *Cluster) startZooKeepers() {
	c.t.Helper()
	n := max(c.opts.ZooKeepers, 1)
	for i := range n {
		c.ZooKeepers = append(c.ZooKeepers, c.node(fmt.Sprintf("zk-%d", i+1), "zookeeper", zkClientPort))
	}
	var peers []string
	if n > 1 {
		for i, z := range c.ZooKeepers {
			peers = append(peers, fmt.Sprintf("server.%d=%s:2888:3888", i+1, z.IP))
		}
	}
	for i, z := range c.ZooKeepers {
		data := filepath.Join(z.WorkDir, "data")
		cfg := append([]string{
			"tickTime=500", "initLimit=10", "syncLimit=5",
			"dataDir=" + data,
			fmt.Sprintf("clientPort=%d", zkClientPort),
			"clientPortAddress=" + z.IP,
			"admin.enableServer=false",
			"4lw.commands.whitelist=ruok,srvr,stat,mntr",
			"minSessionTimeout=1000",
			"maxClientCnxns=0",
		}, peers...)
		if err := os.MkdirAll(data, 0o755); err != nil {
			c.t.Fatalf("cluster: %v", err)
		}
		if err := os.WriteFile(filepath.Join(data, "myid"), fmt.Appendf(nil, "%d\n", i+1), 0o644); err != nil {
			c.t.Fatalf("cluster: %v", err)
		}
		conf := filepath.Join(z.WorkDir, "zoo.cfg")
		if err := os.WriteFile(conf, []byte(strings.Join(cfg, "\n")+"\n"), 0o644); err != nil {
			c.t.Fatalf("cluster: %v", err)
		}
		// A small heap and the client compiler: test servers hold little
		// and should start fast.
		c.run(z, nil, "java", "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
			"-cp", strings.Join(zkClasspath, ":"), "org.apache.zookeeper.server.quorum.QuorumPeerMain", conf)
	}
	c.WaitZooKeeper(c.ZooKeepers...)
}

// WaitZooKeeper waits until each of the servers serves clients (a member
// of an ensemble serves only while it is part of a quorum).
func (c *Cluster) WaitZooKeeper(servers ...*Node) {
	c.t.Helper()
	for _, z := range servers {
		c.WaitFor(90*time.Second, "ZooKeeper "+z.Name+" to serve", func() bool {
			if !z.proc.running() {
				c.t.Fatalf("ZooKeeper %s exited:\n%s", z.Name, tail(z.Log, 30))
			}
			return c.zkServing(z)
		})
	}
}

// zkServing asks a server's srvr command for its mode.
func (c *Cluster) zkServing(z *Node) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := c.Observer.DialContext(ctx, "tcp", z.Addr)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("srvr")); err != nil {
		return false
	}
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "Mode:") {
			return true
		}
	}
	return false
}

// zkEvents reads every server's transaction logs: the election and the
// registry as ZooKeeper applied them.
func (c *Cluster) zkEvents() ([]history.Event, error) {
	var dirs []string
	for _, z := range c.ZooKeepers {
		dirs = append(dirs, filepath.Join(z.WorkDir, "data"))
	}
	txns, err := zktxn.ReadDir(dirs...)
	if err != nil {
		return nil, err
	}
	return zktxn.Events(txns, "/corral"), nil
}
