package service

import (
	"slices"
	"time"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
)

// handOffer is one offer in hand while a round of offers is shared out.
type handOffer struct {
	offer *mesospb.Offer
	space *sdk.Space // its unreserved resources not yet taken
	cand  sdk.Placement
	role  string
}

// spread is how an app's instances keep apart. An app without
// constraints prefers a host with fewer of its instances (Kubernetes'
// default topology spread); an app with constraints is placed by them
// alone, as Marathon places it.
func (a *App) spread() sdk.Spread {
	if len(a.Constraints) > 0 {
		return sdk.Spread{Mode: sdk.SpreadNone, By: "hostname"}
	}
	return sdk.Spread{Mode: sdk.SpreadPreferred, By: "hostname"}
}

// placeApp launches as many of the app's waiting instances as the
// offers in hand take, each on the offer its constraints or its spread
// choose among all of them, and counts why each offer it did not use
// was of no use.
func (f *Framework) placeApp(as *appState, hand []handOffer, inHand map[string]bool, launches [][]*mesospb.TaskInfo, now time.Time) {
	app := as.Spec
	if as.wanted == 0 {
		return
	}
	cs, _ := sdk.ParseConstraints(app.Constraints)
	placed := f.placements(app.ID)
	rule := app.spread()
	var spreadPlaced []sdk.Placement
	if rule.Mode != sdk.SpreadNone {
		spreadPlaced = f.spreadPlacements(app.ID, as.Runtime)
	}
	wantPorts := app.hostPorts()
	why := make([]string, len(hand))
	used := make([]int, len(hand))
	for i, h := range hand {
		as.Offers.Processed++
		switch {
		case now.Before(as.DelayUntil):
			why[i] = reasonDelay
		case app.Role != h.role:
			why[i] = reasonRole
		case f.draining[h.cand.AgentID]:
			why[i] = reasonMaintenance
		}
	}
	ruledOut := slices.Clone(why) // for the whole round
	for as.wanted > 0 {
		var cands []sdk.Placement
		var at []int
		for i, h := range hand {
			if ruledOut[i] != "" {
				continue
			}
			if _, ok := sdk.Satisfies(cs, h.cand, placed); !ok {
				why[i] = reasonConstraint
				continue
			}
			if short := h.space.Shortfall(app.CPUs, app.Mem, app.Disk, wantPorts); short != "" {
				why[i] = shortfallReason[short]
				continue
			}
			cands, at = append(cands, h.cand), append(at, i)
		}
		ch := sdk.ChooseSpread(sdk.SpreadInput{
			Rule: rule, What: "instance of " + app.ID, Placed: spreadPlaced, InHand: cands,
			Elsewhere: func() []sdk.Placement { return f.elsewhere(app, inHand, now) },
			Since:     as.Since, Settled: f.cfg.SpreadSettle, Watching: f.seen.Watching(app.Role, now.Add(-f.cfg.SpreadMemory)),
			HeldSince: as.spreadHeld, Wait: f.cfg.SpreadWait, Now: now,
		})
		if ch.Index < 0 {
			if ch.Held {
				if as.spreadHeld.IsZero() {
					as.spreadHeld = now
				}
				for _, i := range at {
					why[i] = reasonSpread
				}
			}
			break
		}
		i := at[ch.Index]
		res, ports, ok := hand[i].space.TakePorts(app.CPUs, app.Mem, app.Disk, wantPorts)
		if !ok {
			why[i], ruledOut[i] = reasonPorts, reasonPorts
			continue
		}
		launches[i] = append(launches[i], f.launchRecord(as, hand[i].offer, res, ports, now))
		placed = append(placed, hand[i].cand)
		spreadPlaced = append(spreadPlaced, hand[i].cand)
		as.wanted--
		used[i]++
	}
	for i := range hand {
		if used[i] > 0 {
			as.Offers.LastUsed = now
		} else if why[i] != "" {
			as.Offers.declined(why[i], now)
		}
	}
}

// spreadPlacements lists where an app's instances of its current
// runtime run: those of an older one are on their way out, so a rolling
// upgrade spreads its new instances afresh (as Kubernetes counts only
// the pods of one ReplicaSet).
func (f *Framework) spreadPlacements(appID, runtime string) []sdk.Placement {
	var out []sdk.Placement
	for _, in := range f.instances {
		if in.AppID == appID && in.Runtime == runtime && !in.killing() && !in.Replaced {
			out = append(out, in.placement())
		}
	}
	return out
}

// elsewhere lists the agents not in hand, offered for the app's role
// within the last SpreadMemory, whose latest offer had room for an
// instance.
func (f *Framework) elsewhere(app *App, inHand map[string]bool, now time.Time) []sdk.Placement {
	var out []sdk.Placement
	for _, a := range f.seen.Recent(app.Role, now.Add(-f.cfg.SpreadMemory)) {
		if inHand[a.AgentID+" "+a.Role] || f.draining[a.AgentID] {
			continue
		}
		if sdk.NewSpace(a.Unreserved).Shortfall(app.CPUs, app.Mem, app.Disk, app.hostPorts()) == "" {
			out = append(out, a.Placement)
		}
	}
	return out
}
