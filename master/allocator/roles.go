package allocator

import (
	"slices"
	"strings"
)

// roleTree is hierarchical DRF's view of the roles: each node's share is
// that of its whole subtree, siblings are ordered by weighted share, and a
// role that has frameworks of its own and children competes with its
// children through a "self" leaf (as Mesos does).
type roleTree struct {
	nodes  []*roleNode
	byName map[string]*roleNode
	root   *roleNode
	sorter Sorter
	total  *qty
	count  *[numKinds]bool
	order  []*roleNode // scratch for visitOrder
}

type roleNode struct {
	name   string // the role; "" for the root
	self   bool   // the leaf holding the role's own frameworks
	parent *roleNode
	client Client    // this node among its siblings
	kids   []*Client // children, in order; Index is into roleTree.nodes

	weight    float64
	allocated qty // the subtree's tasks and offers

	// Quota of the role (on its node, not on the self leaf).
	guarantee, limit qty
	hasQuota         bool

	// Frameworks of a self leaf, in order; Index is into round.fws.
	frameworks []*Client
	// roleSkips counts agents the whole role got nothing from, by reason.
	roleSkips map[Reason]int
}

func newRoleTree(sorter Sorter, total *qty, counted *[numKinds]bool) *roleTree {
	t := &roleTree{byName: make(map[string]*roleNode), sorter: sorter, total: total, count: counted}
	t.root = t.add("", nil, 1)
	return t
}

func (t *roleTree) add(name string, parent *roleNode, weight float64) *roleNode {
	n := &roleNode{name: name, parent: parent, weight: weight, limit: unlimited}
	n.client = Client{Index: len(t.nodes), Name: name, Weight: weight}
	t.nodes = append(t.nodes, n)
	if parent != nil {
		parent.kids = append(parent.kids, &n.client)
	}
	return n
}

// node returns the role's node, creating it and its ancestors.
func (t *roleTree) node(role string, weight func(string) float64) *roleNode {
	if n := t.byName[role]; n != nil {
		return n
	}
	parent := t.root
	if i := strings.LastIndexByte(role, '/'); i > 0 {
		parent = t.node(role[:i], weight)
	}
	n := t.add(role, parent, weight(role))
	t.byName[role] = n
	return n
}

// leaf returns the self leaf of role, where its frameworks live.
func (t *roleTree) leaf(role string, weight func(string) float64) *roleNode {
	n := t.node(role, weight)
	for _, k := range n.kids {
		if c := t.nodes[k.Index]; c.self {
			return c
		}
	}
	leaf := t.add(role, n, n.weight)
	leaf.self = true
	leaf.client.Name = role + "/." // sorts after the role's children of equal share
	return leaf
}

// sortAll orders every sibling list and every role's frameworks.
func (t *roleTree) sortAll(fwSorter Sorter) {
	for _, n := range t.nodes {
		n.client.Share = n.allocated.dominant(*t.total, t.count)
	}
	for _, n := range t.nodes {
		t.sorter.Sort(n.kids)
		if n.self {
			fwSorter.Sort(n.frameworks)
		}
	}
}

// visitOrder returns the self leaves in hierarchical DRF order.
func (t *roleTree) visitOrder() []*roleNode {
	t.order = t.order[:0]
	var walk func(n *roleNode)
	walk = func(n *roleNode) {
		for _, k := range n.kids {
			c := t.nodes[k.Index]
			if c.self {
				if len(c.frameworks) > 0 {
					t.order = append(t.order, c)
				}
				continue
			}
			walk(c)
		}
	}
	walk(t.root)
	return t.order
}

// allocated adds q to leaf and its ancestors and restores the sibling
// orders along the way.
func (t *roleTree) allocated(leaf *roleNode, q qty) {
	for n := leaf; n.parent != nil; n = n.parent {
		n.allocated = n.allocated.plus(q)
		n.client.Share = n.allocated.dominant(*t.total, t.count)
		kids := n.parent.kids
		if i := slices.Index(kids, &n.client); i >= 0 {
			t.sorter.Bumped(kids, i)
		}
	}
}

// roleNode returns the node of the role the leaf belongs to.
func (n *roleNode) role() *roleNode {
	if n.self {
		return n.parent
	}
	return n
}

// limitLeft is what the role may still take before it or an ancestor
// reaches its limit.
func (n *roleNode) limitLeft() qty {
	left := unlimited
	for r := n.role(); r.parent != nil; r = r.parent {
		if !r.hasQuota {
			continue
		}
		for k := range left {
			left[k] = min(left[k], r.limit[k]-r.allocated[k])
		}
	}
	return left.positive()
}

// quotaRoot is the highest ancestor-or-self of the role with a guarantee:
// its unmet guarantee is what the role's allocations reduce.
func (n *roleNode) quotaRoot() *roleNode {
	var q *roleNode
	for r := n.role(); r.parent != nil; r = r.parent {
		if r.hasQuota && r.guarantee != (qty{}) {
			q = r
		}
	}
	return q
}

// need is the part of the role's guarantee (the nearest one up the tree)
// not yet met.
func (n *roleNode) need() qty {
	for r := n.role(); r.parent != nil; r = r.parent {
		if r.hasQuota && r.guarantee != (qty{}) {
			return r.guarantee.minus(r.allocated).positive()
		}
	}
	return qty{}
}
