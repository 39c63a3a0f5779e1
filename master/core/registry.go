package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
	"github.com/corral-sched/corral/store"
)

// The registry is what a new leader must know that agents and frameworks
// will not tell it: which agents were admitted, which frameworks exist and
// until when a disconnected one may come back, and which were removed for
// good. It lives in the Store; a change is written there before it is
// acknowledged.
const (
	registryAgents     = "registry/agents"
	registryFrameworks = "registry/frameworks"
	registryRemoved    = "registry/removed-frameworks"
	// Agents that missed their pings, and agents an operator marked gone.
	registryUnreachable = "registry/unreachable-agents"
	registryGone        = "registry/gone-agents"
	registryTimeout     = 10 * time.Second
)

type registeredFramework struct {
	Info []byte `json:"info"` // FrameworkInfo, protobuf
	// FailoverDeadline is when a disconnected framework is torn down; zero
	// while it is connected.
	FailoverDeadline time.Time `json:"failover_deadline,omitzero"`
}

// registryPut and registryDelete write whatever is there: this master's
// state is the truth while it leads, and the fence Run puts on the Store
// (see takeFence) makes every write fail with store.ErrFenced, and the
// master stop, once another master has taken over.
func (m *Core) registryPut(key string, value []byte) error {
	if m.cfg.Store == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), registryTimeout)
	defer cancel()
	if _, err := m.cfg.Store.Put(ctx, key, value, store.AnyVersion); err != nil {
		return fmt.Errorf("master: registry: writing %s: %w", key, err)
	}
	return nil
}

func (m *Core) registryDelete(key string) error {
	if m.cfg.Store == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), registryTimeout)
	defer cancel()
	if err := m.cfg.Store.Delete(ctx, key, store.AnyVersion); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("master: registry: deleting %s: %w", key, err)
	}
	return nil
}

// recordFramework writes a framework and its failover deadline.
func (m *Core) recordFramework(f *framework, deadline time.Time) error {
	info, err := proto.Marshal(f.info)
	if err != nil {
		return fmt.Errorf("master: registry: encoding framework: %w", err)
	}
	b, err := json.Marshal(registeredFramework{Info: info, FailoverDeadline: deadline})
	if err != nil {
		return fmt.Errorf("master: registry: encoding framework: %w", err)
	}
	return m.registryPut(registryFrameworks+"/"+f.id, b)
}

// removal is a framework removed for good, and when.
type removal struct {
	id string
	at time.Time
}

// forgetFramework records that a framework was removed for good, and
// prunes the oldest removals beyond MaxCompletedFrameworks, in memory and
// in the registry: one entry per short-lived framework would otherwise
// pile up for ever, and a new leader reads them all before it serves.
func (m *Core) forgetFramework(s *state, id string) error {
	at := m.cfg.Now()
	if n := len(s.removedOrder); n > 0 && !at.After(s.removedOrder[n-1].at) {
		// Removals in one clock tick still get distinct, ordered times,
		// so that the next leader prunes the same ones this one would.
		at = s.removedOrder[n-1].at.Add(time.Nanosecond)
	}
	s.removed[id] = true
	s.removedOrder = append(s.removedOrder, removal{id: id, at: at})
	err := m.registryPut(registryRemoved+"/"+id, []byte(at.UTC().Format(time.RFC3339Nano)))
	if err == nil {
		err = m.registryDelete(registryFrameworks + "/" + id)
	}
	m.pruneRemoved(s)
	return err
}

// pruneRemoved forgets the oldest removals beyond MaxCompletedFrameworks,
// with one registry write where the Store batches. A failed delete only
// leaves entries for the next leader to prune; the IDs stay refused (see
// refusedFrameworkID).
func (m *Core) pruneRemoved(s *state) {
	excess := len(s.removedOrder) - m.cfg.MaxCompletedFrameworks
	if excess <= 0 {
		return
	}
	ops := make([]store.Op, 0, excess)
	for _, r := range s.removedOrder[:excess] {
		delete(s.removed, r.id)
		ops = append(ops, store.Op{Key: registryRemoved + "/" + r.id, Delete: true})
	}
	s.removedOrder = slices.Delete(s.removedOrder, 0, excess)
	if err := m.registryApply(ops); err != nil {
		m.log.Warn("could not prune removed frameworks from the registry", "frameworks", excess, "err", err)
	}
}

// refusedFrameworkID says why a framework ID may not subscribe, or "" if it
// may.
func (m *Core) refusedFrameworkID(s *state, id string) string {
	if id == "" {
		return ""
	}
	if s.removed[id] {
		return "Framework has been removed"
	}
	// The registry holds every framework this cluster admitted and did
	// not remove, but only the newest removals: an ID in neither was
	// removed longer ago, or was never issued here. Mesos lets unknown IDs
	// back in because its registry does not track frameworks; corral's
	// does, so it refuses them rather than revive a removed framework.
	if m.cfg.Store != nil && s.frameworks[id] == nil {
		return fmt.Sprintf("Framework %s is not known to this master: it was removed, or was never registered with "+
			"this cluster; subscribe without an ID to register anew", id)
	}
	return ""
}

// recoverRemoved loads the newest MaxCompletedFrameworks removals and
// prunes the rest, which a master with a larger bound (or none, before
// there was one) may have left.
func (m *Core) recoverRemoved(ctx context.Context, s *state) (int, error) {
	entries, err := m.cfg.Store.List(ctx, registryRemoved)
	if err != nil {
		return 0, fmt.Errorf("master: registry: %w", err)
	}
	order := make([]removal, 0, len(entries))
	for _, e := range entries {
		r := removal{id: lastComponent(e.Key)}
		if r.at, err = time.Parse(time.RFC3339Nano, string(e.Value)); err != nil {
			// Unreadable: treat it as the oldest, the first to go.
			m.log.Warn("removed framework with an unreadable time in the registry", "framework", r.id, "err", err)
		}
		order = append(order, r)
	}
	slices.SortFunc(order, func(a, b removal) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	s.removedOrder = order
	for _, r := range order {
		s.removed[r.id] = true
	}
	m.pruneRemoved(s)
	return len(entries), nil
}

// recover loads the registry into s before the master serves anything.
// Agents come back as disconnected: they have AgentReregisterTimeout to
// re-register before they are unreachable. Frameworks come back
// disconnected with their failover deadlines.
func (m *Core) recover(ctx context.Context, s *state) error {
	if m.cfg.Store == nil {
		return nil
	}
	now := m.cfg.Now()
	removed, err := m.recoverRemoved(ctx, s)
	if err != nil {
		return err
	}
	gone, err := m.cfg.Store.List(ctx, registryGone)
	if err != nil {
		return fmt.Errorf("master: registry: %w", err)
	}
	for _, e := range gone {
		s.gone[lastComponent(e.Key)] = true
	}
	unreachable, err := m.cfg.Store.List(ctx, registryUnreachable)
	if err != nil {
		return fmt.Errorf("master: registry: %w", err)
	}
	isUnreachable := make(map[string]bool, len(unreachable))
	for _, e := range unreachable {
		isUnreachable[lastComponent(e.Key)] = true
	}
	if err := m.recoverMaintenance(ctx, s); err != nil {
		return err
	}
	if err := m.recoverRoles(ctx, s); err != nil {
		return err
	}
	agents, err := m.cfg.Store.List(ctx, registryAgents)
	if err != nil {
		return fmt.Errorf("master: registry: %w", err)
	}
	for _, e := range agents {
		info := &mesospb.AgentInfo{}
		if err := proto.Unmarshal(e.Value, info); err != nil {
			return fmt.Errorf("master: registry: agent %s: %w", e.Key, err)
		}
		a := &agentState{
			id: info.GetId().GetValue(), info: info, health: agentDisconnected, lastSeen: m.cfg.AgentClock(),
			reregisterBy: now.Add(m.cfg.AgentReregisterTimeout),
			tasks:        make(map[taskKey]*task), offers: make(map[string]*offer),
		}
		if isUnreachable[a.id] {
			// Its tasks were reported already; it may still come back.
			a.health, a.reregisterBy = agentUnreachable, time.Time{}
		}
		s.agents[a.id] = a
		s.setTotal(a, resources.Resources(info.GetResources()).Clone())
	}
	frameworks, err := m.cfg.Store.List(ctx, registryFrameworks)
	if err != nil {
		return fmt.Errorf("master: registry: %w", err)
	}
	for _, e := range frameworks {
		var rf registeredFramework
		info := &mesospb.FrameworkInfo{}
		if err := json.Unmarshal(e.Value, &rf); err != nil {
			return fmt.Errorf("master: registry: framework %s: %w", e.Key, err)
		}
		if err := proto.Unmarshal(rf.Info, info); err != nil {
			return fmt.Errorf("master: registry: framework %s: %w", e.Key, err)
		}
		roles, _ := frameworkRoles(info)
		f := &framework{
			id: info.GetId().GetValue(), info: info, roles: roles, caps: capabilitiesOf(info),
			suppressed: make(map[string]bool), offers: make(map[string]*offer),
			tasks: make(map[string]*task), allocated: make(map[string]resources.Resources),
			disconnectedAt: now,
		}
		s.frameworks[f.id] = f
		m.startFailoverTimer(s, f, m.recoveredFailover(info, rf.FailoverDeadline, now))
	}
	m.log.Info("registry recovered", "agents", len(agents), "unreachable", len(unreachable), "gone", len(gone),
		"frameworks", len(frameworks), "removed", removed, "removed_kept", len(s.removedOrder))
	return nil
}

// recoverRoles loads the operators' weights and quota.
func (m *Core) recoverRoles(ctx context.Context, s *state) error {
	if err := loadRoleSettings(ctx, m.cfg.Store, registryWeights, "weight", s.weights); err != nil {
		return err
	}
	return loadRoleSettings(ctx, m.cfg.Store, registryQuota, "quota", s.quota)
}

// loadRoleSettings reads the per-role settings under prefix (what names
// them in errors) into into.
func loadRoleSettings[T any](ctx context.Context, st store.Store, prefix, what string, into map[string]T) error {
	entries, err := st.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("master: registry: %w", err)
	}
	for _, e := range entries {
		role, err := roleFromKey(e.Key)
		if err != nil {
			return fmt.Errorf("master: registry: %s key %s: %w", what, e.Key, err)
		}
		var v T
		if err := json.Unmarshal(e.Value, &v); err != nil {
			return fmt.Errorf("master: registry: %s of %s: %w", what, role, err)
		}
		into[role] = v
	}
	return nil
}

// recoveredFailover is how long a framework recovered from the registry
// has to subscribe to this leader. A deadline written by an earlier leader
// was taken on that leader's clock, which this one's may not match (a
// clock that jumped an hour ahead would read a fresh deadline as long
// past), and while no master led the framework could not have come back
// anyway. So it gets at least as long as agents get to re-register, and
// never more than its whole failover timeout: a failover alone never tears
// a framework down, and never extends its timeout past what it asked for.
func (m *Core) recoveredFailover(info *mesospb.FrameworkInfo, deadline, now time.Time) time.Duration {
	timeout := time.Duration(info.GetFailoverTimeout() * float64(time.Second))
	if deadline.IsZero() {
		// It was connected when the last leader went away: the clock
		// starts now.
		return timeout
	}
	return min(max(deadline.Sub(now), min(m.cfg.AgentReregisterTimeout, timeout)), timeout)
}

// startFailoverTimer tears f down after d unless it subscribes again.
func (m *Core) startFailoverTimer(s *state, f *framework, d time.Duration) {
	if f.failoverTimer != nil {
		f.failoverTimer.Stop()
	}
	f.failoverTimer = m.cfg.AfterFunc(max(d, 0), func() {
		m.post(func(s *state) {
			if cur := s.frameworks[f.id]; cur == f && f.conn == nil {
				m.removeFramework(s, f, "failover timeout expired")
			}
		})
	})
}

func lastComponent(key string) string {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '/' {
			return key[i+1:]
		}
	}
	return key
}
