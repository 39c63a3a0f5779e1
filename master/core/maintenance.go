package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/store"
)

// Maintenance, as in Mesos: an operator schedules windows in which
// machines will be unavailable. Scheduled machines are DRAINING: their
// offers carry the unavailability, and frameworks with work there get
// inverse offers, which they accept (they will be off the machine in
// time) or decline; the answers are shown in GET_MAINTENANCE_STATUS.
// START_MAINTENANCE takes machines DOWN: their agents are shut down and
// may not register until STOP_MAINTENANCE brings the machines back UP.

const (
	registryMaintenance = "registry/maintenance-schedule"
	registryDown        = "registry/down-machines"
)

// maintenance is the master's maintenance state.
type maintenance struct {
	schedule *masterpb.Schedule
	// down machines, by machineKey.
	down map[string]*mesospb.MachineID
	// inverse are outstanding inverse offers by ID.
	inverse map[string]*inverseOffer
	// answers are frameworks' last answers per machine.
	answers map[string]map[string]*masterpb.InverseOfferStatus
	next    uint64
}

type inverseOffer struct {
	id, agentID, frameworkID, machine string
}

func newMaintenance() *maintenance {
	return &maintenance{schedule: &masterpb.Schedule{}, down: make(map[string]*mesospb.MachineID),
		inverse: make(map[string]*inverseOffer), answers: make(map[string]map[string]*masterpb.InverseOfferStatus)}
}

// machineKey identifies a machine by hostname (case-insensitive), or by
// IP when it has no hostname.
func machineKey(id *mesospb.MachineID) string {
	if h := id.GetHostname(); h != "" {
		return "host:" + strings.ToLower(h)
	}
	return "ip:" + id.GetIp()
}

// machineOf is the MachineID of an agent.
func machineOf(a *agentState) *mesospb.MachineID {
	id := &mesospb.MachineID{Hostname: proto.String(a.info.GetHostname())}
	if a.conn != nil && a.conn.ip != "" {
		id.Ip = proto.String(a.conn.ip)
	}
	return id
}

// window returns the scheduled unavailability of an agent's machine.
func (mt *maintenance) window(a *agentState) *mesospb.Unavailability {
	key := machineKey(machineOf(a))
	for _, w := range mt.schedule.GetWindows() {
		for _, id := range w.GetMachineIds() {
			if machineKey(id) == key || (id.GetHostname() == "" && a.conn != nil && id.GetIp() == a.conn.ip) {
				return w.GetUnavailability()
			}
		}
	}
	return nil
}

// isDown reports whether an agent's machine is down.
func (mt *maintenance) isDown(info *mesospb.AgentInfo) bool {
	return mt.down[machineKey(&mesospb.MachineID{Hostname: proto.String(info.GetHostname())})] != nil
}

func validateMachine(id *mesospb.MachineID) string {
	if id.GetHostname() == "" && id.GetIp() == "" {
		return "a machine needs a hostname or an IP"
	}
	return ""
}

// updateSchedule answers UPDATE_MAINTENANCE_SCHEDULE.
func (m *Core) updateSchedule(s *state, sched *masterpb.Schedule) Result {
	if sched == nil {
		return badRequest("Expecting 'update_maintenance_schedule.schedule' to be present")
	}
	seen := make(map[string]bool)
	for i, w := range sched.GetWindows() {
		if len(w.GetMachineIds()) == 0 {
			return badRequest("Window %d lists no machines", i)
		}
		u := w.GetUnavailability()
		if u.GetStart() == nil {
			return badRequest("Window %d needs 'unavailability.start'", i)
		}
		if u.GetDuration() != nil && u.GetDuration().GetNanoseconds() < 0 {
			return badRequest("Window %d has a negative duration", i)
		}
		for _, id := range w.GetMachineIds() {
			if msg := validateMachine(id); msg != "" {
				return badRequest("Window %d: %s", i, msg)
			}
			if seen[machineKey(id)] {
				return badRequest("Machine %s is in more than one window", machineKey(id))
			}
			seen[machineKey(id)] = true
		}
	}
	for key := range s.maint.down {
		if !seen[key] {
			return badRequest("Machine %s is down: it must stay in the schedule until STOP_MAINTENANCE", key)
		}
	}
	b, err := proto.Marshal(sched)
	if err == nil {
		err = m.registryPut(registryMaintenance, b)
	}
	if err != nil {
		return Result{Code: Unavailable, Msg: "Could not record the schedule: " + err.Error()}
	}
	s.maint.schedule = proto.CloneOf(sched)
	// Answers for machines no longer scheduled are forgotten; their
	// outstanding inverse offers rescinded.
	for key := range s.maint.answers {
		if !seen[key] {
			delete(s.maint.answers, key)
		}
	}
	for id, io := range s.maint.inverse {
		if !seen[io.machine] {
			m.rescindInverseOffer(s, id)
		}
	}
	m.log.Info("maintenance schedule updated", "windows", len(sched.GetWindows()), "machines", len(seen))
	m.sendInverseOffers(s)
	// Offers carry unavailability: make new ones.
	for _, o := range s.offers {
		m.removeOffer(s, o, true)
	}
	s.requestFullRound()
	return Result{}
}

// sendInverseOffers makes sure every framework with tasks or executors on
// a draining agent has an inverse offer for it, unless it answered one.
func (m *Core) sendInverseOffers(s *state) {
	if len(s.maint.schedule.GetWindows()) == 0 {
		return
	}
	for _, id := range sortedKeys(s.agents) {
		a := s.agents[id]
		u := s.maint.window(a)
		if u == nil || a.conn == nil {
			continue
		}
		key := machineKey(machineOf(a))
		frameworks := make(map[string]bool)
		for k := range a.tasks {
			frameworks[k.framework] = true
		}
		for k := range a.executors {
			frameworks[k.framework] = true
		}
		for fwID := range frameworks {
			f := s.frameworks[fwID]
			if f == nil || f.conn == nil || s.maint.answers[key][fwID] != nil || s.maint.hasOutstanding(a.id, fwID) {
				continue
			}
			s.maint.next++
			io := &inverseOffer{id: fmt.Sprintf("%s-IO%d", m.id, s.maint.next), agentID: a.id, frameworkID: fwID, machine: key}
			s.maint.inverse[io.id] = io
			m.sendToFramework(f, &schedulerpb.Event{
				Type: schedulerpb.Event_INVERSE_OFFERS.Enum(),
				InverseOffers: &schedulerpb.Event_InverseOffers{InverseOffers: []*mesospb.InverseOffer{{
					Id:             &mesospb.OfferID{Value: proto.String(io.id)},
					FrameworkId:    &mesospb.FrameworkID{Value: proto.String(fwID)},
					AgentId:        &mesospb.AgentID{Value: proto.String(a.id)},
					Unavailability: proto.CloneOf(u),
				}}},
			})
		}
	}
}

func (mt *maintenance) hasOutstanding(agentID, frameworkID string) bool {
	for _, io := range mt.inverse {
		if io.agentID == agentID && io.frameworkID == frameworkID {
			return true
		}
	}
	return false
}

func (m *Core) rescindInverseOffer(s *state, id string) {
	io := s.maint.inverse[id]
	if io == nil {
		return
	}
	delete(s.maint.inverse, id)
	m.sendToFramework(s.frameworks[io.frameworkID], &schedulerpb.Event{
		Type:                schedulerpb.Event_RESCIND_INVERSE_OFFER.Enum(),
		RescindInverseOffer: &schedulerpb.Event_RescindInverseOffer{InverseOfferId: &mesospb.OfferID{Value: proto.String(id)}},
	})
}

// answerInverseOffers records a framework's ACCEPT_INVERSE_OFFERS or
// DECLINE_INVERSE_OFFERS.
func (m *Core) answerInverseOffers(s *state, f *framework, ids []*mesospb.OfferID, status masterpb.InverseOfferStatus_Status) {
	for _, id := range ids {
		io := s.maint.inverse[id.GetValue()]
		if io == nil || io.frameworkID != f.id {
			continue // rescinded, answered, or not this framework's: as Mesos, ignored
		}
		delete(s.maint.inverse, io.id)
		if s.maint.answers[io.machine] == nil {
			s.maint.answers[io.machine] = make(map[string]*masterpb.InverseOfferStatus)
		}
		s.maint.answers[io.machine][f.id] = &masterpb.InverseOfferStatus{
			Status: status.Enum(), FrameworkId: &mesospb.FrameworkID{Value: proto.String(f.id)}, Timestamp: timeInfo(m.cfg.Now()),
		}
		m.log.Info("inverse offer answered", "framework", f.id, "agent", io.agentID, "status", status.String())
	}
}

// maintenanceStatus answers GET_MAINTENANCE_STATUS.
func (m *Core) maintenanceStatus(s *state) *masterpb.ClusterStatus {
	out := &masterpb.ClusterStatus{}
	for _, w := range s.maint.schedule.GetWindows() {
		for _, id := range w.GetMachineIds() {
			key := machineKey(id)
			if s.maint.down[key] != nil {
				continue
			}
			dm := &masterpb.ClusterStatus_DrainingMachine{Id: proto.CloneOf(id)}
			for _, fw := range sortedKeys(s.maint.answers[key]) {
				dm.Statuses = append(dm.Statuses, proto.CloneOf(s.maint.answers[key][fw]))
			}
			out.DrainingMachines = append(out.DrainingMachines, dm)
		}
	}
	for _, key := range sortedKeys(s.maint.down) {
		out.DownMachines = append(out.DownMachines, proto.CloneOf(s.maint.down[key]))
	}
	return out
}

// scheduled reports whether a machine is in the schedule.
func (mt *maintenance) scheduled(key string) bool {
	for _, w := range mt.schedule.GetWindows() {
		for _, id := range w.GetMachineIds() {
			if machineKey(id) == key {
				return true
			}
		}
	}
	return false
}

// startMaintenance takes scheduled machines down: their agents are shut
// down and their tasks reported gone.
func (m *Core) startMaintenance(s *state, machines []*mesospb.MachineID) Result {
	if len(machines) == 0 {
		return badRequest("Expecting 'start_maintenance.machines' to list machines")
	}
	for _, id := range machines {
		if msg := validateMachine(id); msg != "" {
			return badRequest("%s", msg)
		}
		if !s.maint.scheduled(machineKey(id)) {
			return badRequest("Machine %s is not in the maintenance schedule", machineKey(id))
		}
	}
	down := maps.Clone(s.maint.down)
	for _, id := range machines {
		down[machineKey(id)] = proto.CloneOf(id)
	}
	if err := m.recordDown(down); err != nil {
		return Result{Code: Unavailable, Msg: "Could not record the machines as down: " + err.Error()}
	}
	s.maint.down = down
	for _, id := range sortedKeys(s.agents) {
		a := s.agents[id]
		if down[machineKey(machineOf(a))] == nil {
			continue
		}
		m.log.Warn("machine down for maintenance: shutting its agent down", "agent", a.id, "hostname", a.info.GetHostname())
		m.removeByOperator(s, a, "This machine is down for maintenance", "machine down for maintenance",
			"Agent "+a.info.GetHostname()+" is down for maintenance")
		for ioID, io := range s.maint.inverse {
			if io.agentID == a.id {
				delete(s.maint.inverse, ioID)
			}
		}
		if err := m.registryDelete(registryAgents + "/" + a.id); err != nil {
			m.log.Error("could not clean the registry of an agent down for maintenance", "agent", a.id, "err", err)
		}
		s.touch(a)
		delete(s.agents, a.id)
		m.publishAgentRemoved(s, a.id)
	}
	return Result{}
}

// stopMaintenance brings machines back up and out of the schedule.
func (m *Core) stopMaintenance(s *state, machines []*mesospb.MachineID) Result {
	if len(machines) == 0 {
		return badRequest("Expecting 'stop_maintenance.machines' to list machines")
	}
	for _, id := range machines {
		if s.maint.down[machineKey(id)] == nil {
			return badRequest("Machine %s is not down", machineKey(id))
		}
	}
	down := maps.Clone(s.maint.down)
	up := make(map[string]bool)
	for _, id := range machines {
		delete(down, machineKey(id))
		up[machineKey(id)] = true
	}
	sched := proto.CloneOf(s.maint.schedule)
	var windows []*masterpb.Window
	for _, w := range sched.GetWindows() {
		w.MachineIds = slices.DeleteFunc(w.MachineIds, func(id *mesospb.MachineID) bool { return up[machineKey(id)] })
		if len(w.MachineIds) > 0 {
			windows = append(windows, w)
		}
	}
	sched.Windows = windows
	b, err := proto.Marshal(sched)
	if err == nil {
		err = m.registryPut(registryMaintenance, b)
	}
	if err == nil {
		err = m.recordDown(down)
	}
	if err != nil {
		return Result{Code: Unavailable, Msg: "Could not record the machines as up: " + err.Error()}
	}
	s.maint.schedule, s.maint.down = sched, down
	for key := range up {
		delete(s.maint.answers, key)
	}
	return Result{}
}

func (m *Core) recordDown(down map[string]*mesospb.MachineID) error {
	var list []json.RawMessage
	for _, key := range sortedKeys(down) {
		b, err := codec.JSON.Marshal(down[key])
		if err != nil {
			return err
		}
		list = append(list, b)
	}
	b, err := json.Marshal(list)
	if err != nil {
		return err
	}
	return m.registryPut(registryDown, b)
}

// recoverMaintenance reads the schedule and the down machines back.
func (m *Core) recoverMaintenance(ctx context.Context, s *state) error {
	if e, err := m.cfg.Store.Get(ctx, registryMaintenance); err == nil {
		sched := &masterpb.Schedule{}
		if err := proto.Unmarshal(e.Value, sched); err != nil {
			return fmt.Errorf("master: registry: maintenance schedule: %w", err)
		}
		s.maint.schedule = sched
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("master: registry: %w", err)
	}
	e, err := m.cfg.Store.Get(ctx, registryDown)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("master: registry: %w", err)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(e.Value, &list); err != nil {
		return fmt.Errorf("master: registry: down machines: %w", err)
	}
	for _, raw := range list {
		id := &mesospb.MachineID{}
		if err := codec.JSON.Unmarshal(raw, id); err != nil {
			return fmt.Errorf("master: registry: down machine: %w", err)
		}
		s.maint.down[machineKey(id)] = id
	}
	return nil
}
