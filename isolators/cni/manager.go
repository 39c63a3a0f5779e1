package cni

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	types100 "github.com/containernetworking/cni/pkg/types/100"

	"github.com/corral-sched/corral/internal/netns"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Config says where networks, plugins and state are.
type Config struct {
	// ConfigDir holds the network configurations (.conf, .conflist,
	// .json), one network per name: --network-cni-config-dir.
	ConfigDir string
	// PluginDirs are searched for plugin binaries, in order:
	// --network-cni-plugins-dir (e.g. /usr/lib/cni).
	PluginDirs []string
	// StateDir is the agent's: namespaces, records and libcni's result
	// cache live under it, so DEL works after an agent restart.
	StateDir string
	// DNS, if set, is every container's resolv.conf (e.g. corral dns).
	// Without it a network's plugins may name nameservers; with neither,
	// the container keeps the host's resolv.conf.
	DNS *DNS
	// Exec runs plugins; nil runs them as child processes of the agent.
	Exec invoke.Exec
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Manager attaches containers to CNI networks. It is safe for concurrent
// use by different containers; calls for one container must not overlap.
type Manager struct {
	cfg  Config
	cni  *libcni.CNIConfig
	nets map[string]*libcni.NetworkConfigList
	log  *slog.Logger

	mu       sync.Mutex
	attached map[string]*Attachment // guarded by mu
}

// New loads the network configurations. A broken or duplicate
// configuration is an error: better an agent that does not start than
// containers on a network nobody meant.
func New(cfg Config) (*Manager, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("cni: a state directory is required")
	}
	if len(cfg.PluginDirs) == 0 {
		return nil, errors.New("cni: at least one plugin directory is required")
	}
	nets, err := loadNetworks(cfg.ConfigDir)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"netns", "containers", "cache"} {
		if err := os.MkdirAll(filepath.Join(cfg.StateDir, d), 0o700); err != nil {
			return nil, fmt.Errorf("cni: %w", err)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Manager{
		cfg: cfg, nets: nets, log: cfg.Logger, attached: map[string]*Attachment{},
		cni: libcni.NewCNIConfigWithCacheDir(cfg.PluginDirs, filepath.Join(cfg.StateDir, "cache"), cfg.Exec),
	}, nil
}

// Has reports whether a network of that name is configured.
func (m *Manager) Has(name string) bool { _, ok := m.nets[name]; return ok }

// validID is libcni's rule for container IDs; it also keeps IDs from
// naming paths outside the state directory.
var validID = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`)

func (m *Manager) netnsPath(id string) string { return filepath.Join(m.cfg.StateDir, "netns", id) }
func (m *Manager) dir(id string) string       { return filepath.Join(m.cfg.StateDir, "containers", id) }
func (m *Manager) recordPath(id string) string {
	return filepath.Join(m.dir(id), "network.json")
}

// Attach makes the container's network namespace and attaches it to each
// network named in infos (eth0, eth1, ...). On failure it undoes what it
// did and returns an error naming the network and the plugin's message.
func (m *Manager) Attach(ctx context.Context, id string, infos []*mesospb.NetworkInfo, hostname string) (*Attachment, error) {
	a, err := m.Begin(ctx, id, infos, hostname)
	if err != nil {
		return nil, err
	}
	return m.Finish(ctx, a)
}

// Begin is the first half of Attach, what a container needs before it is
// created: it records the attachment, makes the network namespace and the
// files the container binds at /etc/resolv.conf and /etc/hosts. Finish runs the plugins: the container may be created in
// the namespace meanwhile, as long as its command does not run before
// Finish has returned (the linux launcher holds it at its exec barrier),
// so that attaching overlaps the container's start.
func (m *Manager) Begin(ctx context.Context, id string, infos []*mesospb.NetworkInfo, hostname string) (*Attachment, error) {
	if !validID.MatchString(id) {
		return nil, fmt.Errorf("cni: invalid container ID %q", id)
	}
	if _, err := os.Stat(m.recordPath(id)); err == nil {
		return nil, fmt.Errorf("cni: container %s is already attached", id)
	}
	a := &Attachment{ContainerID: id, NetNS: m.netnsPath(id), Hostname: hostname}
	for i, ni := range infos {
		n, err := m.network(i, ni)
		if err != nil {
			return nil, err
		}
		a.Networks = append(a.Networks, n)
	}
	a.ResolvConf, a.Hosts = filepath.Join(m.dir(id), "resolv.conf"), filepath.Join(m.dir(id), "hosts")
	if err := writeRecord(m.recordPath(id), a); err != nil {
		return nil, err
	}
	if err := netns.Create(a.NetNS); err != nil {
		return nil, m.undo(ctx, id, fmt.Errorf("cni: container %s: %w", id, err))
	}
	// Until the plugins answer: the configured nameservers, else the
	// host's; the container only reads them once Finish has written the
	// final ones in place (a bind mount pins the file, not the name).
	resolv := []byte(nil)
	if m.cfg.DNS != nil {
		resolv = m.cfg.DNS.resolvConf()
	} else {
		resolv, _ = os.ReadFile("/etc/resolv.conf")
	}
	if err := writeFile(a.ResolvConf, resolv); err != nil {
		return nil, m.undo(ctx, id, err)
	}
	if err := writeFile(a.Hosts, hostsFile(hostname, nil)); err != nil {
		return nil, m.undo(ctx, id, err)
	}
	return a.clone(), nil
}

// Finish runs each network's plugins with ADD for an attachment Begin
// made, the networks in parallel (each has an interface of its own), and
// writes what they said into the container's name service files. On
// failure everything is undone.
func (m *Manager) Finish(ctx context.Context, a *Attachment) (*Attachment, error) {
	a = a.clone()
	id := a.ContainerID
	// The record is on disk before any plugin runs, so that a crash from
	// here on still leads to DEL of everything asked for (the host-local
	// IPAM state survives a reboot). Synced here rather than in Begin: off
	// the path of the container's start, which overlaps Finish.
	if err := syncFile(m.recordPath(id)); err != nil {
		return nil, m.undo(ctx, id, err)
	}
	results := make([]*types100.Result, len(a.Networks))
	errs := make([]error, len(a.Networks))
	var wg sync.WaitGroup
	for i := range a.Networks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := &a.Networks[i]
			res, err := m.cni.AddNetworkList(ctx, m.nets[n.Name], m.runtime(a, n))
			if err != nil {
				errs[i] = fmt.Errorf("cni: network %q: attaching container %s: %w", n.Name, id, err)
				return
			}
			if results[i], err = types100.NewResultFromResult(res); err != nil {
				errs[i] = fmt.Errorf("cni: network %q: reading the plugins' result: %w", n.Name, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, m.undo(ctx, id, err)
	}
	dns := m.cfg.DNS
	for i, r := range results {
		a.Networks[i].IPs = resultIPs(r)
		if dns == nil && len(r.DNS.Nameservers) > 0 {
			dns = &DNS{Nameservers: r.DNS.Nameservers, Search: r.DNS.Search, Options: r.DNS.Options}
		}
	}
	if dns != nil && dns != m.cfg.DNS {
		if err := writeFile(a.ResolvConf, dns.resolvConf()); err != nil {
			return nil, m.undo(ctx, id, err)
		}
	}
	if err := writeFile(a.Hosts, hostsFile(a.Hostname, a.IPs())); err != nil {
		return nil, m.undo(ctx, id, err)
	}
	// Not synced: after a machine crash the container and its namespace
	// are gone, and the record written by Begin is enough to DEL.
	if err := writeRecord(m.recordPath(id), a); err != nil {
		return nil, m.undo(ctx, id, err)
	}
	m.mu.Lock()
	m.attached[id] = a
	m.mu.Unlock()
	m.log.Info("container attached to CNI networks", "container", id, "ips", a.IPs())
	return a.clone(), nil
}

// undo detaches what a failed attach made, and returns why it failed.
func (m *Manager) undo(ctx context.Context, id string, cause error) error {
	if err := m.Detach(context.WithoutCancel(ctx), id); err != nil {
		return errors.Join(cause, fmt.Errorf("cni: undoing a failed attach: %w", err))
	}
	return cause
}

// network checks the i-th NetworkInfo against the configuration.
func (m *Manager) network(i int, ni *mesospb.NetworkInfo) (Network, error) {
	name := ni.GetName()
	list, ok := m.nets[name]
	if !ok {
		return Network{}, unknown(name, m.nets)
	}
	n := Network{Name: name, IfName: "eth" + strconv.Itoa(i)}
	for _, pm := range ni.GetPortMappings() {
		proto := strings.ToLower(pm.GetProtocol())
		if proto == "" {
			proto = "tcp"
		}
		n.PortMappings = append(n.PortMappings, PortMapping{HostPort: pm.GetHostPort(), ContainerPort: pm.GetContainerPort(), Protocol: proto})
	}
	if len(n.PortMappings) > 0 && !hasCapability(list, capPortMappings) {
		return Network{}, fmt.Errorf("cni: network %q maps no ports: none of its plugins has the %s capability (add the portmap plugin to its configuration)", name, capPortMappings)
	}
	return n, nil
}

func (m *Manager) runtime(a *Attachment, n *Network) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{ContainerID: a.ContainerID, NetNS: a.NetNS, IfName: n.IfName}
	if len(n.PortMappings) > 0 {
		rt.CapabilityArgs = map[string]any{capPortMappings: n.PortMappings}
	}
	return rt
}

// resultIPs returns the addresses the plugins gave the container's own
// interfaces (not the bridge's or the host's end of a veth).
func resultIPs(r *types100.Result) []netip.Addr {
	var out []netip.Addr
	for _, ip := range r.IPs {
		if ip.Interface != nil {
			i := *ip.Interface
			if i < 0 || i >= len(r.Interfaces) || r.Interfaces[i].Sandbox == "" {
				continue
			}
		}
		if addr, ok := netip.AddrFromSlice(ip.Address.IP); ok {
			out = append(out, addr.Unmap())
		}
	}
	return out
}

// Attachment returns what is attached for a container, if anything.
func (m *Manager) Attachment(id string) (*Attachment, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.attached[id]
	if !ok {
		return nil, false
	}
	return a.clone(), true
}
