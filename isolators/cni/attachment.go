package cni

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
)

// Attachment is what Attach made for one container. It is also the
// container's record on disk: written before the first ADD (so that a
// crash half way still leads to DEL of everything asked for) and again
// once the plugins have answered.
type Attachment struct {
	ContainerID string    `json:"containerId"`
	NetNS       string    `json:"netns"` // the bind-mounted namespace the container joins
	Hostname    string    `json:"hostname,omitempty"`
	Networks    []Network `json:"networks"`
	// ResolvConf and Hosts are files to bind at /etc/resolv.conf and
	// /etc/hosts in the container; "" when there is none.
	ResolvConf string `json:"resolvConf,omitempty"`
	Hosts      string `json:"hosts,omitempty"`
}

// Network is one network a container is attached to.
type Network struct {
	Name         string        `json:"name"`
	IfName       string        `json:"ifName"` // eth0 for the first network, eth1 for the second, ...
	PortMappings []PortMapping `json:"portMappings,omitempty"`
	IPs          []netip.Addr  `json:"ips,omitempty"`
}

// PortMapping forwards a host port to a container port. Its JSON is the
// portmap plugin's portMappings runtime capability.
type PortMapping struct {
	HostPort      uint32 `json:"hostPort"`
	ContainerPort uint32 `json:"containerPort"`
	Protocol      string `json:"protocol"` // tcp or udp
}

// IPs returns every address of the container, in network order.
func (a *Attachment) IPs() []netip.Addr {
	var out []netip.Addr
	for _, n := range a.Networks {
		out = append(out, n.IPs...)
	}
	return out
}

// NetworkInfos is the container's networks as Mesos reports them in
// TaskStatus.container_status.network_infos: name, ip_addresses and
// port_mappings.
func (a *Attachment) NetworkInfos() []*mesospb.NetworkInfo {
	out := make([]*mesospb.NetworkInfo, 0, len(a.Networks))
	for _, n := range a.Networks {
		ni := &mesospb.NetworkInfo{Name: proto.String(n.Name)}
		for _, ip := range n.IPs {
			p := mesospb.NetworkInfo_IPv4
			if ip.Is6() {
				p = mesospb.NetworkInfo_IPv6
			}
			ni.IpAddresses = append(ni.IpAddresses, &mesospb.NetworkInfo_IPAddress{Protocol: p.Enum(), IpAddress: proto.String(ip.String())})
		}
		for _, pm := range n.PortMappings {
			ni.PortMappings = append(ni.PortMappings, &mesospb.NetworkInfo_PortMapping{
				HostPort: proto.Uint32(pm.HostPort), ContainerPort: proto.Uint32(pm.ContainerPort), Protocol: proto.String(pm.Protocol)})
		}
		out = append(out, ni)
	}
	return out
}

// clone returns a deep copy, so callers cannot change the manager's view.
func (a *Attachment) clone() *Attachment {
	c := *a
	c.Networks = make([]Network, len(a.Networks))
	for i, n := range a.Networks {
		n.PortMappings = append([]PortMapping(nil), n.PortMappings...)
		n.IPs = append([]netip.Addr(nil), n.IPs...)
		c.Networks[i] = n
	}
	return &c
}

// writeRecord stores a atomically: a torn record would lose what to DEL.
// It is not synced (see Manager.Finish).
func writeRecord(path string, a *Attachment) error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return fmt.Errorf("cni: encoding the record of %s: %w", a.ContainerID, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("cni: %w", err)
	}
	return writeFileAtomic(path, b, 0o600)
}

// syncFile flushes a file to disk.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cni: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cni: syncing %s: %w", path, err)
	}
	return nil
}

// writeFile replaces the content of a file a container binds, in place:
// a bind mount holds the file, so a rename would not reach it.
func writeFile(path string, b []byte) error {
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("cni: writing %s: %w", path, err)
	}
	return nil
}

func readRecord(path string) (*Attachment, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	a := &Attachment{}
	if err := json.Unmarshal(b, a); err != nil {
		return nil, fmt.Errorf("cni: record %s: %w", path, err)
	}
	return a, nil
}

func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("cni: %w", err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cni: writing %s: %w", path, err)
	}
	return nil
}

// DNS is what a container's resolv.conf says.
type DNS struct {
	Nameservers []string `json:"nameservers,omitempty"`
	Search      []string `json:"search,omitempty"`
	Options     []string `json:"options,omitempty"`
}

func (d DNS) resolvConf() []byte {
	var b strings.Builder
	for _, ns := range d.Nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(d.Search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(d.Search, " "))
	}
	if len(d.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(d.Options, " "))
	}
	return []byte(b.String())
}

// hostsFile names the container by its first address, as Mesos writes
// /etc/hosts for a container on a CNI network.
func hostsFile(hostname string, ips []netip.Addr) []byte {
	var b strings.Builder
	b.WriteString("127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n")
	if hostname != "" && len(ips) > 0 {
		fmt.Fprintf(&b, "%s %s\n", ips[0], hostname)
	}
	return []byte(b.String())
}
