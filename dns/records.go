package dns

import (
	"cmp"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/corral-sched/corral/proto/mesospb"
)

// Labels the pets framework puts on a pet's task: its set and ordinal.
const (
	petSetLabel     = "corral.pets.set"
	petOrdinalLabel = "corral.pets.ordinal"
)

// table is one immutable generation of records. Names are lower-case
// FQDNs with the trailing dot; every name between a record and the
// domain exists too (empty), so that such a name answers NODATA rather
// than NXDOMAIN, which resolvers take to mean nothing lies below it.
type table struct {
	domain string // e.g. "corral."
	serial uint32
	names  map[string]*rrset
}

type rrset struct {
	addrs []netip.Addr // A (IPv4) and AAAA (IPv6)
	srvs  []srv
}

type srv struct {
	target string
	port   uint16
}

// build makes the records of c's running tasks under domain (an FQDN).
func build(c *cluster, domain string, serial uint32) *table {
	t := &table{domain: domain, serial: serial, names: map[string]*rrset{domain: {}}}
	keys := slices.SortedFunc(maps.Keys(c.tasks), func(a, b taskKey) int {
		return cmp.Or(cmp.Compare(a.framework, b.framework), cmp.Compare(a.id, b.id))
	})
	for _, k := range keys {
		tk := c.tasks[k]
		fw := dotted(c.frameworks[k.framework])
		name := label(tk.name)
		if tk.state != mesospb.TaskState_TASK_RUNNING || fw == "" || name == "" {
			continue
		}
		host, onHost := c.agents[tk.agent]
		ips := tk.ips
		if len(ips) == 0 && onHost {
			ips = []netip.Addr{host}
		}
		base := name + "." + fw + "." + domain
		agentName := name + "." + fw + ".agent." + domain
		t.addr(base, ips...)
		var diPorts []*portName
		for _, p := range tk.discovery.GetPorts().GetPorts() {
			if p.GetNumber() == 0 || p.GetNumber() > 65535 {
				continue
			}
			for _, proto := range protocols(p.GetProtocol()) {
				diPorts = append(diPorts, &portName{proto: proto, port: uint16(p.GetNumber()), name: label(p.GetName())})
			}
		}
		if onHost {
			t.addr(agentName, host)
			for _, p := range tk.hostPorts {
				for _, proto := range []string{"tcp", "udp"} {
					t.srv("_"+name+"._"+proto+"."+fw+".agent."+domain, agentName, uint16(p))
					if len(diPorts) == 0 {
						t.srv("_"+name+"._"+proto+"."+fw+"."+domain, agentName, uint16(p))
					}
				}
			}
		}
		for _, p := range diPorts {
			t.srv("_"+name+"._"+p.proto+"."+fw+"."+domain, base, p.port)
			if p.name != "" {
				t.srv("_"+p.name+"._"+name+"._"+p.proto+"."+fw+"."+domain, base, p.port)
			}
		}
		if set, ord := tk.labels[petSetLabel], tk.labels[petOrdinalLabel]; label(set) != "" {
			if n, err := strconv.Atoi(ord); err == nil && n >= 0 {
				t.addr(PetName(set, n, fw, domain)+".", ips...)
			}
		}
	}
	if host, port, err := net.SplitHostPort(c.leader); err == nil {
		if ip, err := netip.ParseAddr(host); err == nil {
			t.addr("leader."+domain, ip.Unmap())
			if p, err := strconv.ParseUint(port, 10, 16); err == nil {
				t.srv("_leader._tcp."+domain, "leader."+domain, uint16(p))
			}
		}
	}
	return t
}

type portName struct {
	proto, name string
	port        uint16
}

// protocols is a discovery port's protocol; none means both, as
// Mesos-DNS reads it.
func protocols(p string) []string {
	switch strings.ToLower(p) {
	case "tcp":
		return []string{"tcp"}
	case "udp":
		return []string{"udp"}
	}
	return []string{"tcp", "udp"}
}

// maxName is the longest name in presentation form, with its final dot.
const maxName = 254

func (t *table) set(name string) *rrset {
	rs, ok := t.names[name]
	if !ok {
		rs = &rrset{}
		t.names[name] = rs
		// Every name between it and the domain exists.
		for n := name; n != t.domain; {
			_, rest, found := strings.Cut(n, ".")
			if !found || rest == "" {
				break
			}
			if _, ok := t.names[rest]; ok {
				break
			}
			t.names[rest] = &rrset{}
			n = rest
		}
	}
	return rs
}

func (t *table) addr(name string, ips ...netip.Addr) {
	if len(name) > maxName || len(ips) == 0 {
		return
	}
	rs := t.set(name)
	for _, ip := range ips {
		if !slices.Contains(rs.addrs, ip) {
			rs.addrs = append(rs.addrs, ip)
		}
	}
}

func (t *table) srv(name, target string, port uint16) {
	if len(name) > maxName || len(target) > maxName {
		return
	}
	rs := t.set(name)
	s := srv{target: target, port: port}
	if !slices.Contains(rs.srvs, s) {
		rs.srvs = append(rs.srvs, s)
	}
}
