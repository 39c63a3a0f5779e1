package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

func (m *Master) registryPut(key string, value []byte) error {
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

func (m *Master) registryDelete(key string) error {
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
func (m *Master) recordFramework(f *framework, deadline time.Time) error {
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

// forgetFramework records that a framework was removed for good.
func (m *Master) forgetFramework(id string) error {
	if err := m.registryPut(registryRemoved+"/"+id, []byte(m.cfg.Now().UTC().Format(time.RFC3339))); err != nil {
		return err
	}
	return m.registryDelete(registryFrameworks + "/" + id)
}

// recover loads the registry into s before the master serves anything.
// Agents come back as disconnected: they have AgentReregisterTimeout to
// re-register before they are unreachable. Frameworks come back
// disconnected with their failover deadlines.
func (m *Master) recover(ctx context.Context, s *state) error {
	if m.cfg.Store == nil {
		return nil
	}
	now := m.cfg.Now()
	removed, err := m.cfg.Store.List(ctx, registryRemoved)
	if err != nil {
		return fmt.Errorf("master: registry: %w", err)
	}
	for _, e := range removed {
		s.removed[lastComponent(e.Key)] = true
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
			id: info.GetId().GetValue(), info: info, health: agentDisconnected, lastSeen: now,
			reregisterBy: now.Add(m.cfg.AgentReregisterTimeout),
			total:        resources.Resources(info.GetResources()).Clone(),
			tasks:        make(map[taskKey]*task), offers: make(map[string]*offer),
		}
		if isUnreachable[a.id] {
			// Its tasks were reported already; it may still come back.
			a.health, a.reregisterBy = agentUnreachable, time.Time{}
		}
		s.agents[a.id] = a
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
		deadline := rf.FailoverDeadline
		if deadline.IsZero() {
			// It was connected when the last leader went away: the clock
			// starts now.
			deadline = now.Add(time.Duration(info.GetFailoverTimeout() * float64(time.Second)))
		}
		m.startFailoverTimer(s, f, deadline.Sub(now))
	}
	m.log.Info("registry recovered", "agents", len(agents), "unreachable", len(unreachable), "gone", len(gone),
		"frameworks", len(frameworks), "removed", len(removed))
	return nil
}

// recoverRoles loads the operators' weights and quota.
func (m *Master) recoverRoles(ctx context.Context, s *state) error {
	weights, err := m.cfg.Store.List(ctx, registryWeights)
	if err != nil {
		return fmt.Errorf("master: registry: %w", err)
	}
	for _, e := range weights {
		role, err := roleFromKey(e.Key)
		if err != nil {
			return fmt.Errorf("master: registry: weight key %s: %w", e.Key, err)
		}
		var w float64
		if err := json.Unmarshal(e.Value, &w); err != nil {
			return fmt.Errorf("master: registry: weight of %s: %w", role, err)
		}
		s.weights[role] = w
	}
	quota, err := m.cfg.Store.List(ctx, registryQuota)
	if err != nil {
		return fmt.Errorf("master: registry: %w", err)
	}
	for _, e := range quota {
		role, err := roleFromKey(e.Key)
		if err != nil {
			return fmt.Errorf("master: registry: quota key %s: %w", e.Key, err)
		}
		var q quotaConfig
		if err := json.Unmarshal(e.Value, &q); err != nil {
			return fmt.Errorf("master: registry: quota of %s: %w", role, err)
		}
		s.quota[role] = q
	}
	return nil
}

// startFailoverTimer tears f down after d unless it subscribes again.
func (m *Master) startFailoverTimer(s *state, f *framework, d time.Duration) {
	if f.failoverTimer != nil {
		f.failoverTimer.Stop()
	}
	f.failoverTimer = time.AfterFunc(max(d, 0), func() {
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
