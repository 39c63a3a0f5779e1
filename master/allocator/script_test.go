package allocator

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit/golden"
	"github.com/corral-sched/corral/resources"
)

// TestScripts runs the allocation scripts in testdata/*.script and compares
// what they print with the .golden files next to them (go test -update
// rewrites those). A script builds a cluster, allocates, and reacts to the
// offers as a framework would:
//
//	agent ID RESOURCES             add an agent (resources in --resources syntax)
//	framework ID ROLE[,ROLE] [gpu] add a connected framework
//	role NAME [weight=W] [guarantee=R] [limit=R]   configure a role
//	allocate                       run a round; offers become allocations
//	decline FW AGENT SECONDS       give an offer's resources back, filtered
//	finish FW AGENT                free what FW holds on AGENT
//	suppress FW ROLE / revive FW   stop and resume offers; revive clears filters
//	tick SECONDS                   advance the clock
func TestScripts(t *testing.T) {
	golden.Scripts(t, "testdata/*.script", runScript)
}

// cluster is the state a script drives.
type cluster struct {
	t      *testing.T
	now    time.Time
	agents []Agent
	fws    []Framework
	roles  map[string]Role
	held   map[[2]string]resources.Resources // (framework, agent) → resources, per role in heldRole
	role   map[[2]string]string
	alloc  *Allocator
}

func runScript(t *testing.T, path string) string {
	c := &cluster{t: t, now: t0, roles: make(map[string]Role), held: make(map[[2]string]resources.Resources),
		role: make(map[[2]string]string), alloc: New(Options{})}
	return golden.Script(t, path, c.do)
}

func (c *cluster) agent(id string) *Agent {
	for i := range c.agents {
		if c.agents[i].ID == id {
			return &c.agents[i]
		}
	}
	c.t.Fatalf("no agent %s", id)
	return nil
}

func (c *cluster) framework(id string) *Framework {
	for i := range c.fws {
		if c.fws[i].ID == id {
			return &c.fws[i]
		}
	}
	c.t.Fatalf("no framework %s", id)
	return nil
}

func parseQty(text string) (map[string]float64, error) {
	r, err := resources.Parse(text, "*")
	if err != nil {
		return nil, err
	}
	return r.Quantities(), nil
}

func (c *cluster) do(args []string, out *strings.Builder) error {
	switch args[0] {
	case "agent":
		r, err := resources.Parse(args[2], "*")
		if err != nil {
			return err
		}
		c.agents = append(c.agents, Agent{ID: args[1], Hostname: args[1], Total: r, Available: r.Clone()})
	case "framework":
		f := Framework{ID: args[1], Roles: strings.Split(args[2], ","), Allocated: map[string]resources.Resources{},
			Suppressed: map[string]bool{}}
		f.Capabilities.GPUResources = slices.Contains(args, "gpu")
		c.fws = append(c.fws, f)
	case "role":
		cfg := c.roles[args[1]]
		for _, kv := range args[2:] {
			k, v, _ := strings.Cut(kv, "=")
			var err error
			switch k {
			case "weight":
				cfg.Weight, err = strconv.ParseFloat(v, 64)
			case "guarantee":
				cfg.Guarantees, err = parseQty(v)
			case "limit":
				cfg.Limits, err = parseQty(v)
			default:
				err = fmt.Errorf("unknown role setting %q", k)
			}
			if err != nil {
				return err
			}
		}
		c.roles[args[1]] = cfg
	case "allocate":
		c.allocate(out)
	case "decline", "finish":
		key := [2]string{args[1], args[2]}
		res, role := c.held[key], c.role[key]
		if res == nil {
			return fmt.Errorf("%s holds nothing on %s", args[1], args[2])
		}
		delete(c.held, key)
		f, a := c.framework(args[1]), c.agent(args[2])
		f.Allocated[role] = f.Allocated[role].Subtract(res)
		a.Available = a.Available.Add(res)
		if args[0] == "decline" {
			secs, err := strconv.ParseFloat(args[3], 64)
			if err != nil {
				return err
			}
			if f.Filters == nil {
				f.Filters = make(map[string][]Filter)
			}
			f.Filters[a.ID] = append(f.Filters[a.ID], Filter{AgentID: a.ID, Resources: res, Expires: c.now.Add(time.Duration(secs * float64(time.Second)))})
		}
	case "suppress":
		c.framework(args[1]).Suppressed[args[2]] = true
	case "revive":
		f := c.framework(args[1])
		f.Suppressed, f.Filters = map[string]bool{}, nil
	case "tick":
		secs, err := strconv.ParseFloat(args[1], 64)
		if err != nil {
			return err
		}
		c.now = c.now.Add(time.Duration(secs * float64(time.Second)))
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
	return nil
}

// allocate runs a round, prints it, and books its offers as allocations.
func (c *cluster) allocate(out *strings.Builder) {
	s := &Snapshot{Now: c.now, Agents: slices.Clone(c.agents), Frameworks: c.fws, Roles: c.roles}
	res := c.alloc.Allocate(s)
	checkRound(c.t, s, res)
	for _, o := range res.Offers {
		fmt.Fprintf(out, "offer %s@%s/%s: %s\n", o.FrameworkID, o.AgentID, o.Role, resources.Resources(nil).Add(o.Resources))
		key := [2]string{o.FrameworkID, o.AgentID}
		c.held[key] = c.held[key].Add(o.Resources)
		c.role[key] = o.Role
		f, a := c.framework(o.FrameworkID), c.agent(o.AgentID)
		f.Allocated[o.Role] = f.Allocated[o.Role].Add(o.Resources)
		a.Available = a.Available.Subtract(o.Resources)
	}
	for _, sk := range res.Skips {
		fmt.Fprintf(out, "skip %s/%s: %s ×%d\n", sk.FrameworkID, sk.Role, sk.Reason, sk.Agents)
	}
	// The DRF shares after the round, written out.
	var total resources.Resources
	for _, a := range c.agents {
		total = total.Add(a.Total)
	}
	for _, f := range c.fws {
		for _, role := range f.Roles {
			fmt.Fprintf(out, "share %s/%s: %s\n", f.ID, role, shareText(f.Allocated[role], total))
		}
	}
}

func shareText(held, total resources.Resources) string {
	var parts []string
	for _, name := range []string{"cpus", "mem", "disk", "gpus"} {
		if t := total.ScalarValue(name); t > 0 && held.ScalarValue(name) > 0 {
			parts = append(parts, fmt.Sprintf("%s %g/%g", name, held.ScalarValue(name), t))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// checkRound asserts what must hold after any round: offers come out of
// what agents have available, no resource is offered twice, and reserved
// resources go only to their role or its descendants.
func checkRound(t *testing.T, s *Snapshot, res Result) {
	t.Helper()
	left := make(map[string]resources.Resources)
	for _, a := range s.Agents {
		left[a.ID] = a.Available
	}
	for _, o := range res.Offers {
		if !left[o.AgentID].Contains(o.Resources) {
			t.Fatalf("offer to %s on %s holds %s, more than the %s available", o.FrameworkID, o.AgentID, o.Resources, left[o.AgentID])
		}
		left[o.AgentID] = left[o.AgentID].Subtract(o.Resources)
		for _, x := range o.Resources {
			if rr := resources.ReservedRole(x); rr != "" && rr != o.Role && !resources.IsAncestor(rr, o.Role) {
				t.Fatalf("resources reserved for %s offered to role %s", rr, o.Role)
			}
		}
	}
}
