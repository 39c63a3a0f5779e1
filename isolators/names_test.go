package isolators

import (
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	root := Env{}
	user := Env{Linux: "linux isolation needs root"}
	posix := "volume/sandbox_path,volume/host_path,filesystem/posix,posix/cpu,posix/mem,disk/du"
	linux := "volume/sandbox_path,volume/host_path,filesystem/linux,namespaces/pid,namespaces/ipc,namespaces/uts," +
		"cgroups/cpu,cgroups/mem,cgroups/pids,cgroups/devices,disk/du"
	for _, c := range []struct {
		list string
		env  Env
		want string // the expanded list, or the error's text
		err  bool
	}{
		{list: "posix", env: root, want: posix},
		{list: "linux", env: root, want: linux},
		{list: "auto", env: root, want: linux},
		{list: "auto", env: user, want: posix},
		{list: "", env: user, want: posix},
		{list: "sim", env: root, want: "sim"},
		{list: "linux", env: user, err: true, want: "cannot run here: linux isolation needs root"},
		// Lists, in any order, come back in the order isolators run.
		{list: "filesystem/linux,cgroups/mem,cgroups/cpu,namespaces/pid", env: root,
			want: "filesystem/linux,namespaces/pid,cgroups/cpu,cgroups/mem"},
		{list: "cgroups/all,filesystem/linux", env: root,
			want: "filesystem/linux,cgroups/cpu,cgroups/mem,cgroups/pids,cgroups/devices"},
		{list: "posix/cpu, posix/mem", env: user, want: "filesystem/posix,posix/cpu,posix/mem"},
		{list: "posix/disk,posix/cpu", env: user, want: "filesystem/posix,posix/cpu,disk/du"},
		{list: "posix/cpu,posix/cpu", env: user, want: "filesystem/posix,posix/cpu"},
		{list: "filesystem/posix,volume/host_path", env: user, want: "volume/host_path,filesystem/posix"},
		// Refused, naming what is wrong.
		{list: "cgroups/memory", env: root, err: true, want: `unknown isolator "cgroups/memory"`},
		{list: "posix/cpu,gpu/nvidia", env: root, err: true, want: `unknown isolator "gpu/nvidia" (known: volume/sandbox_path`},
		{list: "posix/cpu,,posix/mem", env: root, err: true, want: "an empty entry"},
		{list: "linux,disk/du", env: root, err: true, want: `"linux" is a shorthand`},
		{list: "sim,posix/cpu", env: root, err: true, want: `"sim" is a shorthand`},
		{list: "cgroups/mem,namespaces/pid", env: root, err: true, want: "namespaces/pid, cgroups/mem need filesystem/linux"},
		{list: "filesystem/linux,filesystem/posix", env: root, err: true, want: "exclude each other"},
		{list: "docker/runtime,filesystem/linux,namespaces/pid", env: root, want: "filesystem/linux,docker/runtime,namespaces/pid"},
		{list: "docker/runtime,posix/cpu", env: root, err: true, want: "docker/runtime needs filesystem/linux"},
		{list: "network/cni,filesystem/linux,namespaces/net", env: root, want: "filesystem/linux,namespaces/net,network/cni"},
		{list: "network/cni,namespaces/pid", env: root, err: true, want: "namespaces/pid, network/cni need filesystem/linux"},
		{list: "filesystem/linux,network/cni", env: user, err: true,
			want: "filesystem/linux, network/cni cannot run here: linux isolation needs root"},
		{list: "filesystem/linux,cgroups/mem", env: user, err: true,
			want: "filesystem/linux, cgroups/mem cannot run here: linux isolation needs root"},
	} {
		t.Run(c.list, func(t *testing.T) {
			got, err := Expand(c.list, c.env)
			if c.err {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("Expand(%q) = %v, %v; want an error containing %q", c.list, got, err, c.want)
				}
				return
			}
			if err != nil || got.String() != c.want {
				t.Fatalf("Expand(%q) = %q, %v; want %q", c.list, got, err, c.want)
			}
		})
	}
}

func TestSelectionNeedsTheLinuxLauncher(t *testing.T) {
	for list, want := range map[string]bool{"posix": false, "linux": true, "sim": false,
		"filesystem/linux": true, "filesystem/linux,cgroups/pids": true, "filesystem/linux,network/cni": true, "disk/du,posix/mem": false} {
		s, err := Expand(list, Env{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Linux() != want {
			t.Errorf("%s: Linux() = %v, want %v", list, s.Linux(), want)
		}
	}
}
