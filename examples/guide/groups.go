package guide

import (
	"path"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// Pod launches tasks as one group (a pod) under the agent's default
// executor: they start together, share the executor's resources and
// sandbox, and if one fails the others are killed. ok is false if what
// is left of the offer cannot hold them all.
func Pod(space *sdk.Space, id string, cmds map[string]string) (op *mesospb.Offer_Operation, ok bool) {
	exRes, ok := space.Take(0.1, 32, 0, 0)
	if !ok {
		return nil, false
	}
	var tasks []*mesospb.TaskInfo
	for name, cmd := range cmds {
		res, ok := space.Take(0.1, 32, 0, 0)
		if !ok {
			return nil, false
		}
		tasks = append(tasks, sdk.CommandTask(name, id+"."+name, space.Offer, cmd, res))
	}
	executor := &mesospb.ExecutorInfo{Type: mesospb.ExecutorInfo_DEFAULT.Enum(),
		ExecutorId: &mesospb.ExecutorID{Value: proto.String(id)}, Resources: exRes}
	return sdk.LaunchGroupOperation(executor, tasks...), true
}

// WithExecutor makes task run under a custom executor instead of a
// command: the agent fetches the program at uri into the sandbox and runs
// it with exRes, and the executor gets the task's data and reports its
// states itself. Tasks naming the same executor ID on one agent share one
// executor process.
func WithExecutor(task *mesospb.TaskInfo, id, uri string, exRes resources.Resources, data []byte) *mesospb.TaskInfo {
	task.Command, task.Data = nil, data
	task.Executor = &mesospb.ExecutorInfo{
		Type: mesospb.ExecutorInfo_CUSTOM.Enum(), ExecutorId: &mesospb.ExecutorID{Value: proto.String(id)}, Resources: exRes,
		Command: &mesospb.CommandInfo{Value: proto.String("./" + path.Base(uri)),
			Uris: []*mesospb.CommandInfo_URI{{Value: proto.String(uri), Executable: proto.Bool(true)}}},
	}
	return task
}
