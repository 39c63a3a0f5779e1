//go:build linux && cgo

package containerizer

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/runc/libcontainer/configs"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/proto/mesospb"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// What each isolator set gives a container, composed into one
// libcontainer config, in testdata/<name>.golden: a reviewer reads there
// what a task gets (namespaces, cgroup limits, mounts), and any change to
// it shows up in review.
func TestComposedConfigs(t *testing.T) {
	for _, c := range []struct {
		name, isolation string
		opts            func(*Config)
	}{
		{"linux", "linux", func(c *Config) { c.CFS, c.PidsLimit = true, 4096 }},
		{"linux-network", strings.Join(isolators.Shorthands["linux"], ",") + ",namespaces/net", nil},
		{"minimal", "filesystem/linux", nil},
		{"memory-and-pid", "cgroups/mem,namespaces/pid,filesystem/linux,volume/sandbox_path,volume/host_path", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			sel, err := isolators.Expand(c.isolation, isolators.Env{})
			if err != nil {
				t.Fatal(err)
			}
			root, hostDir := t.TempDir(), t.TempDir()
			cfg := Config{Isolation: sel, Root: root, SandboxRoot: root, Hostname: "agent-host", CgroupsRoot: "/corral",
				AllowedHostPaths: []string{hostDir}}
			if c.opts != nil {
				c.opts(&cfg)
			}
			cz, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			const sandbox = "/work/agents/A/frameworks/F/executors/web/runs/C1"
			spec := Spec{ID: "C1", Sandbox: sandbox, Shell: true, Value: "exec ./server", Env: []string{"PATH=/usr/bin:/bin"},
				Limits: isolators.Limits{CPUs: 0.5, MemBytes: 128 << 20, DiskBytes: 64 << 20},
				Info:   &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(), Hostname: proto.String("web-0")},
				Volumes: []isolators.Volume{{Source: "/work/volumes/roles/web/data-1", Target: "data", Kind: isolators.PersistentVolume},
					{Path: hostDir, Target: "/etc/ssl/private", ReadOnly: true, Kind: isolators.HostPathVolume}}}
			if !sel.Has("volume/host_path") {
				spec.Volumes = spec.Volumes[:1]
			}
			l := &isolators.Launch{Process: isolators.Process{Args: argv(spec), Env: spec.Env, Cwd: spec.Sandbox}}
			ic := &isolators.Container{ID: spec.ID, Sandbox: spec.Sandbox, Limits: spec.Limits, Volumes: spec.Volumes, Info: spec.Info}
			for _, iso := range cz.isolators {
				if err := iso.Prepare(context.Background(), ic, l); err != nil {
					t.Fatalf("%s: %v", iso.Name(), err)
				}
			}
			lc, err := libcontainerConfig(spec.ID, l, cfg.CgroupsRoot)
			if err != nil {
				t.Fatal(err)
			}
			got := describe(lc, l)
			got = strings.ReplaceAll(got, root, "$ROOT")
			got = strings.ReplaceAll(got, hostDir, "$HOSTDIR")
			path := filepath.Join("testdata", c.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if got != string(want) {
				t.Fatalf("%s: composed config differs from %s (run with -update if the change is meant):\n%s", sel, path, got)
			}
		})
	}
}

// describe renders the parts of a container's config a reviewer reads.
func describe(c *configs.Config, l *isolators.Launch) string {
	type mount struct {
		Source, Destination, Type string
		Flags                     []string `json:",omitempty"`
		Data                      string   `json:",omitempty"`
	}
	var out struct {
		Rootfs       string
		Hostname     string `json:",omitempty"`
		Namespaces   []string
		Cgroup       string
		Limits       map[string]any
		Mounts       []mount
		Capabilities []string
		Process      isolators.Process
	}
	out.Rootfs, out.Hostname, out.Cgroup, out.Process = c.Rootfs, c.Hostname, c.Cgroups.Path, l.Process
	for _, n := range c.Namespaces {
		s := string(n.Type)
		if n.Path != "" {
			s += " " + n.Path
		}
		out.Namespaces = append(out.Namespaces, s)
	}
	r := c.Cgroups.Resources
	out.Limits = map[string]any{"cpu_shares": r.CpuShares, "cpu_quota": r.CpuQuota, "cpu_period": r.CpuPeriod,
		"memory": r.Memory, "memory_swap": r.MemorySwap, "device_rules": len(r.Devices)}
	if r.PidsLimit != nil {
		out.Limits["pids"] = *r.PidsLimit
	}
	flagNames := []struct {
		f    int
		name string
	}{{unix.MS_BIND, "bind"}, {unix.MS_REC, "rec"}, {unix.MS_RDONLY, "ro"}, {unix.MS_NOSUID, "nosuid"},
		{unix.MS_NOEXEC, "noexec"}, {unix.MS_NODEV, "nodev"}, {unix.MS_STRICTATIME, "strictatime"}}
	for _, m := range c.Mounts {
		mm := mount{Source: m.Source, Destination: m.Destination, Type: m.Device, Data: m.Data}
		for _, f := range flagNames {
			if m.Flags&f.f != 0 {
				mm.Flags = append(mm.Flags, f.name)
			}
		}
		out.Mounts = append(out.Mounts, mm)
	}
	out.Capabilities = c.Capabilities.Bounding
	b, _ := json.MarshalIndent(out, "", "  ")
	return string(b) + "\n"
}
