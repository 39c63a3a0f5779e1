// Package registrytest runs a real Docker registry for tests: Debian's
// docker-registry package (the distribution registry), started on a free
// loopback port with its own storage directory, optionally behind htpasswd
// authentication, and stopped when the test ends.
package registrytest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/corral-sched/corral/internal/testkit"
	"golang.org/x/crypto/bcrypt"
)

// Binary is Debian's registry.
const Binary = "docker-registry"

// TB is the part of testing.TB the harness needs.
type TB = testkit.TB

// Registry is one running registry.
type Registry struct {
	Addr     string // 127.0.0.1:port, also the registry part of image names
	User     string // set when started WithAuth
	Password string
	dir      string
	cmd      *exec.Cmd
	done     <-chan struct{}
}

// Option changes how the registry starts.
type Option func(*config)

type config struct{ user, password string }

// WithAuth requires HTTP Basic credentials (htpasswd, bcrypt) for every
// request.
func WithAuth(user, password string) Option {
	return func(c *config) { c.user, c.password = user, password }
}

// Available reports what is missing to run a registry here, or "".
func Available() string {
	if _, err := exec.LookPath(Binary); err != nil {
		return "docker-registry is not installed (apt-get install docker-registry)"
	}
	return ""
}

// Start starts a registry and waits until GET /v2/ answers. Without the
// package the test fails under CI=true and is skipped elsewhere, naming
// what is missing.
func Start(t TB, opts ...Option) *Registry {
	t.Helper()
	if missing := Available(); missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("registry tests need it: %s", missing)
		}
		t.Skipf("registry not available: %s", missing)
	}
	var c config
	for _, o := range opts {
		o(&c)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	r := &Registry{Addr: fmt.Sprintf("127.0.0.1:%d", port), User: c.user, Password: c.password, dir: t.TempDir()}
	cfg := []string{
		"version: 0.1",
		"log:",
		"  level: warn",
		"  accesslog:",
		"    disabled: true",
		"storage:",
		"  filesystem:",
		"    rootdirectory: " + filepath.Join(r.dir, "data"),
		"  delete:",
		"    enabled: true",
		"http:",
		"  addr: " + r.Addr,
		"  secret: corral-registrytest",
	}
	if c.user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(c.password), bcrypt.MinCost)
		if err != nil {
			t.Fatalf("registrytest: %v", err)
		}
		htpasswd := filepath.Join(r.dir, "htpasswd")
		if err := os.WriteFile(htpasswd, fmt.Appendf(nil, "%s:%s\n", c.user, hash), 0o600); err != nil {
			t.Fatalf("registrytest: %v", err)
		}
		cfg = append(cfg, "auth:", "  htpasswd:", "    realm: corral-registrytest", "    path: "+htpasswd)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "config.yml"), []byte(strings.Join(cfg, "\n")+"\n"), 0o644); err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	t.Cleanup(r.Stop)
	if err := r.launch(); err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	if err := r.wait(30 * time.Second); err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	return r
}

func (r *Registry) launch() error {
	r.cmd = exec.Command(Binary, "serve", filepath.Join(r.dir, "config.yml"))
	done, err := testkit.StartLogged(r.cmd, filepath.Join(r.dir, "registry.log"))
	r.done = done
	return err
}

// wait polls GET /v2/ until it answers: 200, or 401 behind auth.
func (r *Registry) wait(limit time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(limit)
	for {
		resp, err := client.Get("http://" + r.Addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		select {
		case <-r.done:
			return fmt.Errorf("%s exited while starting:\n%s", Binary, r.Log())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer on %s within %v:\n%s", Binary, r.Addr, limit, r.Log())
		}
		time.Sleep(20 * time.Millisecond) // polling for readiness
	}
}

// Log is what the registry wrote so far.
func (r *Registry) Log() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "registry.log"))
	return string(b)
}

// Stop kills the registry and waits for it to exit.
func (r *Registry) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
}

// DockerConfig is a Docker config.json granting the registry's
// credentials, for WithAuth registries.
func (r *Registry) DockerConfig() string {
	return fmt.Sprintf(`{"auths":{%q:{"username":%q,"password":%q}}}`, r.Addr, r.User, r.Password)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
