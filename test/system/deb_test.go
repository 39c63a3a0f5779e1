package system

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corral-sched/corral/proto/masterpb"
)

// nfpmVersion is the packager `make dist` uses (NFPM_VERSION in the
// Makefile; a test below keeps them equal).
const nfpmVersion = "v2.48.0"

// unitNames are the systemd units the package installs.
var unitNames = []string{"corral-master", "corral-agent", "corral-service", "corral-pets", "corral-batch"}

// needDebianTools ends the test where it cannot install a package: not
// root, no dpkg, or corral installed already (the test would replace it).
func needDebianTools(t *testing.T) {
	t.Helper()
	why := ""
	switch {
	case os.Geteuid() != 0:
		why = "installing a .deb needs root"
	case exec.Command("dpkg", "--version").Run() != nil:
		why = "dpkg is missing"
	case exec.Command("dpkg", "-s", "corral").Run() == nil:
		why = "a corral package is installed on this machine already; the test installs and purges its own"
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// nfpm returns the packager: bin/tools/nfpm if `make dist` installed it,
// else one built from the Go module proxy on first use and cached.
func nfpm(t *testing.T) string {
	t.Helper()
	if p, err := filepath.Abs("../../bin/tools/nfpm"); err == nil {
		if out, err := exec.Command(p, "--version").CombinedOutput(); err == nil && strings.Contains(string(out), strings.TrimPrefix(nfpmVersion, "v")) {
			return p
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "corral-test", "nfpm-"+nfpmVersion)
	bin := filepath.Join(dir, "nfpm")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, "go", "install", "github.com/goreleaser/nfpm/v2/cmd/nfpm@"+nfpmVersion)
	install.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-mod=mod")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("building nfpm %s (needs the Go module proxy): %v\n%s", nfpmVersion, err, out)
	}
	return bin
}

func TestNfpmVersionMatchesTheMakefile(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^NFPM_VERSION\s*:=\s*(\S+)`).FindSubmatch(mk)
	if m == nil || string(m[1]) != nfpmVersion {
		t.Fatalf("the Makefile's NFPM_VERSION is %q, the test's %s: keep them equal", m, nfpmVersion)
	}
}

// The Debian package installs with dpkg, its systemd units check out,
// and the units' commands start a master and an agent from the packaged
// /etc/corral files (on free loopback ports and scratch work dirs, given
// as CORRAL_* variables, which override the files); purge leaves nothing.
func TestDebianPackageInstallsAndStartsAMasterAndAnAgent(t *testing.T) {
	needDebianTools(t)
	packager := nfpm(t)
	out := t.TempDir()
	build := exec.Command(packager, "package", "--config", "packaging/nfpm.yaml", "--packager", "deb", "--target", out+"/")
	build.Dir = "../.."
	build.Env = append(os.Environ(), "CORRAL_BIN="+corralBin, "DIST_VERSION=0.0.0+systemtest", "DIST_ARCH="+runtime.GOARCH)
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("nfpm package: %v\n%s", err, b)
	}
	debs, _ := filepath.Glob(filepath.Join(out, "*.deb"))
	if len(debs) != 1 {
		t.Fatalf("nfpm made %v, want one .deb", debs)
	}
	if b, err := exec.Command("dpkg", "-i", debs[0]).CombinedOutput(); err != nil {
		t.Fatalf("dpkg -i: %v\n%s", err, b)
	}
	t.Cleanup(func() {
		if b, err := exec.Command("dpkg", "--purge", "corral").CombinedOutput(); err != nil {
			t.Errorf("dpkg --purge corral: %v\n%s", err, b)
		}
		for _, left := range []string{"/usr/bin/corral", "/etc/corral", "/var/lib/corral", "/lib/systemd/system/corral-master.service"} {
			if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s is still there after the purge", left)
			}
		}
	})
	conffiles, err := exec.Command("dpkg-query", "-W", "-f=${Conffiles}", "corral").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"master", "agent", "service", "pets", "batch"} {
		if !strings.Contains(string(conffiles), "/etc/corral/"+name+".yaml") {
			t.Errorf("/etc/corral/%s.yaml is not a conffile (an upgrade would overwrite the operator's edits): %s", name, conffiles)
		}
	}
	units := make(map[string][]string)
	for _, name := range unitNames {
		path := "/lib/systemd/system/" + name + ".service"
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("unit %s: %v", name, err)
		}
		m := regexp.MustCompile(`(?m)^ExecStart=(.*)$`).FindSubmatch(text)
		if m == nil {
			t.Fatalf("unit %s has no ExecStart", name)
		}
		units[name] = strings.Fields(string(m[1]))
	}
	if analyze, err := exec.LookPath("systemd-analyze"); err == nil {
		args := []string{"verify"}
		for _, name := range unitNames {
			args = append(args, "/lib/systemd/system/"+name+".service")
		}
		if b, err := exec.Command(analyze, args...).CombinedOutput(); err != nil {
			t.Errorf("systemd-analyze verify: %v\n%s", err, b)
		}
	} else {
		t.Log("systemd-analyze is not installed: the units' commands are started directly")
	}

	masterAddr, agentAddr := freeAddr(t), freeAddr(t)
	startUnit(t, units["corral-master"], "CORRAL_LISTEN="+masterAddr, "CORRAL_WORK_DIR="+t.TempDir())
	startUnit(t, units["corral-agent"], "CORRAL_LISTEN="+agentAddr, "CORRAL_MASTER="+masterAddr, "CORRAL_WORK_DIR="+t.TempDir())
	waitFor(t, 60*time.Second, "the packaged agent to register with the packaged master", func() bool {
		status, resp, err := operator(masterAddr, call(masterpb.Call_GET_AGENTS))
		return err == nil && status == http.StatusOK && len(resp.GetGetAgents().GetAgents()) == 1
	})
	// The master runs with the packaged file's settings.
	_, resp, err := operator(masterAddr, call(masterpb.Call_GET_FLAGS))
	if err != nil {
		t.Fatal(err)
	}
	flags := map[string]string{}
	for _, f := range resp.GetGetFlags().GetFlags() {
		flags[f.GetName()] = f.GetValue()
	}
	if flags["config"] != "/etc/corral/master.yaml" || flags["log-format"] != "json" || flags["listen"] != masterAddr {
		t.Errorf("the packaged master's flags: config %q, log-format %q, listen %q", flags["config"], flags["log-format"], flags["listen"])
	}
}

// startUnit runs a unit's ExecStart with extra environment until the
// test ends.
func startUnit(t *testing.T, argv []string, env ...string) {
	t.Helper()
	log := filepath.Join(t.TempDir(), filepath.Base(argv[0])+"-"+argv[1]+".log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %v: %v", argv, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("--- last lines of %v:\n%s", argv, tail(log, 30))
		}
	})
}
