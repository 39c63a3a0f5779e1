package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/store"
)

// Agents are admitted in batches. A subscription is queued on the loop;
// once the messages waiting there have been handled, the loop writes every
// queued admission to the registry at once (one fsync for the local store)
// and only then completes them and acknowledges them with SUBSCRIBED. A
// registration storm (a new cluster, or every agent after a master
// failover) so costs one registry write per loop iteration instead of one
// per agent, with the rule kept: nothing is acknowledged before it is
// durable. Mesos' registrar batches its operations the same way.

// admission is an agent subscription waiting for its registry write.
type admission struct {
	id   string
	sub  *agentpb.Call_Subscribe // its AgentInfo carries the ID
	conn *AgentConn
}

// dropAdmission forgets a queued admission whose stream ended before it
// was written.
func (s *state) dropAdmission(conn *AgentConn) {
	for i, adm := range s.admissions {
		if adm.conn == conn {
			s.admissions = append(s.admissions[:i], s.admissions[i+1:]...)
			return
		}
	}
}

// flushAdmissions writes the queued admissions to the registry and
// completes them; if the write fails their streams are closed and the
// agents subscribe again.
func (m *Core) flushAdmissions(s *state) {
	if len(s.admissions) == 0 {
		return
	}
	batch := firstPerID(s.admissions, m.log)
	s.admissions = nil
	ops, err := m.admissionOps(s, batch)
	if err == nil {
		err = m.registryApply(ops)
	}
	for _, adm := range batch {
		switch {
		case err != nil:
			m.log.Error("agent not admitted", "agent", adm.id, "err", err)
			adm.conn.out.Close("Master could not record the agent in its registry; subscribe again")
		case s.gone[adm.id] || s.maint.isDown(adm.sub.GetAgentInfo()):
			// Marked gone, or its machine taken down, while the write was
			// queued.
			adm.conn.out.Push(ShutdownEvent("This agent was marked gone by an operator, or its machine is down for maintenance"))
			adm.conn.out.Close("agent is gone")
		default:
			m.admitAgent(s, adm)
		}
	}
}

// admissionOps are the registry changes a batch of admissions needs: each
// agent's AgentInfo, unless the registry holds it already as it is, and
// the end of its unreachable record.
func (m *Core) admissionOps(s *state, batch []admission) ([]store.Op, error) {
	var ops []store.Op
	for _, adm := range batch {
		info := adm.sub.GetAgentInfo()
		a := s.agents[adm.id]
		if a != nil && a.health == agentUnreachable {
			ops = append(ops, store.Op{Key: registryUnreachable + "/" + adm.id, Delete: true})
		}
		if a != nil && proto.Equal(a.info, info) {
			continue // a known agent back as it was
		}
		b, err := proto.Marshal(info)
		if err != nil {
			return nil, fmt.Errorf("master: registry: encoding agent %s: %w", adm.id, err)
		}
		ops = append(ops, store.Op{Key: registryAgents + "/" + adm.id, Value: b})
	}
	return ops, nil
}

// registryApply makes ops durable: in one write where the store can batch,
// else one by one.
func (m *Core) registryApply(ops []store.Op) error {
	if m.cfg.Store == nil || len(ops) == 0 {
		return nil
	}
	if b, ok := m.cfg.Store.(store.Batcher); ok {
		ctx, cancel := context.WithTimeout(context.Background(), registryTimeout)
		defer cancel()
		if err := b.Apply(ctx, ops); err != nil {
			return fmt.Errorf("master: registry: writing %d changes: %w", len(ops), err)
		}
		return nil
	}
	var errs []error
	for _, op := range ops {
		if op.Delete {
			errs = append(errs, m.registryDelete(op.Key))
		} else {
			errs = append(errs, m.registryPut(op.Key, op.Value))
		}
	}
	return errors.Join(errs...)
}

// firstPerID keeps the first of several admissions for one agent ID in a
// batch and closes the others' streams before anything is written: each
// passed the takeover check against the agent the master knew, not
// against each other. The others hear no SUBSCRIBED and subscribe again,
// to face agentTakeover against the agent admitted now.
func firstPerID(batch []admission, log *slog.Logger) []admission {
	seen := make(map[string]bool, len(batch))
	out := batch[:0]
	for _, adm := range batch {
		if seen[adm.id] {
			log.Warn("agent registration dropped: another registration for its ID came first", "agent", adm.id, "source", adm.conn.ip)
			adm.conn.out.Close("another registration for this agent ID came first")
			continue
		}
		seen[adm.id] = true
		out = append(out, adm)
	}
	return out
}
