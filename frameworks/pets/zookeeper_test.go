package pets

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/frameworks/sdk/sdktest"
	"github.com/corral-sched/corral/internal/testkit/zktest"
)

// A real stateful workload: examples/petsets/zookeeper.json runs a
// three-node ZooKeeper ensemble, each pet deriving its myid from its
// ordinal and the server list from its peers. A znode written through one
// pet survives that pet's restart and is read back through every pet.
func TestZooKeeperEnsembleAsAPetSet(t *testing.T) {
	if why := zktest.Available(); why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the ZooKeeper pet set needs it: %s", why)
		}
		t.Skipf("ZooKeeper unavailable: %s", why)
	}
	// The pets reach each other by their agents' hostnames: on one machine
	// that is 127.0.0.1, with a port range per agent.
	h := newHarness(t, sdktest.Options{Agents: 3, Agent: func(i int, c *agent.Config) {
		c.Hostname = "127.0.0.1"
		c.Resources = fmt.Sprintf("cpus:4;mem:4096;disk:10000;ports:[%d-%d]", 33000+100*i, 33099+100*i)
	}})
	raw, err := os.ReadFile("../../examples/petsets/zookeeper.json")
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	delete(spec, "constraints") // every agent is 127.0.0.1 here
	h.do(http.MethodPost, "/v1/petsets", spec, http.StatusCreated)
	h.waitReady("zk", 3, 1)

	clientAddr := func(ordinal int) string {
		p := h.pets("zk")[ordinal]
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(int(p.Ports["client"])))
	}
	connect := func(addrs ...string) *zk.Conn {
		conn, _, err := zk.Connect(addrs, 5*time.Second, zk.WithLogInfo(false), zk.WithLogger(quiet{}))
		if err != nil {
			t.Fatal(err)
		}
		return conn
	}
	first := connect(clientAddr(0))
	var created bool
	h.waitFor("the ensemble to elect a leader and take a write through zk-0", func() bool {
		_, err := first.Create("/corral-pets", []byte("written through zk-0"), 0, zk.WorldACL(zk.PermAll))
		created = err == nil || err == zk.ErrNodeExists
		return created
	})
	first.Close()
	before := h.pets("zk")[0].TaskID

	h.do(http.MethodPost, "/v1/petsets/zk/pets/0/restart", nil, http.StatusAccepted)
	others := connect(clientAddr(1), clientAddr(2))
	defer others.Close()
	h.waitFor("the znode read through zk-1 and zk-2 while zk-0 restarts", func() bool {
		data, _, err := others.Get("/corral-pets")
		return err == nil && string(data) == "written through zk-0"
	})
	h.waitFor("zk-0 to run again", func() bool {
		p := h.pets("zk")[0]
		return p.Ready && p.TaskID != before
	})
	back := connect(clientAddr(0))
	defer back.Close()
	h.waitFor("the relaunched zk-0 to serve the znode", func() bool {
		data, _, err := back.Get("/corral-pets")
		return err == nil && string(data) == "written through zk-0"
	})
	// Its identity came from its ordinal, kept in its volume.
	if myid := h.volumeFile(h.pets("zk")[0], "pets", "zk/myid"); myid != "1\n" {
		t.Fatalf("zk-0's myid is %q, want 1", myid)
	}
}

// quiet drops the ZooKeeper client's log (it retries while pets start).
type quiet struct{}

func (quiet) Printf(string, ...any) {}
