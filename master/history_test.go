package master

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/resources"
)

// runTasks launches n tasks of fw on agent in batches; each ends FINISHED
// or, every third, FAILED with a reason and a message, and is
// acknowledged.
func runTasks(t *testing.T, fw *fakeScheduler, agent *fakeAgent, prefix string, n int) {
	t.Helper()
	const batch = 500
	var offers []*mesospb.Offer // met while reading updates
	for done := 0; done < n; {
		if len(offers) == 0 {
			offers = fw.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()
		}
		// Every offer held goes into one ACCEPT: freed resources come back
		// in small offers while updates are read.
		var ids []*mesospb.OfferID
		var held resources.Resources
		for _, o := range offers {
			ids = append(ids, o.GetId())
			held = held.Add(o.GetResources())
		}
		o := offers[0]
		offers = nil
		var tasks []*mesospb.TaskInfo
		for i := done; i < min(n, done+batch, done+int(held.ScalarValue("cpus")*1000+0.5)); i++ {
			tasks = append(tasks, commandTask(fmt.Sprintf("%s-%05d", prefix, i), o, "cpus:0.001;mem:1"))
		}
		accept := launchCall(o, tasks...)
		accept.Accept.OfferIds = ids
		fw.call(accept, http.StatusAccepted)
		var launched []*mesospb.TaskInfo
		for range tasks {
			launched = append(launched, nextLaunch(agent))
		}
		for _, task := range launched {
			i, _ := strconv.Atoi(strings.TrimPrefix(task.GetTaskId().GetValue(), prefix+"-"))
			st := &mesospb.TaskStatus{TaskId: task.GetTaskId(), State: mesospb.TaskState_TASK_FINISHED.Enum(),
				Source: mesospb.TaskStatus_SOURCE_EXECUTOR.Enum(), Message: proto.String("done")}
			if i%3 == 0 {
				st.State = mesospb.TaskState_TASK_FAILED.Enum()
				st.Reason = mesospb.TaskStatus_REASON_COMMAND_EXECUTOR_FAILED.Enum()
				st.Message = proto.String(fmt.Sprintf("exited with status %d", i%7+1))
			}
			agent.update(fw.id, st)
			got := nextUpdate(fw, &offers)
			fw.call(&schedulerpb.Call{Type: schedulerpb.Call_ACKNOWLEDGE.Enum(), Acknowledge: &schedulerpb.Call_Acknowledge{
				AgentId: got.GetAgentId(), TaskId: got.GetTaskId(), Uuid: got.GetUuid()}}, http.StatusAccepted)
		}
		done += len(tasks)
	}
}

// nextUpdate reads up to the next UPDATE, keeping the offers met on the
// way and dropping those rescinded.
func nextUpdate(fw *fakeScheduler, offers *[]*mesospb.Offer) *mesospb.TaskStatus {
	fw.t.Helper()
	for {
		rec, ok := fw.stream.next()
		if !ok {
			fw.t.Fatal("scheduler stream ended waiting for an update")
		}
		ev := &schedulerpb.Event{}
		if err := fw.c.Unmarshal(rec, ev); err != nil {
			fw.t.Fatal(err)
		}
		switch ev.GetType() {
		case schedulerpb.Event_UPDATE:
			return ev.GetUpdate().GetStatus()
		case schedulerpb.Event_OFFERS:
			*offers = append(*offers, ev.GetOffers().GetOffers()...)
		case schedulerpb.Event_RESCIND:
			gone := ev.GetRescind().GetOfferId().GetValue()
			*offers = slices.DeleteFunc(*offers, func(o *mesospb.Offer) bool { return o.GetId().GetValue() == gone })
		}
	}
}

// heldOffers are the offers a framework holds, as the operator API shows.
func heldOffers(t *testing.T, base, id string) []*mesospb.Offer {
	t.Helper()
	for _, f := range operator(t, base, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_FRAMEWORKS.Enum()}, http.StatusOK).GetGetFrameworks().GetFrameworks() {
		if f.GetFrameworkInfo().GetId().GetValue() == id {
			return f.GetOffers()
		}
	}
	return nil
}

// nextLaunch is the agent's next LAUNCH, past the acknowledgements the
// master forwards.
func nextLaunch(a *fakeAgent) *mesospb.TaskInfo {
	a.t.Helper()
	for {
		ev := a.nextAny()
		if ev.GetType() == agentpb.Event_LAUNCH {
			return ev.GetLaunch().GetTask()
		}
		if ev.GetType() != agentpb.Event_ACKNOWLEDGE {
			a.t.Fatalf("agent got %v, want LAUNCH", ev.GetType())
		}
	}
}

// 3 frameworks × 2,000 finished tasks: the master keeps the newest
// MaxCompletedTasksPerFramework of each, newest first, with how they
// ended; removed frameworks keep theirs, MaxCompletedFrameworks of them.
func TestFinishedTasksAreKeptBoundedNewestFirstWithReasons(t *testing.T) {
	const perFramework, keep = 2000, 300
	srv := startMaster(t, func(c *Config) { c.MaxCompletedTasksPerFramework, c.MaxCompletedFrameworks = keep, 2 })
	agent := registerAgent(t, srv.URL, "cpus:1000;mem:100000")
	var fws []*fakeScheduler
	for i := range 3 {
		fw := subscribe(t, srv.URL, codec.Protobuf, fwInfo(nil))
		runTasks(t, fw, agent, "f"+strconv.Itoa(i), perFramework)
		// What it holds goes to the next framework.
		fw.call(&schedulerpb.Call{Type: schedulerpb.Call_SUPPRESS.Enum()}, http.StatusAccepted)
		var held []*mesospb.OfferID
		for _, o := range heldOffers(t, srv.URL, fw.id) {
			held = append(held, o.GetId())
		}
		fw.call(&schedulerpb.Call{Type: schedulerpb.Call_DECLINE.Enum(), Decline: &schedulerpb.Call_Decline{OfferIds: held}}, http.StatusAccepted)
		fws = append(fws, fw)
	}
	check := func(frameworks ...int) []*mesospb.Task {
		t.Helper()
		done := operator(t, srv.URL, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_TASKS.Enum()}, http.StatusOK).GetGetTasks().GetCompletedTasks()
		if len(done) != keep*len(frameworks) {
			t.Fatalf("%d completed tasks, want %d per framework for %d frameworks", len(done), keep, len(frameworks))
		}
		// Newest first: the last framework's last task leads, and within
		// each framework the IDs count down from its last task.
		for j, f := range frameworks {
			for k := range keep {
				task := done[(len(frameworks)-1-j)*keep+k]
				want := fmt.Sprintf("f%d-%05d", f, perFramework-1-k)
				if task.GetTaskId().GetValue() != want {
					t.Fatalf("completed task %d is %s, want %s (newest first)", (len(frameworks)-1-j)*keep+k, task.GetTaskId().GetValue(), want)
				}
			}
		}
		return done
	}
	done := check(0, 1, 2)
	failed := 0
	for _, task := range done {
		st := task.GetStatuses()[0]
		if task.GetState() == mesospb.TaskState_TASK_FAILED {
			failed++
			if st.GetReason() != mesospb.TaskStatus_REASON_COMMAND_EXECUTOR_FAILED || !strings.HasPrefix(st.GetMessage(), "exited with status") {
				t.Fatalf("failed task %s lost its reason or message: %v", task.GetTaskId().GetValue(), st)
			}
		}
	}
	if failed != len(done)/3 {
		t.Errorf("%d failed of %d kept, want a third", failed, len(done))
	}

	// Removing frameworks: a running task is killed with a reason, the
	// operators hear it, and the framework's history moves along with it.
	body, _ := codec.JSON.Marshal(&masterpb.Call{Type: masterpb.Call_SUBSCRIBE.Enum()})
	stream := openStream(t, srv.URL+"/api/v1", codec.JSON.MediaType(), body, codec.JSON.MediaType())
	fws[2].call(&schedulerpb.Call{Type: schedulerpb.Call_REVIVE.Enum()}, http.StatusAccepted)
	var o *mesospb.Offer // the stream still holds offers declined above
	waitFor(t, func() bool {
		held := heldOffers(t, srv.URL, fws[2].id)
		if len(held) > 0 {
			o = held[0]
		}
		return o != nil
	}, "an offer after reviving")
	fws[2].call(launchCall(o, commandTask("f2-last", o, "cpus:1;mem:8")), http.StatusAccepted)
	task := nextLaunch(agent)
	agent.update(fws[2].id, &mesospb.TaskStatus{TaskId: task.GetTaskId(), State: mesospb.TaskState_TASK_RUNNING.Enum()})
	for _, fw := range fws {
		fw.call(&schedulerpb.Call{Type: schedulerpb.Call_TEARDOWN.Enum()}, http.StatusAccepted)
	}
	sawKill := false
	for !sawKill {
		rec, ok := stream.next()
		if !ok {
			t.Fatal("operator stream ended before TASK_UPDATED for the removed framework's task")
		}
		ev := &masterpb.Event{}
		if err := codec.JSON.Unmarshal(rec, ev); err != nil {
			t.Fatal(err)
		}
		if u := ev.GetTaskUpdated(); u != nil && u.GetStatus().GetTaskId().GetValue() == "f2-last" && u.GetState() == mesospb.TaskState_TASK_KILLED {
			sawKill = u.GetStatus().GetReason() == mesospb.TaskStatus_REASON_FRAMEWORK_REMOVED
		}
		if ev.GetType() == masterpb.Event_FRAMEWORK_REMOVED && ev.GetFrameworkRemoved().GetFrameworkInfo().GetId().GetValue() == fws[2].id && !sawKill {
			t.Fatal("FRAMEWORK_REMOVED came without a TASK_UPDATED for its running task")
		}
	}
	stream.close()
	resp := operator(t, srv.URL, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_STATE.Enum()}, http.StatusOK).GetGetState()
	gone := resp.GetGetFrameworks().GetCompletedFrameworks()
	if len(gone) != 2 || gone[0].GetFrameworkInfo().GetId().GetValue() != fws[2].id || gone[1].GetFrameworkInfo().GetId().GetValue() != fws[1].id {
		t.Fatalf("completed frameworks %v, want the newest two, newest first", gone)
	}
	if len(resp.GetGetFrameworks().GetFrameworks()) != 0 || len(resp.GetGetTasks().GetTasks()) != 0 {
		t.Fatalf("removed frameworks or their tasks still active: %v", resp.GetGetFrameworks().GetFrameworks())
	}
	done = resp.GetGetTasks().GetCompletedTasks()
	if len(done) != 2*keep || done[0].GetTaskId().GetValue() != "f2-last" || done[0].GetStatuses()[0].GetReason() != mesospb.TaskStatus_REASON_FRAMEWORK_REMOVED {
		t.Fatalf("%d completed tasks, the first %v; want %d, the killed one first", len(done), done[0], 2*keep)
	}
}
