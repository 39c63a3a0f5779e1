package pets

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/dns"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// launch records a new task for p, running revision rev of its set, and
// returns its TaskInfo.
func (f *Framework) launch(p *Pet, rev int, o *mesospb.Offer, res resources.Resources, now time.Time) *mesospb.TaskInfo {
	s := f.sets[p.Set]
	spec := s.specAt(rev)
	p.Incarnation++
	p.TaskID = taskID(p.Name, p.Incarnation)
	p.State, p.Revision, p.Ready, p.Healthy, p.Killing, p.InDoubt = "", rev, false, nil, "", ""
	p.Restart, p.Message, p.LaunchedAt, p.ReadyAt = false, "", now, time.Time{}
	f.byTask[p.TaskID] = p.Name
	delete(f.waiting, p.Name)
	f.markPet(p)
	f.log.Info("launching pet", "pet", p.Name, "task", p.TaskID, "agent", p.Placement.Hostname, "revision", rev)

	ti := sdk.CommandTask(p.Name, p.TaskID, o, spec.Cmd, res)
	if len(spec.Args) > 0 {
		ti.Command = &mesospb.CommandInfo{Shell: proto.Bool(false), Value: proto.String(spec.Args[0]), Arguments: spec.Args}
	}
	env := f.environment(p, spec, rev)
	ti.Command.Environment = &mesospb.Environment{}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		ti.Command.Environment.Variables = append(ti.Command.Environment.Variables,
			&mesospb.Environment_Variable{Name: proto.String(k), Value: proto.String(env[k])})
	}
	// The pet's name is its hostname (honoured under linux isolation,
	// which gives every task its own UTS namespace).
	ti.Container = &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(), Hostname: proto.String(p.Name)}
	if spec.Network != "" {
		ti.Container.NetworkInfos = []*mesospb.NetworkInfo{petNetwork(spec.Network, p.Placement.Ports)}
	}
	if spec.Image != "" {
		sdk.WithImage(ti, spec.Image, false)
	}
	// The set and ordinal labels are the framework's: DNS names pets by
	// them, so a set's own labels cannot override them.
	labels := map[string]string{}
	maps.Copy(labels, spec.Labels)
	labels[labelSet], labels[labelOrdinal] = p.Set, strconv.Itoa(p.Ordinal)
	ti.Labels = &mesospb.Labels{}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		ti.Labels.Labels = append(ti.Labels.Labels, &mesospb.Label{Key: proto.String(k), Value: proto.String(labels[k])})
	}
	ti.HealthCheck = agentCheck(spec, p.Placement.Ports)
	if g := spec.KillGracePeriodSeconds; g > 0 {
		ti.KillPolicy = &mesospb.KillPolicy{GracePeriod: &mesospb.DurationInfo{Nanoseconds: proto.Int64(int64(g * 1e9))}}
	}
	return ti
}

// environment is the pet's identity, its ports and its peers' stable
// addresses, then the set's own env (which may not override CORRAL_PET*).
func (f *Framework) environment(p *Pet, spec *PetSet, rev int) map[string]string {
	pl := p.Placement
	env := map[string]string{
		"CORRAL_PET_NAME": p.Name, "CORRAL_PET_ORDINAL": strconv.Itoa(p.Ordinal), "CORRAL_PETSET": p.Set,
		"CORRAL_PET_HOST": pl.Hostname, "CORRAL_PET_REVISION": strconv.Itoa(rev), "HOST": pl.Hostname,
		"CORRAL_PETSET_INSTANCES": strconv.Itoa(f.sets[p.Set].Spec.Instances),
	}
	var ports []string
	for i, port := range pl.Ports {
		ps := strconv.FormatUint(port, 10)
		ports = append(ports, ps)
		env["PORT"+strconv.Itoa(i)] = ps
		if i < len(spec.Ports) && spec.Ports[i] != "" {
			env["PORT_"+envName(spec.Ports[i])] = ps
		}
	}
	if len(ports) > 0 {
		env["PORT"], env["PORTS"] = ports[0], strings.Join(ports, ",")
	}
	var peers, peerPorts []string
	for _, q := range f.petsOf(p.Set) {
		if q == nil || q.Placement == nil || q.Ordinal >= f.sets[p.Set].Spec.Instances {
			continue
		}
		addr := q.Placement.Hostname
		if f.cfg.DNSDomain != "" {
			addr = dns.PetName(q.Set, q.Ordinal, f.cfg.Name, f.cfg.DNSDomain)
		}
		all := addr
		if len(q.Placement.Ports) > 0 {
			addr += ":" + strconv.FormatUint(q.Placement.Ports[0], 10)
		}
		for _, port := range q.Placement.Ports {
			all += ":" + strconv.FormatUint(port, 10)
		}
		peers = append(peers, q.Name+"="+addr)
		peerPorts = append(peerPorts, q.Name+"="+all)
	}
	env["CORRAL_PETSET_PEERS"] = strings.Join(peers, ",")
	if f.cfg.DNSDomain != "" {
		env["CORRAL_PET_DNS_NAME"] = dns.PetName(p.Set, p.Ordinal, f.cfg.Name, f.cfg.DNSDomain)
	}
	env["CORRAL_PETSET_PEER_PORTS"] = strings.Join(peerPorts, ",")
	for k, v := range spec.Env {
		env[k] = v
	}
	return env
}

// agentCheck is the Mesos health check the agent runs: the set's health
// check, or its COMMAND readiness check (which never kills: the agent's
// kill threshold is set out of reach).
func agentCheck(spec *PetSet, ports []uint64) *mesospb.HealthCheck {
	portOf := func(name string, index int) uint32 {
		if i := checkPort(name, index, spec.Ports); i >= 0 && i < len(ports) {
			return uint32(ports[i])
		}
		return 0
	}
	if len(spec.HealthChecks) > 0 {
		h := spec.HealthChecks[0]
		hc := &mesospb.HealthCheck{
			DelaySeconds: proto.Float64(h.DelaySeconds), IntervalSeconds: proto.Float64(h.IntervalSeconds),
			TimeoutSeconds: proto.Float64(h.TimeoutSeconds), GracePeriodSeconds: proto.Float64(h.GracePeriodSeconds),
			ConsecutiveFailures: proto.Uint32(uint32(h.MaxConsecutiveFailures)),
		}
		switch h.Protocol {
		case "COMMAND":
			hc.Type = mesospb.HealthCheck_COMMAND.Enum()
			hc.Command = &mesospb.CommandInfo{Value: proto.String(h.Command), Shell: proto.Bool(true)}
		case "HTTP":
			hc.Type = mesospb.HealthCheck_HTTP.Enum()
			hc.Http = &mesospb.HealthCheck_HTTPCheckInfo{Scheme: proto.String("http"), Port: proto.Uint32(portOf(h.PortName, h.PortIndex)),
				Path: proto.String(cmpString(h.Path, "/"))}
		case "TCP":
			hc.Type = mesospb.HealthCheck_TCP.Enum()
			hc.Tcp = &mesospb.HealthCheck_TCPCheckInfo{Port: proto.Uint32(portOf(h.PortName, h.PortIndex))}
		}
		return hc
	}
	for _, rc := range spec.ReadinessChecks {
		if rc.Protocol == "COMMAND" {
			return &mesospb.HealthCheck{
				Type: mesospb.HealthCheck_COMMAND.Enum(),
				// Mesos' delay defaults to 15 s; readiness should be seen at once.
				DelaySeconds:    proto.Float64(0),
				Command:         &mesospb.CommandInfo{Value: proto.String(rc.Command), Shell: proto.Bool(true)},
				IntervalSeconds: proto.Float64(rc.IntervalSeconds), TimeoutSeconds: proto.Float64(rc.TimeoutSeconds),
				GracePeriodSeconds: proto.Float64(1 << 30), ConsecutiveFailures: proto.Uint32(1 << 30),
			}
		}
	}
	return nil
}

func cmpString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// describePorts formats a pet's ports with their names.
func describePorts(spec *PetSet, ports []uint64) map[string]uint64 {
	out := map[string]uint64{}
	for i, p := range ports {
		name := fmt.Sprintf("port%d", i)
		if i < len(spec.Ports) && spec.Ports[i] != "" {
			name = spec.Ports[i]
		}
		out[name] = p
	}
	return out
}

// sortedKeys returns m's keys in order, for answers and plans that read
// the same from one run to the next.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
