package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// framework launches the measured tasks: offers are taken one at a time,
// updates handed over as they come.
type framework struct {
	s       *sdk.Scheduler
	offers  chan *mesospb.Offer
	updates chan *mesospb.TaskStatus
	stop    func()
}

func startFramework(master string) (*framework, error) {
	f := &framework{offers: make(chan *mesospb.Offer), updates: make(chan *mesospb.TaskStatus, 4096)}
	s, err := sdk.New(sdk.Config{Master: master, Logger: slog.New(slog.DiscardHandler),
		Framework: &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("images-bench")}},
		sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error {
			for _, o := range ev.GetOffers().GetOffers() {
				select {
				case f.offers <- o:
				default: // nobody is launching: back to the pool
					if err := f.s.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 0); err != nil {
						return err
					}
				}
			}
			if st := ev.GetUpdate().GetStatus(); st != nil {
				f.updates <- st
			}
			return nil
		}))
	if err != nil {
		return nil, err
	}
	f.s = s
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	f.stop = func() { _ = s.Teardown(context.Background()); cancel(); <-done }
	return f, nil
}

// offer waits for an offer with room for n tasks.
func (f *framework) offer(n int) (*mesospb.Offer, error) {
	timeout := time.After(time.Minute)
	for {
		select {
		case o := <-f.offers:
			if _, ok := sdk.NewSpace(o).Take(0.1*float64(n), 32*float64(n), 0, 0); ok {
				return o, nil
			}
			if err := f.s.Decline(context.Background(), []*mesospb.OfferID{o.GetId()}, 0); err != nil {
				return nil, err
			}
		case <-timeout:
			return nil, errors.New("no offer large enough within a minute")
		}
	}
}

// task is a `sleep` task, from image unless it is "".
func task(o *mesospb.Offer, space *sdk.Space, id, image string) *mesospb.TaskInfo {
	res, _ := space.Take(0.1, 32, 0, 0)
	ti := sdk.CommandTask(id, id, o, "sleep 60", res)
	if image != "" {
		sdk.WithImage(ti, image, false)
	}
	return ti
}

// launchOne times ACCEPT → TASK_RUNNING of one task, then kills it and
// waits for it to end, so that launches do not overlap.
func (f *framework) launchOne(id, image string) (time.Duration, error) {
	o, err := f.offer(1)
	if err != nil {
		return 0, err
	}
	sent := time.Now()
	if err := f.s.Launch(context.Background(), o, 0, task(o, sdk.NewSpace(o), id, image)); err != nil {
		return 0, err
	}
	var took time.Duration
	if err := f.await(map[string]bool{id: true}, mesospb.TaskState_TASK_RUNNING, func() { took = time.Since(sent) }); err != nil {
		return 0, err
	}
	if err := f.s.Kill(context.Background(), id, ""); err != nil {
		return 0, err
	}
	return took, f.await(map[string]bool{id: true}, mesospb.TaskState_TASK_KILLED, nil)
}

// launchMany launches n tasks of image in one ACCEPT and times it to the
// last TASK_RUNNING; then kills them.
func (f *framework) launchMany(n int, image string) (time.Duration, error) {
	o, err := f.offer(n)
	if err != nil {
		return 0, err
	}
	space := sdk.NewSpace(o)
	ids := map[string]bool{}
	var tasks []*mesospb.TaskInfo
	for i := range n {
		id := fmt.Sprintf("burst-%d", i)
		ids[id] = true
		tasks = append(tasks, task(o, space, id, image))
	}
	sent := time.Now()
	if err := f.s.Launch(context.Background(), o, 0, tasks...); err != nil {
		return 0, err
	}
	var took time.Duration
	if err := f.await(ids, mesospb.TaskState_TASK_RUNNING, func() { took = time.Since(sent) }); err != nil {
		return 0, err
	}
	for id := range ids {
		if err := f.s.Kill(context.Background(), id, ""); err != nil {
			return 0, err
		}
	}
	return took, f.await(ids, mesospb.TaskState_TASK_KILLED, nil)
}

// await waits until every task in ids reached state, calling reached
// when the last one does; any other terminal state is an error.
func (f *framework) await(ids map[string]bool, state mesospb.TaskState, reached func()) error {
	left := len(ids)
	seen := map[string]bool{}
	timeout := time.After(2 * time.Minute)
	for left > 0 {
		select {
		case st := <-f.updates:
			id := st.GetTaskId().GetValue()
			if !ids[id] || seen[id] {
				continue
			}
			switch {
			case st.GetState() == state:
				seen[id] = true
				left--
			case mesospb.IsTerminal(st.GetState()):
				return fmt.Errorf("task %s", sdk.Describe(st))
			}
		case <-timeout:
			return fmt.Errorf("%d tasks did not reach %s within 2 minutes", left, state)
		}
	}
	if reached != nil {
		reached()
	}
	return nil
}
