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
)

// Jars the server needs; slf4j-simple gives it logs on stderr.
var classpath = []string{"/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-api.jar", "/usr/share/java/slf4j-simple.jar"}

// TB is the part of testing.TB the harness needs.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	TempDir() string
	Cleanup(func())
}

// Server is one running ZooKeeper server.
type Server struct {
	Addr string // 127.0.0.1:port
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
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
	if missing := Available(); missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ZooKeeper tests need it: %s", missing)
		}
		t.Skipf("ZooKeeper not available: %s", missing)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("zktest: %v", err)
	}
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), dir: t.TempDir()}
	cfg := strings.Join([]string{
		"tickTime=500",
		"dataDir=" + filepath.Join(s.dir, "data"),
		fmt.Sprintf("clientPort=%d", port),
		"clientPortAddress=127.0.0.1",
		"admin.enableServer=false",
		"4lw.commands.whitelist=ruok,srvr,stat,mntr",
		"minSessionTimeout=1000",
		"maxClientCnxns=0",
	}, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(s.dir, "zoo.cfg"), []byte(cfg), 0o644); err != nil {
		t.Fatalf("zktest: %v", err)
	}
	if err := s.start(); err != nil {
		t.Fatalf("zktest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start() error {
	log, err := os.Create(filepath.Join(s.dir, "server.log"))
	if err != nil {
		return err
	}
	s.cmd = exec.Command("java", "-Xmx256m", "-cp", strings.Join(classpath, ":"),
		"org.apache.zookeeper.server.quorum.QuorumPeerMain", filepath.Join(s.dir, "zoo.cfg"))
	s.cmd.Stdout, s.cmd.Stderr = log, log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("starting ZooKeeper: %w", err)
	}
	s.done = make(chan struct{})
	go func() { _ = s.cmd.Wait(); log.Close(); close(s.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for !s.serving() {
		select {
		case <-s.done:
			out, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
			return fmt.Errorf("ZooKeeper exited while starting:\n%s", out)
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("ZooKeeper did not serve on %s within 60s", s.Addr)
		}
		time.Sleep(50 * time.Millisecond) // polling for readiness
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

// Restart starts the server again on the same port and data.
func (s *Server) Restart() error {
	s.Stop()
	return s.start()
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
