package guide

import (
	"context"
	"fmt"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Stateful is the offer handling of a framework whose task keeps data
// that must outlive it (a database): the first launch reserves resources
// for the framework's role and creates a persistent volume on them, and
// every later launch uses exactly those, which no other role is offered.
type Stateful struct {
	Sched *sdk.Scheduler
	// Role is the framework's role; the reservation is for it.
	Role string
	// Cmd is the task's command; its volume is at ./data.
	Cmd string
	// Running is set by Offers when it launches, and cleared by the
	// framework when the task ends.
	Running  bool
	launches int
}

// Offers launches the task where its data is, or makes a home for it.
func (s *Stateful) Offers(ctx context.Context, offers []*mesospb.Offer) error {
	for _, o := range offers {
		if s.Running {
			if err := s.Sched.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 300); err != nil {
				return err
			}
			continue
		}
		var ops []*mesospb.Offer_Operation
		home := sdk.Labeled(o.GetResources(), "app", "db")
		if len(home) == 0 {
			res, ok := sdk.NewSpace(o).Take(0.1, 32, 16, 0) // cpus, mem, disk
			if !ok {
				if err := s.Sched.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 300); err != nil {
					return err
				}
				continue
			}
			reserved := sdk.Reserve(res, s.Role, "", map[string]string{"app": "db"})
			volume := sdk.Volume(reserved[2], "db-data", "data", "")
			ops = append(ops, sdk.ReserveOperation(reserved), sdk.CreateOperation(volume))
			// The task uses the volume, made of the reserved disk.
			home = append(reserved[:2:2], volume)
		}
		s.launches++
		task := sdk.CommandTask("db", fmt.Sprintf("db.%d", s.launches), o, s.Cmd, home)
		ops = append(ops, sdk.LaunchOperation(task))
		if err := s.Sched.Accept(ctx, []*mesospb.OfferID{o.GetId()}, ops, 300); err != nil {
			return err
		}
		s.Running = true
	}
	return nil
}
