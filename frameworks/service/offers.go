package service

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/kit"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// offers shares the round's offers out among the waiting apps, longest
// waiting app first, each instance on the offer its constraints or its
// spread prefer among all of them; it records why each app could not
// use each offer, writes the launches down, then launches. Offers it
// cannot use are declined.
func (f *Framework) offers(ctx context.Context, offers []*mesospb.Offer) error {
	f.mu.Lock()
	now := f.cfg.Now()
	f.seen.Forget(now.Add(-f.cfg.SpreadMemory))
	hand := make([]handOffer, len(offers))
	inHand := make(map[string]bool, len(offers)) // agent ID and role
	for i, o := range offers {
		agent := o.GetAgentId().GetValue()
		if o.Unavailability != nil {
			f.draining[agent] = true
		} else {
			delete(f.draining, agent) // maintenance over, or unscheduled
		}
		f.seen.Observe(o, now)
		// Apps use unreserved resources only (acceptedResourceRoles "*").
		usable := proto.CloneOf(o)
		usable.Resources = resources.Resources(o.GetResources()).Unreserved()
		hand[i] = handOffer{offer: o, space: sdk.NewSpace(usable), cand: sdk.PlacementOf(o), role: o.GetAllocationInfo().GetRole()}
		inHand[agent+" "+o.GetAllocationInfo().GetRole()] = true
	}
	launches := make([][]*mesospb.TaskInfo, len(offers))
	waiting := f.waitingApps()
	for _, as := range waiting {
		f.placeApp(as, hand, inHand, launches, now)
	}
	stillWaiting := slices.ContainsFunc(waiting, func(as *appState) bool { return as.wanted > 0 })
	f.inFlight.Add(launches...)
	defer f.inFlight.Done(launches...)
	f.mu.Unlock()

	launches = kit.RecordLaunches(ctx, f.durable, f.log, launches, f.forget)
	// A call that fails (the master failing over, a lossy link) must not
	// end the subscription: an error from the handler ends it for good.
	// The launches are written down, so reconciliation says what became
	// of them, a second from now (the master may yet be handling the
	// call); an offer not declined comes back when it times out.
	var declined []*mesospb.OfferID
	var used []int
	for i, o := range offers {
		if len(launches[i]) == 0 {
			declined = append(declined, o.GetId())
		} else {
			used = append(used, i)
		}
	}
	// Each offer's launch is a call of its own, and the master passes
	// each on to its agent as it comes: sent together, every agent starts
	// at once, and updates wait behind them (on this goroutine) the
	// shortest time.
	kit.Parallel(used, 8, func(i int) {
		if err := f.sched.Launch(ctx, offers[i], 1, launches[i]...); err != nil {
			f.log.Warn("launch not sent; reconciliation tells what became of it", "tasks", len(launches[i]), "err", err)
			f.recon.Ask(f.cfg.Now().Add(time.Second), sdk.ReconcileLaunched(launches[i]...)...)
		}
	})
	if len(declined) > 0 {
		refuse := 60.0
		if stillWaiting {
			refuse = 1
		}
		if err := f.sched.Decline(ctx, declined, refuse); err != nil {
			f.log.Warn("decline not sent; the offers come back when they time out", "offers", len(declined), "err", err)
		}
		if !stillWaiting {
			// An app changed while these were declined may have revived
			// before the decline's filter reached the master: ask again
			// after it, or the filter would hold for a minute. (The next
			// tick decides; this only forces the call.)
			f.mu.Lock()
			f.resync = true
			f.mu.Unlock()
			f.loop.Poke()
		}
	}
	return nil
}

// waitingApps lists apps with instances to launch, longest waiting first.
func (f *Framework) waitingApps() []*appState {
	var out []*appState
	for _, as := range f.apps {
		if as.wanted > 0 {
			out = append(out, as)
		}
	}
	slices.SortFunc(out, func(a, b *appState) int {
		return cmp.Or(a.Since.Compare(b.Since), strings.Compare(a.Spec.ID, b.Spec.ID))
	})
	return out
}

// placements lists where an app's live instances run, for constraints.
func (f *Framework) placements(appID string) []sdk.Placement {
	var out []sdk.Placement
	for _, in := range f.instances {
		if in.AppID == appID && !in.killing() && !in.Replaced {
			out = append(out, in.placement())
		}
	}
	return out
}

// hostPorts is the ports to ask for: the declared port with requirePorts
// (or a mapping's fixed hostPort), else any.
func (a *App) hostPorts() []uint64 {
	decls := a.hostPortDecls()
	out := make([]uint64, len(decls))
	for i, d := range decls {
		out[i] = uint64(d.fixed)
	}
	return out
}

// launchRecord creates the instance and its TaskInfo.
func (f *Framework) launchRecord(as *appState, o *mesospb.Offer, res resources.Resources, ports []uint64, now time.Time) *mesospb.TaskInfo {
	app := as.Spec
	in := &Instance{
		ID: taskIDFor(app.ID), AppID: app.ID, Version: app.Version, Runtime: as.Runtime,
		AgentID: o.GetAgentId().GetValue(), Host: o.GetHostname(), IP: o.GetUrl().GetAddress().GetIp(),
		State: "TASK_STAGING", StagedAt: now, Attributes: sdk.PlacementOf(o).Attributes,
	}
	for _, p := range ports {
		in.Ports = append(in.Ports, int(p))
	}
	f.instances[in.ID] = in
	f.instanceRecords.Mark(in.ID)
	return f.taskInfo(app, in, o, res)
}

// forget undoes a launch that was never sent.
func (f *Framework) forget(taskID string) {
	in := f.instances[taskID]
	if in == nil {
		return
	}
	delete(f.instances, taskID)
	f.instanceRecords.Remove(taskID)
}

// taskInfo builds what the agent runs: Marathon's environment, labels,
// ports, the health check and the fetcher's URIs.
func (f *Framework) taskInfo(app *App, in *Instance, o *mesospb.Offer, res resources.Resources) *mesospb.TaskInfo {
	name := strings.ReplaceAll(strings.TrimPrefix(app.ID, "/"), "/", ".")
	ti := sdk.CommandTask(name, in.ID, o, app.Cmd, res)
	if len(app.Args) > 0 {
		ti.Command = &mesospb.CommandInfo{Shell: proto.Bool(false), Value: proto.String(app.Args[0]), Arguments: app.Args}
	}
	vars := map[string]string{
		"MARATHON_APP_ID": app.ID, "MARATHON_APP_VERSION": app.Version, "MESOS_TASK_ID": in.ID,
		"CORRAL_APP_ID": app.ID, "HOST": in.Host, "MARATHON_APP_RESOURCE_CPUS": strconv.FormatFloat(app.CPUs, 'f', -1, 64),
		"MARATHON_APP_RESOURCE_MEM":  strconv.FormatFloat(app.Mem, 'f', -1, 64),
		"MARATHON_APP_RESOURCE_DISK": strconv.FormatFloat(app.Disk, 'f', -1, 64),
	}
	var labelNames []string
	for _, k := range slices.Sorted(maps.Keys(app.Labels)) {
		env := envName(k)
		vars["MARATHON_APP_LABEL_"+env] = app.Labels[k]
		labelNames = append(labelNames, env)
	}
	vars["MARATHON_APP_LABELS"] = strings.Join(labelNames, " ")
	var portStrs []string
	decls := app.hostPortDecls()
	for i, p := range in.Ports {
		ps := strconv.Itoa(p)
		portStrs = append(portStrs, ps)
		vars["PORT"+strconv.Itoa(i)] = ps
		if i >= len(decls) {
			continue
		}
		def := decls[i]
		if def.name != "" {
			vars["PORT_"+envName(def.name)] = ps
		}
		if def.port != 0 {
			vars["PORT_"+strconv.Itoa(def.port)] = ps
		}
	}
	if len(in.Ports) > 0 {
		vars["PORT"] = portStrs[0]
		vars["PORTS"] = strings.Join(portStrs, ",")
	}
	maps.Copy(vars, app.Env) // the app's own env wins
	env := &mesospb.Environment{}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env.Variables = append(env.Variables, &mesospb.Environment_Variable{Name: proto.String(k), Value: proto.String(vars[k])})
	}
	ti.Command.Environment = env
	if len(app.Labels) > 0 {
		ti.Labels = &mesospb.Labels{}
		for _, k := range slices.Sorted(maps.Keys(app.Labels)) {
			ti.Labels.Labels = append(ti.Labels.Labels, &mesospb.Label{Key: proto.String(k), Value: proto.String(app.Labels[k])})
		}
	}
	for _, fe := range app.Fetch {
		u := &mesospb.CommandInfo_URI{Value: proto.String(fe.URI), Executable: proto.Bool(fe.Executable), Cache: proto.Bool(fe.Cache)}
		if fe.Extract != nil {
			u.Extract = proto.Bool(*fe.Extract)
		}
		if fe.OutputFile != "" {
			u.OutputFile = proto.String(fe.OutputFile)
		}
		ti.Command.Uris = append(ti.Command.Uris, u)
	}
	for _, uri := range app.URIs {
		ti.Command.Uris = append(ti.Command.Uris, &mesospb.CommandInfo_URI{Value: proto.String(uri)})
	}
	if len(app.HealthChecks) > 0 {
		ti.HealthCheck = healthCheck(app.HealthChecks[0], app.checkPorts(in.Ports))
	}
	if g := app.TaskKillGracePeriod; g != nil {
		ti.KillPolicy = &mesospb.KillPolicy{GracePeriod: &mesospb.DurationInfo{Nanoseconds: proto.Int64(int64(*g * 1e9))}}
	}
	if app.Container != nil && len(app.Container.Volumes) > 0 {
		ci := &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum()}
		for _, v := range app.Container.Volumes {
			if v.HostPath == "" {
				continue
			}
			mode := mesospb.Volume_RW
			if v.Mode == "RO" {
				mode = mesospb.Volume_RO
			}
			ci.Volumes = append(ci.Volumes, &mesospb.Volume{ContainerPath: proto.String(v.ContainerPath), HostPath: proto.String(v.HostPath), Mode: mode.Enum()})
		}
		ti.Container = ci
	}
	if infos := app.networkInfos(f.cfg.BridgeNetwork, in.Ports); len(infos) > 0 {
		if ti.Container == nil {
			ti.Container = &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum()}
		}
		ti.Container.NetworkInfos = infos
	}
	if app.image() != "" {
		applyImage(ti, app)
	}
	return ti
}

// healthCheck maps an app's health check onto the agent's. The agent
// reports results but never kills on its own: the framework decides, so
// that it can rate-limit kills (see healthKills).
func healthCheck(h HealthCheck, ports []int) *mesospb.HealthCheck {
	hc := &mesospb.HealthCheck{
		DelaySeconds:        proto.Float64(*h.DelaySeconds),
		IntervalSeconds:     proto.Float64(*h.IntervalSeconds),
		TimeoutSeconds:      proto.Float64(*h.TimeoutSeconds),
		GracePeriodSeconds:  proto.Float64(*h.GracePeriodSeconds),
		ConsecutiveFailures: proto.Uint32(1 << 30),
	}
	port := uint32(h.Port)
	if port == 0 && h.PortIndex != nil && *h.PortIndex < len(ports) {
		port = uint32(ports[*h.PortIndex])
	}
	switch h.Protocol {
	case "MESOS_HTTP", "MESOS_HTTPS":
		hc.Type = mesospb.HealthCheck_HTTP.Enum()
		scheme := "http"
		if h.Protocol == "MESOS_HTTPS" {
			scheme = "https"
		}
		hc.Http = &mesospb.HealthCheck_HTTPCheckInfo{Scheme: proto.String(scheme), Port: proto.Uint32(port), Path: proto.String(cmp.Or(h.Path, "/"))}
	case "MESOS_TCP":
		hc.Type = mesospb.HealthCheck_TCP.Enum()
		hc.Tcp = &mesospb.HealthCheck_TCPCheckInfo{Port: proto.Uint32(port)}
	case "COMMAND":
		hc.Type = mesospb.HealthCheck_COMMAND.Enum()
		hc.Command = &mesospb.CommandInfo{Value: proto.String(h.Command.Value), Shell: proto.Bool(true)}
	}
	return hc
}

// envName turns a label or port name into an environment variable name
// as Marathon does: upper case, anything else an underscore.
func envName(s string) string {
	b := []byte(strings.ToUpper(s))
	for i, c := range b {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			b[i] = '_'
		}
	}
	return string(b)
}
