package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/proto/mesospb"
)

// defaultCNIPluginsDir is where Debian's containernetworking-plugins
// installs the CNI plugins.
const defaultCNIPluginsDir = "/usr/lib/cni"

// networkDefaults completes the CNI settings: a configuration directory
// brings network/cni into the isolation (as --network isolated brings
// namespaces/net), and network/cni needs one.
func (c *Config) networkDefaults(sel isolators.Selection) (isolators.Selection, error) {
	if len(c.NetworkCNIPluginsDirs) == 0 {
		c.NetworkCNIPluginsDirs = []string{defaultCNIPluginsDir}
	}
	for _, ns := range c.DNS {
		if _, err := netip.ParseAddr(ns); err != nil {
			return sel, fmt.Errorf("agent: config: DNS %q: a nameserver is an IP address", ns)
		}
	}
	if c.NetworkCNIConfigDir == "" {
		if sel.Has("network/cni") {
			return sel, errors.New("agent: config: the network/cni isolator needs NetworkCNIConfigDir (--network-cni-config-dir)")
		}
		if len(c.DNS) > 0 {
			return sel, errors.New("agent: config: DNS (--dns) is for containers on CNI networks: set NetworkCNIConfigDir (--network-cni-config-dir) too")
		}
		return sel, nil
	}
	if sel.Has("network/cni") {
		return sel, nil
	}
	if sel.Sim {
		return sel, errors.New("agent: config: simulated agents (--isolation sim) attach no CNI networks (--network-cni-config-dir)")
	}
	out, err := isolators.Expand(sel.String()+",network/cni", isolators.Env{Linux: containerizer.LinuxAvailable()})
	if err != nil {
		return sel, fmt.Errorf("agent: config: CNI networks (--network-cni-config-dir): %w", err)
	}
	return out, nil
}

// cniConfig is the containerizer's view of the CNI settings.
func (c *Config) cniConfig() *containerizer.CNI {
	if c.NetworkCNIConfigDir == "" {
		return nil
	}
	return &containerizer.CNI{ConfigDir: c.NetworkCNIConfigDir, PluginDirs: c.NetworkCNIPluginsDirs, DNS: c.DNS}
}

// withNetworks adds the networks of an executor's container to the
// update it sent, as Mesos' agent does: the executor cannot know them.
func withNetworks(st *mesospb.TaskStatus, proc *containerizer.Process) {
	if proc == nil {
		return
	}
	infos := proc.NetworkInfos()
	if len(infos) == 0 {
		return
	}
	if st.ContainerStatus == nil {
		st.ContainerStatus = &mesospb.ContainerStatus{}
	}
	st.ContainerStatus.NetworkInfos = infos
}

// containerIPs are the addresses of a container on CNI networks.
func containerIPs(proc *containerizer.Process) []netip.Addr {
	if proc == nil {
		return nil
	}
	var out []netip.Addr
	for _, ni := range proc.NetworkInfos() {
		for _, ip := range ni.GetIpAddresses() {
			if addr, err := netip.ParseAddr(ip.GetIpAddress()); err == nil {
				out = append(out, addr)
			}
		}
	}
	return out
}

// dialContainer connects to a port of a container with a network of its
// own, from inside its namespace: on its CNI addresses first (a server
// may listen only there), then on loopback (or only there).
func dialContainer(ctx context.Context, pid int, ips []netip.Addr, network, addr string) (net.Conn, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, ip := range slices.Concat(ips, []netip.Addr{netip.MustParseAddr("127.0.0.1")}) {
		c, err := dialInNetns(ctx, pid, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}
