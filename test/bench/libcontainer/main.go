//go:build linux && cgo

// Command libcontainer measures the floor of a linux container on this
// machine without corral: a Go program that does nothing but create,
// start and release -n containers through runc's libcontainer, -workers
// at a time, each shaped like the containers corral's linux agents make
// (an empty root with the host's /usr and /etc read-only, fresh /proc,
// /dev, /sys and /tmp, fresh mount, PID, IPC and UTS namespaces, Docker's
// default capabilities and masked paths, a cgroup with a CPU share and a
// memory limit) and running `sleep`. It reports containers per second and
// the machine's CPU per container, then kills and destroys them all.
//
// libcontainer re-executes the program's own binary as each container's
// init, so the binary's start-up is part of every container. Built plain,
// the binary holds libcontainer alone; built with -tags corralinit it also
// carries the package initialisation of corral's own binary (corral_init.go),
// which is what corral's agents re-execute:
//
//	go build -o bin/libcontainer-floor ./test/bench/libcontainer
//	go build -tags corralinit -o bin/libcontainer-floor-corral ./test/bench/libcontainer
//	bin/libcontainer-floor -n 200   # as root
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/cgroups"
	_ "github.com/opencontainers/cgroups/devices" // device rules in the cgroup
	devconfig "github.com/opencontainers/cgroups/devices/config"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	_ "github.com/opencontainers/runc/libcontainer/nsenter" // the C half of container init
	"github.com/opencontainers/runc/libcontainer/specconv"
	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		libcontainer.Init() // this binary, re-executed as a container's init
	}
	n := flag.Int("n", 200, "containers")
	workers := flag.Int("workers", runtime.GOMAXPROCS(0)*4, "containers made at once")
	dir := flag.String("dir", "/var/tmp", "where the roots and libcontainer's state go")
	flag.Parse()
	r, err := run(*n, *workers, *dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "libcontainer floor:", err)
		os.Exit(1)
	}
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
	fmt.Printf("\n%d containers running `sleep` in %.2f s, %d at a time: **%.0f/s**, %.1f ms of the machine's CPU each (a %.0f MB binary re-executed as their init).\n",
		r.Containers, r.Seconds, r.Workers, r.PerSecond, r.CPUMsPerContainer, r.BinaryMB)
}

// result is the JSON line the run prints.
type result struct {
	Scenario          string  `json:"scenario"`
	Containers        int     `json:"containers"`
	Workers           int     `json:"workers"`
	Seconds           float64 `json:"seconds"`
	PerSecond         float64 `json:"containers_per_second"`
	CPUMsPerContainer float64 `json:"cpu_ms_per_container"` // the whole machine's busy time
	BinaryMB          float64 `json:"binary_mb"`
	Cores             int     `json:"cores"`
}

type started struct {
	c *libcontainer.Container
	p *libcontainer.Process
}

// run starts n containers, workers at a time, and destroys them all
// before it returns, whatever failed.
func run(n, workers int, base string) (r result, err error) {
	if n < 1 || workers < 1 {
		return r, errors.New("-n and -workers must be at least 1")
	}
	if os.Geteuid() != 0 {
		return r, errors.New("containers need root")
	}
	dir, err := os.MkdirTemp(base, "corral-libcontainer-")
	if err != nil {
		return r, err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
	state := filepath.Join(dir, "state")
	made := make([]started, n)
	defer func() { err = errors.Join(err, destroyAll(made)) }()

	errs := make([]error, n)
	jobs := make(chan int)
	var wg sync.WaitGroup
	busy0 := busyTicks()
	start := time.Now()
	for range min(workers, n) {
		wg.Go(func() {
			for i := range jobs {
				made[i], errs[i] = startOne(dir, state, i)
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	busy1 := busyTicks()
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	exe, _ := os.Stat("/proc/self/exe")
	r = result{Scenario: "libcontainer-floor", Containers: n, Workers: workers, Seconds: elapsed.Seconds(),
		PerSecond: float64(n) / elapsed.Seconds(), CPUMsPerContainer: float64(busy1-busy0) * 1000 / clockTicks / float64(n),
		Cores: runtime.NumCPU()}
	if exe != nil {
		r.BinaryMB = float64(exe.Size()) / (1 << 20)
	}
	return r, nil
}

// startOne makes container i's root, creates and starts the container,
// and releases its command, as corral's linux launcher does.
func startOne(dir, state string, i int) (started, error) {
	id := "c" + strconv.Itoa(i)
	rootfs := filepath.Join(dir, "rootfs", id)
	for _, d := range []string{"usr", "etc", "proc", "dev", "sys", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return started{}, err
		}
	}
	for _, l := range []string{"bin", "sbin", "lib", "lib64", "lib32", "libx32"} {
		if _, err := os.Stat("/usr/" + l); err != nil {
			continue // as filesystem/linux: no link to what the host lacks
		}
		if err := os.Symlink("usr/"+l, filepath.Join(rootfs, l)); err != nil {
			return started{}, err
		}
	}
	cgroup := fmt.Sprintf("/corral-libcontainer-%d-%s", os.Getpid(), id)
	c, err := libcontainer.Create(state, id, config(rootfs, cgroup))
	if err != nil {
		return started{}, fmt.Errorf("creating %s: %w", id, err)
	}
	p := &libcontainer.Process{Args: []string{"/bin/sh", "-c", "exec sleep 120"}, Env: []string{"PATH=/usr/bin:/bin"}, Cwd: "/", Init: true}
	if err := c.Start(p); err != nil {
		return started{c: c}, fmt.Errorf("starting %s: %w", id, err)
	}
	if err := c.Exec(); err != nil {
		return started{c, p}, fmt.Errorf("releasing %s: %w", id, err)
	}
	return started{c, p}, nil
}

// config is the container corral's filesystem/linux, namespaces and
// cgroups isolators describe for a task without an image.
func config(rootfs, cgroup string) *configs.Config {
	caps := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
		"CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}
	mount := func(src, dst, typ string, flags int, data string) *configs.Mount {
		return &configs.Mount{Source: src, Destination: dst, Device: typ, Flags: flags, Data: data}
	}
	devices := make([]*devconfig.Rule, 0, len(specconv.AllowedDevices))
	for _, d := range specconv.AllowedDevices {
		devices = append(devices, &d.Rule)
	}
	return &configs.Config{
		Rootfs:       rootfs,
		Capabilities: &configs.Capabilities{Bounding: caps, Effective: caps, Permitted: caps},
		Namespaces:   configs.Namespaces{{Type: configs.NEWNS}, {Type: configs.NEWPID}, {Type: configs.NEWIPC}, {Type: configs.NEWUTS}},
		Mounts: []*configs.Mount{
			mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NOEXEC|unix.MS_NODEV, ""),
			mount("tmpfs", "/dev", "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, "mode=755"),
			mount("devpts", "/dev/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"),
			mount("shm", "/dev/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC|unix.MS_NODEV, "mode=1777,size=65536k"),
			mount("mqueue", "/dev/mqueue", "mqueue", unix.MS_NOSUID|unix.MS_NOEXEC|unix.MS_NODEV, ""),
			mount("sysfs", "/sys", "sysfs", unix.MS_NOSUID|unix.MS_NOEXEC|unix.MS_NODEV|unix.MS_RDONLY, ""),
			mount("tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"),
			mount("/usr", "/usr", "bind", unix.MS_BIND|unix.MS_RDONLY, ""),
			mount("/etc", "/etc", "bind", unix.MS_BIND|unix.MS_RDONLY, ""),
		},
		Devices:         specconv.AllowedDevices,
		NoNewPrivileges: true,
		MaskPaths:       []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"},
		ReadonlyPaths:   []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"},
		Cgroups: &cgroups.Cgroup{Path: cgroup, Resources: &cgroups.Resources{
			CpuShares: 102, Memory: 64 << 20, MemorySwap: 64 << 20, Devices: devices}},
	}
}

// destroyAll kills every container made, reaps its init and destroys it
// (its state and cgroup); the roots go with the run's directory.
func destroyAll(made []started) error {
	var errs []error
	for _, s := range made {
		if s.c == nil {
			continue
		}
		if s.p != nil {
			_ = s.c.Signal(unix.SIGKILL) // it may be gone already; Destroy checks
			_, _ = s.p.Wait()
		}
		if err := s.c.Destroy(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// clockTicks is USER_HZ, the unit of /proc/stat (100 on Linux).
const clockTicks = 100

// busyTicks is the machine's non-idle time so far, in clock ticks.
func busyTicks() int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	var busy int64
	for i, f := range strings.Fields(line)[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		v, _ := strconv.ParseInt(f, 10, 64)
		busy += v
	}
	return busy
}
