package allocator

import (
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// round is the working state of one Allocate call.
type round struct {
	a       *Allocator
	s       *Snapshot
	total   qty
	tree    *roleTree
	fws     []fwState
	agents  []agentView
	offers  []Offer
	quota   bool // some role has a guarantee or a limit
	hasGtee bool // some role has a guarantee

	unreservedAvail qty // cluster-wide, shrinking as offers are made
	headroomNeed    qty // unmet guarantees, summed over quota roots
}

type fwState struct {
	f      *Framework
	role   string
	leaf   *roleNode
	client Client
	held   qty // in this role
	skips  map[Reason]int
}

func (f *fwState) skip(reason Reason) {
	if f.skips == nil {
		f.skips = make(map[Reason]int, 2)
	}
	f.skips[reason]++
}

func (n *roleNode) skip(reason Reason) {
	if n.roleSkips == nil {
		n.roleSkips = make(map[Reason]int, 2)
	}
	n.roleSkips[reason]++
}

// agentView is an agent's available resources split by reservation.
type agentView struct {
	ag          *Agent
	unreserved  resources.Resources
	unreservedQ qty
	reserved    []reservedPart
	gpu         bool
}

type reservedPart struct {
	role string
	res  resources.Resources
	q    qty
}

func (v *agentView) empty() bool { return len(v.unreserved) == 0 && len(v.reserved) == 0 }

func newAgentView(ag *Agent) agentView {
	v := agentView{ag: ag, gpu: ag.Total.ScalarValue("gpus") > 0}
	reservedAny := false
	for _, x := range ag.Available {
		if resources.ReservedRole(x) != "" {
			reservedAny = true
			break
		}
	}
	if !reservedAny {
		v.unreserved, v.unreservedQ = ag.Available, quantitiesOf(ag.Available)
		return v
	}
	for _, x := range ag.Available {
		role := resources.ReservedRole(x)
		if role == "" {
			v.unreserved = append(v.unreserved, x)
			continue
		}
		i := 0
		for i < len(v.reserved) && v.reserved[i].role != role {
			i++
		}
		if i == len(v.reserved) {
			v.reserved = append(v.reserved, reservedPart{role: role})
		}
		v.reserved[i].res = append(v.reserved[i].res, x)
	}
	v.unreservedQ = quantitiesOf(v.unreserved)
	for i := range v.reserved {
		v.reserved[i].q = quantitiesOf(v.reserved[i].res)
	}
	return v
}

func (a *Allocator) newRound(s *Snapshot) *round {
	r := &round{a: a, s: s}
	if s.Cluster != nil {
		r.total = qtyFromMap(s.Cluster.Total, 0)
		r.unreservedAvail = qtyFromMap(s.Cluster.UnreservedAvailable, 0)
	} else {
		for i := range s.Agents {
			r.total = r.total.plus(quantitiesOf(s.Agents[i].Total))
		}
	}
	r.agents = make([]agentView, len(s.Agents))
	for i := range s.Agents {
		r.agents[i] = newAgentView(&s.Agents[i])
		if s.Cluster == nil {
			r.unreservedAvail = r.unreservedAvail.plus(r.agents[i].unreservedQ)
		}
	}
	weight := func(role string) float64 {
		if w := s.Roles[role].Weight; w > 0 {
			return w
		}
		return 1
	}
	r.tree = newRoleTree(a.roles, &r.total, &a.counted)
	n := 0
	for i := range s.Frameworks {
		n += len(s.Frameworks[i].Roles)
	}
	r.fws = make([]fwState, 0, n) // never grown: leaves point into it
	for i := range s.Frameworks {
		f := &s.Frameworks[i]
		for _, role := range f.Roles {
			leaf := r.tree.leaf(role, weight)
			held := quantitiesOf(f.Allocated[role])
			r.fws = append(r.fws, fwState{f: f, role: role, leaf: leaf, held: held,
				client: Client{Index: len(r.fws), Name: f.ID, Weight: 1, Share: held.dominant(r.total, &a.counted)}})
			fs := &r.fws[len(r.fws)-1]
			leaf.frameworks = append(leaf.frameworks, &fs.client)
			for n := leaf; n.parent != nil; n = n.parent {
				n.allocated = n.allocated.plus(held)
			}
		}
	}
	for name, cfg := range s.Roles {
		if len(cfg.Guarantees) == 0 && len(cfg.Limits) == 0 {
			continue
		}
		node := r.tree.node(name, weight)
		node.hasQuota = true
		node.guarantee = qtyFromMap(cfg.Guarantees, 0)
		node.limit = qtyFromMap(cfg.Limits, unlimited[0])
		r.quota = true
		r.hasGtee = r.hasGtee || node.guarantee != (qty{})
	}
	if r.hasGtee {
		for _, node := range r.tree.nodes {
			if node.hasQuota && !node.self && node.quotaRoot() == node {
				r.headroomNeed = r.headroomNeed.plus(node.guarantee.minus(node.allocated).positive())
			}
		}
	}
	r.tree.sortAll(a.frames)
	return r
}

// allocateAgent offers what av has to the roles in DRF order. In the
// guarantee stage only roles with unmet guarantees take part, and only up
// to what they are guaranteed.
func (r *round) allocateAgent(av *agentView, guaranteeStage bool) {
	for _, leaf := range r.tree.visitOrder() {
		if av.empty() {
			return
		}
		var need qty
		if guaranteeStage {
			if need = leaf.need(); need == (qty{}) {
				continue
			}
		}
		parts, reservedQ := av.reservedFor(leaf.name)
		allowed := av.unreservedQ
		var capped Reason
		if r.quota {
			parts, reservedQ, allowed, capped = r.quotaCap(leaf, parts, reservedQ, allowed, need, guaranteeStage)
		}
		offerQ := reservedQ.plus(allowed)
		if !r.a.allocatable(offerQ) {
			if guaranteeStage {
				continue
			}
			switch {
			case capped != "" && r.a.allocatable(reservedQ.plus(av.unreservedQ)):
				leaf.skip(capped)
			case len(av.unreserved) == 0 && len(av.reserved) > 0:
				leaf.skip(ReasonReservedOther)
			default:
				leaf.skip(ReasonNoResources)
			}
			continue
		}
		var candidate resources.Resources
		for i, c := range leaf.frameworks {
			f := &r.fws[c.Index]
			var reason Reason
			switch {
			case f.f.Suppressed[leaf.name]:
				reason = ReasonSuppressed
			case av.gpu && !f.f.Capabilities.GPUResources:
				reason = ReasonGPUAgent
			default:
				if candidate == nil {
					candidate = av.build(parts, allowed)
				}
				if filtered(f.f, av.ag.ID, candidate, r.s.Now) {
					reason = ReasonFiltered
				}
			}
			if reason != "" {
				if !guaranteeStage { // the last stage sees every agent once
					f.skip(reason)
				}
				continue
			}
			r.offers = append(r.offers, Offer{FrameworkID: f.f.ID, AgentID: av.ag.ID, Role: leaf.name, Resources: candidate})
			av.take(parts, allowed, candidate)
			f.held = f.held.plus(offerQ)
			f.client.Share = f.held.dominant(r.total, &r.a.counted)
			r.a.frames.Bumped(leaf.frameworks, i)
			r.charge(leaf, offerQ, allowed)
			leaf.skip(ReasonOfferedToPeer) // for the role's other frameworks
			break
		}
	}
}

// quotaCap limits the unreserved scalars a role may take: never past a
// limit of it or an ancestor; in the guarantee stage, no more than the
// unmet guarantee of the kinds it names; otherwise not into the headroom
// other roles' unmet guarantees need.
func (r *round) quotaCap(leaf *roleNode, parts []int, reservedQ, allowed, need qty, guaranteeStage bool) ([]int, qty, qty, Reason) {
	var capped Reason
	limit := leaf.limitLeft()
	for k := range limit {
		if reservedQ[k] > limit[k]+epsilon {
			// Reservations are offered whole or not at all.
			parts, reservedQ, capped = nil, qty{}, ReasonQuotaLimit
			break
		}
	}
	limit = limit.minus(reservedQ).positive()
	var gtee qty
	if q := leaf.quotaRoot(); q != nil {
		gtee = q.guarantee
	}
	own := leaf.need()
	for k := range allowed {
		if limit[k] < allowed[k] {
			allowed[k], capped = limit[k], ReasonQuotaLimit
		}
		if guaranteeStage && gtee[k] > 0 {
			allowed[k] = min(allowed[k], max(need[k]-reservedQ[k], 0))
			continue
		}
		if !r.hasGtee {
			continue
		}
		spare := max(r.unreservedAvail[k]-r.headroomNeed[k]+own[k], 0)
		if spare+epsilon < allowed[k] {
			allowed[k] = spare
			if capped == "" {
				capped = ReasonQuotaHeadroom
			}
		}
	}
	return parts, reservedQ, allowed.positive(), capped
}

// charge books an offer of q (of which unreserved u) to the leaf's role.
func (r *round) charge(leaf *roleNode, q, u qty) {
	root := leaf.quotaRoot()
	var before qty
	if root != nil {
		before = root.guarantee.minus(root.allocated).positive()
	}
	r.tree.allocated(leaf, q)
	r.unreservedAvail = r.unreservedAvail.minus(u)
	if root != nil && r.hasGtee {
		after := root.guarantee.minus(root.allocated).positive()
		r.headroomNeed = r.headroomNeed.minus(before).plus(after)
	}
}

// reservedFor returns the reserved parts a role may be offered (its own
// and its ancestors' reservations).
func (v *agentView) reservedFor(role string) ([]int, qty) {
	var idx []int
	var q qty
	for i, p := range v.reserved {
		if p.role == role || resources.IsAncestor(p.role, role) {
			idx = append(idx, i)
			q = q.plus(p.q)
		}
	}
	return idx, q
}

// build makes the resources of an offer: the reserved parts, and the
// unreserved resources with scalars cut down to allowed.
func (v *agentView) build(parts []int, allowed qty) resources.Resources {
	whole := allowed == v.unreservedQ
	if whole && len(parts) == 0 {
		return v.unreserved // shared, never modified
	}
	var out resources.Resources
	for _, i := range parts {
		out = append(out, v.reserved[i].res...)
	}
	if whole {
		return append(out, v.unreserved...)
	}
	left := allowed
	for _, x := range v.unreserved {
		k, ok := kindOf(x.GetName())
		if !ok || x.GetType() != mesospb.Value_SCALAR {
			out = append(out, x)
			continue
		}
		take := min(x.GetScalar().GetValue(), left[k])
		if take < epsilon {
			continue
		}
		left[k] -= take
		if take == x.GetScalar().GetValue() {
			out = append(out, x)
			continue
		}
		y := proto.CloneOf(x)
		y.Scalar = &mesospb.Value_Scalar{Value: proto.Float64(roundMilli(take))}
		out = append(out, y)
	}
	return out
}

func roundMilli(v float64) float64 {
	return float64(int64(v*1000+0.5)) / 1000
}

// take removes an offer's resources from the view.
func (v *agentView) take(parts []int, allowed qty, offered resources.Resources) {
	for j := len(parts) - 1; j >= 0; j-- {
		i := parts[j]
		v.reserved = append(v.reserved[:i], v.reserved[i+1:]...)
	}
	if allowed == v.unreservedQ {
		v.unreserved, v.unreservedQ = nil, qty{}
		return
	}
	v.unreserved = v.unreserved.Subtract(offered.Unreserved())
	v.unreservedQ = quantitiesOf(v.unreserved)
}

func filtered(f *Framework, agentID string, candidate resources.Resources, now time.Time) bool {
	for _, fl := range f.Filters[agentID] {
		if now.Before(fl.Expires) && fl.Resources.Contains(candidate) {
			return true
		}
	}
	return false
}
