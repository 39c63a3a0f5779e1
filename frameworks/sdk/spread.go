package sdk

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Spread modes: how firmly a group's instances are kept apart.
const (
	// SpreadPreferred places each instance in the failure domain holding
	// the fewest of its group among the offers in hand, and declines
	// offers that would share a domain for a bounded time while a less
	// loaded one may still offer (see ChooseSpread): Kubernetes' default
	// topology spread (ScheduleAnyway), on offers.
	SpreadPreferred = "preferred"
	// SpreadRequired never puts two instances of a group in one domain;
	// an instance with nowhere to go waits (DoNotSchedule).
	SpreadRequired = "required"
	// SpreadNone takes the first offer that fits, as constraints alone do.
	SpreadNone = "none"
)

// Spread keeps the instances of one group (a pet set, an app's
// instances) apart across failure domains: hosts, or the values of an
// agent attribute such as zone, so that one machine's (or zone's) loss
// takes as few of them as possible.
type Spread struct {
	// Mode is SpreadPreferred, SpreadRequired or SpreadNone.
	Mode string
	// By names the domain: "hostname" or an agent attribute's name.
	By string
}

var spreadBy = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9_.-]{0,62}[A-Za-z0-9])?$`)

// Validate reports a mode or a domain name that cannot be used.
func (s Spread) Validate() error {
	switch s.Mode {
	case SpreadPreferred, SpreadRequired, SpreadNone:
	default:
		return fmt.Errorf("spread %q: use %s, %s or %s", s.Mode, SpreadPreferred, SpreadRequired, SpreadNone)
	}
	if !spreadBy.MatchString(s.By) {
		return fmt.Errorf("spread by %q: use hostname or an agent attribute's name (letters, digits, '.', '_' and '-')", s.By)
	}
	return nil
}

// domain is p's failure domain; ok is false when p's agent lacks the
// attribute. Under a preferred spread such agents share one domain, the
// empty value; a required spread cannot place there at all.
func (s Spread) domain(p Placement) (string, bool) {
	if s.By == "hostname" {
		return p.Hostname, true
	}
	v, ok := p.Attributes[s.By]
	return v, ok
}

// SpreadInput is one decision: which of the offers in hand takes the
// next instance of a group.
type SpreadInput struct {
	// Rule is the group's spread.
	Rule Spread
	// What names one instance for reasons, e.g. "pet of db".
	What string
	// Placed is where the group's instances are: running, holding a
	// reservation, or placed earlier in this round of offers.
	Placed []Placement
	// InHand are the agents of the offers in hand that can take the
	// instance now (role, constraints and resources all met), in the
	// order ties are broken.
	InHand []Placement
	// Elsewhere lists the agents not in hand that were offered recently
	// and could take the instance (constraints met, room in their latest
	// offer). Called only when the choice depends on it.
	Elsewhere func() []Placement
	// Since is when the instance started waiting to be placed; Settled
	// is how long after that Elsewhere is taken to know every agent that
	// can offer (offers of a freshly revived framework come in over a
	// round or two). With Settled zero it always is.
	Since time.Time
	// Settled: see Since.
	Settled time.Duration
	// Watching, when set, is since when the framework has been seeing
	// offers (SeenAgents.Watching): once Settled has passed since then too,
	// Elsewhere is complete and a new instance need not wait out Settled
	// itself.
	Watching time.Time
	// HeldSince is when a preferred spread first held the instance back;
	// zero if it never did.
	HeldSince time.Time
	// Wait bounds how long a preferred spread holds an instance back.
	Wait time.Duration
	// Now is the time of the decision.
	Now time.Time
}

// SpreadChoice is the outcome of ChooseSpread.
type SpreadChoice struct {
	// Index into InHand of the agent to use, or -1.
	Index int
	// Held is true when a preferred spread declines the offers in hand
	// for now; the caller keeps the time of the first hold as HeldSince.
	Held bool
	// Reason says why no agent in hand was chosen.
	Reason string
}

// ChooseSpread picks the agent in hand whose domain holds the fewest of
// the group (the first such, on a tie). Under a required spread that
// count must be zero. Under a preferred spread an agent whose domain
// already holds some is taken only when no agent known elsewhere could
// hold fewer and the instance has waited Settled, or when the instance
// has been held back for Wait: a bounded wait, never starvation.
func ChooseSpread(in SpreadInput) SpreadChoice {
	none := SpreadChoice{Index: -1}
	if len(in.InHand) == 0 {
		return none
	}
	if in.Rule.Mode != SpreadPreferred && in.Rule.Mode != SpreadRequired {
		return SpreadChoice{Index: 0}
	}
	load := make(map[string]int)
	for _, p := range in.Placed {
		if d, ok := in.Rule.domain(p); ok || in.Rule.Mode == SpreadPreferred {
			load[d]++
		}
	}
	required := in.Rule.Mode == SpreadRequired
	best, least := -1, 0
	var lacking, taken []string
	for i, c := range in.InHand {
		d, ok := in.Rule.domain(c)
		switch {
		case required && !ok:
			lacking = append(lacking, c.Hostname)
			continue
		case required && load[d] > 0:
			taken = append(taken, c.Hostname)
			continue
		}
		if best < 0 || load[d] < least {
			best, least = i, load[d]
		}
	}
	if best < 0 {
		none.Reason = requiredReason(in, lacking, taken)
		return none
	}
	if required || least == 0 {
		return SpreadChoice{Index: best}
	}
	if !in.HeldSince.IsZero() && in.Now.Sub(in.HeldSince) >= in.Wait {
		return SpreadChoice{Index: best}
	}
	var better []string
	if in.Elsewhere != nil {
		for _, c := range in.Elsewhere() {
			if d, _ := in.Rule.domain(c); load[d] < least {
				better = append(better, c.Hostname)
			}
		}
	}
	settled := in.Now.Sub(in.Since) >= in.Settled || (!in.Watching.IsZero() && in.Now.Sub(in.Watching) >= in.Settled)
	if len(better) == 0 && settled {
		return SpreadChoice{Index: best}
	}
	none.Held = true
	waitFor := "other agents to offer"
	if len(better) > 0 {
		waitFor = list(better) + " to offer"
	}
	none.Reason = fmt.Sprintf("spreading by %s: every offered agent (%s) already has a %s %s; waiting up to %s for %s",
		in.Rule.By, hostnames(in.InHand), in.What, in.Rule.where(), in.Wait, waitFor)
	return none
}

// where names an agent's domain in a sentence.
func (s Spread) where() string {
	if s.By == "hostname" {
		return "on its host"
	}
	return "in its " + s.By
}

func requiredReason(in SpreadInput, lacking, taken []string) string {
	var parts []string
	if len(taken) > 0 {
		parts = append(parts, fmt.Sprintf("a %s already %s (%s)", in.What, in.Rule.where(), list(taken)))
	}
	if len(lacking) > 0 {
		parts = append(parts, fmt.Sprintf("no attribute %s (%s)", in.Rule.By, list(lacking)))
	}
	return fmt.Sprintf("spread required by %s: every offered agent has %s", in.Rule.By, strings.Join(parts, " or "))
}

func hostnames(ps []Placement) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Hostname)
	}
	return list(out)
}

// list names up to five hosts, without repeats.
func list(names []string) string {
	names = slices.Compact(slices.Sorted(slices.Values(names)))
	if len(names) > 5 {
		return strings.Join(names[:5], ", ") + fmt.Sprintf(" and %d more", len(names)-5)
	}
	return strings.Join(names, ", ")
}
