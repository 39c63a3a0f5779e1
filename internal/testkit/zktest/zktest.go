// Package zktest runs real ZooKeeper servers for tests: Debian's zookeeper
// package, started as a JVM on a free loopback port with its own data
// directory, and stopped when the test ends.
package zktest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/corral-sched/corral/internal/testkit"
)

// Jars the server needs; slf4j-simple gives it logs on stderr.
var classpath = []string{"/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-api.jar", "/usr/share/java/slf4j-simple.jar"}

// TB is the part of testing.TB the harness needs.
type TB = testkit.TB

// Server is one running ZooKeeper server.
type Server struct {
	Addr string // 127.0.0.1:port
	dir  string
	cmd  *exec.Cmd
	done <-chan struct{}
}

// Available reports what is missing to run ZooKeeper here, or "".
func Available() string {
	if _, err := exec.LookPath("java"); err != nil {
		return "java is not installed"
	}
	for _, jar := range classpath {
		if _, err := os.Stat(jar); err != nil {
			return jar + " is missing (apt-get install zookeeper)"
		}
	}
	return ""
}

// Start starts a standalone server and waits until it serves. Without
// ZooKeeper installed the test fails under CI=true and is skipped
// elsewhere, naming what is missing.
func Start(t TB) *Server {
	t.Helper()
	return StartEnsemble(t, 1).Servers[0]
}

// Ensemble is a ZooKeeper ensemble of one or more servers.
type Ensemble struct {
	Servers []*Server
}

// Addrs lists the servers' client addresses.
func (e *Ensemble) Addrs() []string {
	out := make([]string, len(e.Servers))
	for i, s := range e.Servers {
		out[i] = s.Addr
	}
	return out
}

// URL is a zk:// URL for the ensemble with the given path.
func (e *Ensemble) URL(path string) string {
	return "zk://" + strings.Join(e.Addrs(), ",") + path
}

// StartEnsemble starts n servers forming one ensemble (n=1: standalone)
// and waits until all of them serve.
func StartEnsemble(t TB, n int) *Ensemble {
	t.Helper()
	if missing := Available(); missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ZooKeeper tests need it: %s", missing)
		}
		t.Skipf("ZooKeeper not available: %s", missing)
	}
	ports, err := freePorts(3 * n)
	if err != nil {
		t.Fatalf("zktest: %v", err)
	}
	var peers []string
	for i := range n {
		if n > 1 {
			peers = append(peers, fmt.Sprintf("server.%d=127.0.0.1:%d:%d", i+1, ports[3*i+1], ports[3*i+2]))
		}
	}
	e := &Ensemble{}
	for i := range n {
		s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", ports[3*i]), dir: t.TempDir()}
		cfg := append([]string{
			"tickTime=500",
			"initLimit=10",
			"syncLimit=5",
			"dataDir=" + filepath.Join(s.dir, "data"),
			fmt.Sprintf("clientPort=%d", ports[3*i]),
			"clientPortAddress=127.0.0.1",
			"admin.enableServer=false",
			"4lw.commands.whitelist=ruok,srvr,stat,mntr",
			"minSessionTimeout=1000",
			"maxClientCnxns=0",
		}, peers...)
		if err := os.MkdirAll(filepath.Join(s.dir, "data"), 0o755); err != nil {
			t.Fatalf("zktest: %v", err)
		}
		if err := os.WriteFile(filepath.Join(s.dir, "data", "myid"), fmt.Appendf(nil, "%d\n", i+1), 0o644); err != nil {
			t.Fatalf("zktest: %v", err)
		}
		if err := os.WriteFile(filepath.Join(s.dir, "zoo.cfg"), []byte(strings.Join(cfg, "\n")+"\n"), 0o644); err != nil {
			t.Fatalf("zktest: %v", err)
		}
		e.Servers = append(e.Servers, s)
	}
	for _, s := range e.Servers {
		t.Cleanup(s.Stop)
		if err := s.launch(); err != nil {
			t.Fatalf("zktest: %v", err)
		}
	}
	if err := WaitServing(e.Servers...); err != nil {
		t.Fatalf("zktest: %v", err)
	}
	return e
}

func (s *Server) launch() error {
	// A small heap and the client compiler: test servers hold little and
	// should start fast.
	s.cmd = exec.Command("java", "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", strings.Join(classpath, ":"),
		"org.apache.zookeeper.server.quorum.QuorumPeerMain", filepath.Join(s.dir, "zoo.cfg"))
	done, err := testkit.StartLogged(s.cmd, filepath.Join(s.dir, "server.log"))
	s.done = done
	return err
}

// WaitServing waits until every server serves clients (a member of an
// ensemble serves only while it is part of a quorum).
func WaitServing(servers ...*Server) error {
	deadline := time.Now().Add(60 * time.Second)
	for _, s := range servers {
		for !s.serving() {
			select {
			case <-s.done:
				out, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
				return fmt.Errorf("ZooKeeper %s exited while starting:\n%s", s.Addr, out)
			default:
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("ZooKeeper did not serve on %s within 60s", s.Addr)
			}
			time.Sleep(50 * time.Millisecond) // polling for readiness
		}
	}
	return nil
}

// serving asks the server's srvr command for its mode.
func (s *Server) serving() bool {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("srvr")); err != nil {
		return false
	}
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "Mode:") {
			return true
		}
	}
	return false
}

// Stop kills the server (as kill -9 would) and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
}

// Restart starts the server again on the same port and data, and waits
// until it serves.
func (s *Server) Restart() error {
	if err := s.Launch(); err != nil {
		return err
	}
	return WaitServing(s)
}

// Launch starts a stopped server again without waiting for it to serve
// (members of an ensemble that lost its quorum must be launched together).
func (s *Server) Launch() error {
	s.Stop()
	return s.launch()
}

// freePorts finds n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
