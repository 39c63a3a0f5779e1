package fanout

import (
	"context"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
)

// offers packs waiting shards into the offers, each shard preferably on
// an agent where it has not failed yet.
func (j *Job) offers(ctx context.Context, offers []*mesospb.Offer) error {
	j.mu.Lock()
	for _, o := range offers {
		j.agents[o.GetAgentId().GetValue()] = true
	}
	type launch struct {
		offer *mesospb.Offer
		tasks []*mesospb.TaskInfo
	}
	var launches []launch
	for _, o := range offers {
		space := sdk.NewSpace(o)
		var tasks []*mesospb.TaskInfo
		for _, s := range j.shards {
			if s.State != Waiting || !j.mayRunOnLocked(s, o.GetAgentId().GetValue()) {
				continue
			}
			res, ok := space.Take(j.cfg.CPUs, j.cfg.Mem, 0, 0)
			if !ok {
				break
			}
			s.Attempts++
			s.State, s.Task, s.Error = Running, taskID(s.Index, s.Attempts), ""
			s.agentID, s.Agent, s.agentURL = o.GetAgentId().GetValue(), o.GetHostname(), agentURL(o)
			task := sdk.CommandTask(fmt.Sprintf("shard %d", s.Index), s.Task, o, j.cfg.Command, res)
			task.Command.Environment = &mesospb.Environment{Variables: []*mesospb.Environment_Variable{
				{Name: proto.String("SHARD"), Value: proto.String(strconv.Itoa(s.Index))},
				{Name: proto.String("SHARDS"), Value: proto.String(strconv.Itoa(len(j.shards)))},
			}}
			tasks = append(tasks, task)
		}
		launches = append(launches, launch{o, tasks})
	}
	idle := j.idleLocked()
	j.mu.Unlock()

	for _, l := range launches {
		var err error
		if len(l.tasks) == 0 {
			// A retry revives offers: until then, this agent is not needed.
			err = j.sched.Decline(ctx, []*mesospb.OfferID{l.offer.GetId()}, 60)
		} else {
			err = j.sched.Launch(ctx, l.offer, 60, l.tasks...)
		}
		if err != nil {
			return err
		}
	}
	if idle {
		return j.sched.Suppress(ctx)
	}
	return nil
}

// mayRunOnLocked: a shard avoids the agents it failed on, unless it has
// failed on every agent offered so far.
func (j *Job) mayRunOnLocked(s *Shard, agentID string) bool {
	if !s.failedOn[agentID] {
		return true
	}
	for id := range j.agents {
		if !s.failedOn[id] {
			return false
		}
	}
	return true
}

func (j *Job) idle() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.idleLocked()
}

// idleLocked: no shard waits for an offer.
func (j *Job) idleLocked() bool {
	for _, s := range j.shards {
		if s.State == Waiting {
			return false
		}
	}
	return true
}

// agentURL is where the offer's agent serves its sandboxes: its address
// as the master saw it, else its hostname.
func agentURL(o *mesospb.Offer) string {
	u := o.GetUrl()
	host := u.GetAddress().GetIp()
	if host == "" {
		host = u.GetAddress().GetHostname()
	}
	if host == "" || u.GetAddress().GetPort() == 0 {
		return ""
	}
	scheme := u.GetScheme()
	if scheme == "" {
		scheme = "http"
	}
	return fmt.Sprintf("%s://%s:%d", scheme, host, u.GetAddress().GetPort())
}
