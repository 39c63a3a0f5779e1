package core

import (
	"sync/atomic"
	"time"

	"github.com/corral-sched/corral/master/allocator"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// state is everything the master knows. Only the goroutine that steps the
// core touches it (the transport's loop, or a test); there are no locks.
type state struct {
	frameworks map[string]*framework
	// removed remembers torn-down frameworks so that they cannot come back
	// under the same ID (Mesos refuses them too); removedOrder holds the
	// same IDs oldest first, so that only the newest MaxCompletedFrameworks
	// are kept (see registry.go).
	removed      map[string]bool
	removedOrder []removal
	agents       map[string]*agentState
	// gone holds agents an operator marked gone: they may never
	// re-register under that ID.
	gone   map[string]bool
	offers map[string]*offer

	// weights and quota are the operators' role settings.
	weights map[string]float64
	quota   map[string]quotaConfig

	nextFramework, nextAgent, nextOffer uint64

	// unofferedByReason counts, for the last round, the framework roles
	// offered nothing, by reason.
	unofferedByReason map[allocator.Reason]int

	// operators are the operator API's event streams.
	operators map[*OperatorConn]bool

	// maint is the maintenance schedule, down machines and inverse offers.
	maint *maintenance

	// dirty holds agents changed since the last round; fullRound asks for
	// a round over all of them. sums, clusterTotal and clusterUnreserved
	// are the cluster-wide quantities incremental rounds are measured
	// against (see dirty.go).
	dirty                           map[string]bool
	fullRound                       bool
	sums                            map[string]agentSums
	clusterTotal, clusterUnreserved map[string]float64

	// allocationPending asks the loop for an allocation round once the
	// messages queued right now have been handled.
	allocationPending bool

	// admissions are agent subscriptions waiting for their registry write
	// (admission.go).
	admissions []admission

	// completedFrameworks are the newest removed frameworks with their
	// finished tasks, and finishedSeq orders finished tasks (history.go).
	completedFrameworks ring[*completedFramework]
	finishedSeq         uint64
}

func newState() *state {
	return &state{
		frameworks: make(map[string]*framework),
		removed:    make(map[string]bool),
		agents:     make(map[string]*agentState),
		gone:       make(map[string]bool),
		weights:    make(map[string]float64),
		quota:      make(map[string]quotaConfig),
		dirty:      make(map[string]bool),
		operators:  make(map[*OperatorConn]bool),
		maint:      newMaintenance(),
		fullRound:  true,
		sums:       make(map[string]agentSums),

		clusterTotal:      make(map[string]float64),
		clusterUnreserved: make(map[string]float64),
		offers:            make(map[string]*offer),
	}
}

type framework struct {
	id   string
	info *mesospb.FrameworkInfo
	// roles are the framework's roles: FrameworkInfo.roles with MULTI_ROLE,
	// else the single FrameworkInfo.role.
	roles      []string
	suppressed map[string]bool
	caps       capabilities

	// conn is the current subscription; nil while disconnected.
	conn *SchedulerConn
	// placeholder: known only from an agent's report that did not carry
	// its FrameworkInfo, so there is no principal to hold a subscription
	// to; the first subscription fills it in.
	placeholder bool
	// disconnectedAt is when conn went away; the framework is torn down
	// once failover_timeout has passed since.
	disconnectedAt time.Time
	failoverTimer  Timer

	offers  map[string]*offer
	tasks   map[string]*task              // by task ID
	filters map[string][]allocator.Filter // by agent ID
	// allocated is what the framework holds per role, tasks and offers
	// alike, in allocated form; it feeds the DRF shares. It is one sum over
	// every agent, as Mesos' totalUsedResources is: scalars are exact, but
	// a range or set held on two agents (the same port on each) merges into
	// one entry, so only its scalars are to be relied on.
	allocated map[string]resources.Resources
	// unoffered is why the last allocation round offered it nothing in
	// some roles.
	unoffered []allocator.Skip
	// unreachable are its tasks on agents that became unreachable: no
	// longer in tasks, holding no resources, kept for the operator views
	// until their agent comes back or is gone (unreachable.go).
	unreachable unreachableTasks
	// history holds its newest finished tasks (history.go).
	history frameworkHistory
}

type capabilities struct {
	multiRole, partitionAware, refinement, gpu, killingState bool
}

func capabilitiesOf(info *mesospb.FrameworkInfo) capabilities {
	var c capabilities
	for _, cap := range info.GetCapabilities() {
		switch cap.GetType() {
		case mesospb.FrameworkInfo_Capability_MULTI_ROLE:
			c.multiRole = true
		case mesospb.FrameworkInfo_Capability_PARTITION_AWARE:
			c.partitionAware = true
		case mesospb.FrameworkInfo_Capability_RESERVATION_REFINEMENT:
			c.refinement = true
		case mesospb.FrameworkInfo_Capability_GPU_RESOURCES:
			c.gpu = true
		case mesospb.FrameworkInfo_Capability_TASK_KILLING_STATE:
			c.killingState = true
		}
	}
	return c
}

// SchedulerConn is one SUBSCRIBE stream of a framework.
// SchedulerConn is a framework's subscription: its stream and the ID the
// framework's calls must present (Mesos-Stream-Id).
type SchedulerConn struct {
	streamID string
	out      Stream
}

// NewSchedulerConn makes the subscription for a SUBSCRIBE the transport
// is answering with out.
func NewSchedulerConn(streamID string, out Stream) *SchedulerConn {
	return &SchedulerConn{streamID: streamID, out: out}
}

func (f *framework) connected() bool { return f.conn != nil }

func (f *framework) hasRole(role string) bool {
	for _, r := range f.roles {
		if r == role {
			return true
		}
	}
	return false
}

type agentHealth int

const (
	agentActive agentHealth = iota
	// agentDisconnected: the stream is gone but the agent may come back
	// before it misses MaxAgentPingTimeouts pings; its resources are not
	// offered meanwhile.
	agentDisconnected
	// agentUnreachable: silent past the ping limit; its tasks were
	// reported lost or unreachable.
	agentUnreachable
)

func (h agentHealth) String() string {
	switch h {
	case agentActive:
		return "active"
	case agentDisconnected:
		return "disconnected"
	default:
		return "unreachable"
	}
}

type agentState struct {
	id     string
	info   *mesospb.AgentInfo
	health agentHealth
	conn   *AgentConn
	// lastSeen is the last time the agent spoke (subscribe, call, pong),
	// on Config.AgentClock.
	lastSeen time.Time
	// reregisterBy is set for an agent known only from the registry: it
	// is unreachable if it has not re-registered by then.
	reregisterBy time.Time
	// registeredAt and reregisteredAt are when it first subscribed to
	// this master and when it last came back.
	registeredAt, reregisteredAt time.Time

	total resources.Resources
	// allocated is what tasks and offers hold on this agent, without
	// allocation_info; total minus allocated is offerable.
	allocated resources.Resources

	tasks  map[taskKey]*task
	offers map[string]*offer
	// executors are the custom executors running there: their resources
	// are held once per executor, from its first task until the agent
	// reports it ended.
	executors map[taskKey]*executor
	// cachedAvailable is available() as of the agent's last round.
	cachedAvailable resources.Resources
	// unreachable indexes the frameworks' unreachable records of the tasks
	// that ran here, to settle them when the agent comes back or is gone.
	unreachable map[taskKey]*task
}

// AgentConn is an agent's subscription: its stream and who sent it.
type AgentConn struct {
	streamID string
	out      Stream
	// ip is the address the agent's subscription came from: offers carry
	// it (Offer.url.address.ip) so frameworks can reach their tasks even
	// where agents' hostnames do not resolve.
	ip string
	// principal is who the agent authenticated as ("" without
	// authentication) and bootID what its process said it started as:
	// together with the address they tell the agent coming back from
	// another one presenting its ID (takeover.go).
	principal, bootID string
	// pongedAt is when the agent last answered a ping through Core.Pong,
	// off the loop (nil: not yet); current says the connection is its
	// agent's subscription, which Pong checks off the loop.
	pongedAt atomic.Pointer[time.Time]
	current  atomic.Bool
}

// setConn makes conn (nil: none) the agent's subscription.
func (a *agentState) setConn(conn *AgentConn) {
	if a.conn != nil {
		a.conn.current.Store(false)
	}
	if conn != nil {
		conn.current.Store(true)
	}
	a.conn = conn
}

// heardFrom is when the agent last spoke: a call or a pong.
func (a *agentState) heardFrom() time.Time {
	if a.conn != nil {
		if p := a.conn.pongedAt.Load(); p != nil && p.After(a.lastSeen) {
			return *p
		}
	}
	return a.lastSeen
}

func (a *agentState) available() resources.Resources {
	return a.total.Subtract(a.allocated)
}

type taskKey struct{ framework, task string }

type task struct {
	info        *mesospb.TaskInfo
	frameworkID string
	agentID     string
	role        string
	// resources are the task's (and, for a custom executor, the executor's)
	// resources in allocated form.
	resources resources.Resources
	// state is the newest state the agent reported (latest_state), which may
	// be ahead of status while updates wait for acknowledgements.
	state  mesospb.TaskState
	status *mesospb.TaskStatus // the last status forwarded to the framework
	// released is set once the task's resources went back to the agent.
	released bool
	// group and executor are set for tasks launched in a task group.
	group    *taskGroup
	executor *mesospb.ExecutorInfo
	// unreachableAt is when its agent became unreachable, for the records
	// kept in framework.unreachable.
	unreachableAt time.Time
}

// executor is a custom executor on an agent (taskKey holds framework and
// executor IDs).
type executor struct {
	info      *mesospb.ExecutorInfo
	role      string
	resources resources.Resources // with allocation_info
}

// taskGroup holds the resources of a group's executor until its last task
// has ended.
type taskGroup struct {
	executorResources resources.Resources
	role              string
	live              int
}

type offer struct {
	id          string
	frameworkID string
	agentID     string
	role        string
	resources   resources.Resources // allocated form
	created     time.Time
	timer       Timer
}
