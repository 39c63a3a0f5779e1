//go:build linux && cgo

package containerizer

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/cgroups"
	devconfig "github.com/opencontainers/cgroups/devices/config"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"golang.org/x/sys/unix"

	"github.com/corral-sched/corral/isolators"
)

// defaultCaps are Docker's default capabilities: a root process in a
// container can do what a container needs, and no more.
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
	"CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// namespaceTypes maps the isolators' namespaces onto libcontainer's.
var namespaceTypes = map[isolators.NamespaceType]configs.NamespaceType{
	isolators.MountNamespace:   configs.NEWNS,
	isolators.PIDNamespace:     configs.NEWPID,
	isolators.IPCNamespace:     configs.NEWIPC,
	isolators.UTSNamespace:     configs.NEWUTS,
	isolators.NetworkNamespace: configs.NEWNET,
}

// libcontainerConfig composes what the isolators prepared into one
// libcontainer config. It is pure, so that what a container gets can be
// read in golden files (testdata/*.golden).
func libcontainerConfig(id string, l *isolators.Launch, cgroupParent string) (*configs.Config, error) {
	if l.Rootfs == "" || !l.Has(isolators.MountNamespace) {
		return nil, errors.New("containerizer: a linux container needs a root of its own (the filesystem/linux isolator)")
	}
	var ns configs.Namespaces
	var networks []*configs.Network
	for _, n := range l.Namespaces {
		t, ok := namespaceTypes[n.Type]
		if !ok {
			return nil, fmt.Errorf("containerizer: unknown namespace %q", n.Type)
		}
		ns = append(ns, configs.Namespace{Type: t, Path: n.Path})
		if t == configs.NEWNET && n.Path == "" {
			// A new network namespace has only loopback, brought up here;
			// one joined has it up already.
			networks = []*configs.Network{{Type: "loopback", Address: "127.0.0.1/0", Gateway: "localhost"}}
		}
	}
	mounts := make([]*configs.Mount, 0, len(l.Mounts))
	for _, m := range l.Mounts {
		cm, err := libcontainerMount(m)
		if err != nil {
			return nil, err
		}
		mounts = append(mounts, cm)
	}
	capList := defaultCaps
	if l.Cgroups == nil || !l.Cgroups.Devices {
		// Without cgroups/devices the device controller allows every
		// device: no CAP_MKNOD then, so only the default nodes exist.
		capList = slices.DeleteFunc(slices.Clone(defaultCaps), func(c string) bool { return c == "CAP_MKNOD" })
	}
	caps := &configs.Capabilities{Bounding: capList, Effective: capList, Permitted: capList}
	cfg := &configs.Config{
		Rootfs:          l.Rootfs,
		Capabilities:    caps,
		Namespaces:      ns,
		Networks:        networks,
		Mounts:          mounts,
		Devices:         specconv.AllowedDevices,
		NoNewPrivileges: true,
		MaskPaths:       []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"},
		ReadonlyPaths:   []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"},
		Cgroups:         &cgroups.Cgroup{Path: filepath.Join(cgroupParent, id), Resources: cgroupResources(l.Cgroups)},
	}
	if l.Has(isolators.UTSNamespace) {
		cfg.Hostname = l.Hostname
	}
	return cfg, nil
}

// cgroupResources are the container's limits; without cgroups/devices
// every device is allowed (libcontainer will not leave the device
// controller alone).
func cgroupResources(c *isolators.Cgroups) *cgroups.Resources {
	if c == nil {
		c = &isolators.Cgroups{}
	}
	res := &cgroups.Resources{
		CpuShares: c.CPUShares, CpuQuota: c.CPUQuota, CpuPeriod: c.CPUPeriod,
		Memory: c.Memory, MemorySwap: c.MemorySwap,
	}
	if !c.Devices {
		res.Devices = []*devconfig.Rule{{Type: devconfig.WildcardDevice, Major: devconfig.Wildcard, Minor: devconfig.Wildcard,
			Permissions: "rwm", Allow: true}}
	}
	if c.PidsLimit > 0 {
		limit := c.PidsLimit
		res.PidsLimit = &limit
	}
	if c.Devices {
		for _, d := range specconv.AllowedDevices {
			res.Devices = append(res.Devices, &d.Rule)
		}
	}
	return res
}

// mountFlags are the OCI mount options that are flags.
var mountFlags = map[string]int{
	"ro": unix.MS_RDONLY, "nosuid": unix.MS_NOSUID, "noexec": unix.MS_NOEXEC, "nodev": unix.MS_NODEV,
	"strictatime": unix.MS_STRICTATIME, "bind": unix.MS_BIND, "rbind": unix.MS_BIND | unix.MS_REC,
}

func libcontainerMount(m isolators.Mount) (*configs.Mount, error) {
	cm := &configs.Mount{Source: m.Source, Destination: m.Destination, Device: m.Type}
	var data []string
	for _, o := range m.Options {
		if f, ok := mountFlags[o]; ok {
			cm.Flags |= f
			continue
		}
		if !strings.Contains(o, "=") && o != "newinstance" {
			return nil, fmt.Errorf("containerizer: mount %s: unknown option %q", m.Destination, o)
		}
		data = append(data, o)
	}
	cm.Data = strings.Join(data, ",")
	if m.Type == "bind" && cm.Flags&unix.MS_BIND == 0 {
		cm.Flags |= unix.MS_BIND
	}
	return cm, nil
}
