// Command bench measures corral end to end on an in-process cluster (a
// master and three posix agents on loopback) and prints a markdown table:
//
//   - the latency from sending ACCEPT (one LAUNCH of `sleep`) to receiving
//     TASK_RUNNING, over -iterations launches;
//   - the wall time to run -tasks `/bin/true` tasks to TASK_FINISHED.
//
// Run it with `make bench` or `go run ./test/bench`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"runtime"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/examples/hello/hello"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/benchkit"
	"github.com/corral-sched/corral/internal/testcluster"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		containerizer.Init() // re-executed as a container's init
	}
	iterations := flag.Int("iterations", 200, "launches for the latency measurement")
	tasks := flag.Int("tasks", 1000, "tasks for the throughput measurement")
	isolation := flag.String("isolation", "posix", "agents' isolation: posix or linux (root, cgroups)")
	flag.Parse()
	if err := run(*iterations, *tasks, *isolation); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(iterations, tasks int, isolation string) error {
	dir, err := os.MkdirTemp("", "corral-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	c, err := testcluster.New(testcluster.Options{Agents: 3, WorkDir: dir,
		Agent: func(_ int, cfg *agent.Config) { cfg.Isolation = isolation }})
	if err != nil {
		return err
	}
	defer c.Close()

	lat, err := launchLatency(c.MasterAddr, iterations)
	if err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	burst, err := launchBurst(c.MasterAddr, 50)
	if err != nil {
		return fmt.Errorf("burst: %w", err)
	}
	start := time.Now()
	res, err := hello.Run(context.Background(), hello.Options{
		Master: c.MasterAddr, Tasks: tasks, Command: "/bin/true", CPUs: 0.1, Mem: 16,
		Timeout: 10 * time.Minute, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return fmt.Errorf("throughput: %w", err)
	}
	wall := time.Since(start)

	l := benchkit.Summarize(lat)
	fmt.Printf("corral end-to-end, %s isolation, %s, %d cores, %s\n\n", isolation, time.Now().Format("2006-01-02"), runtime.NumCPU(), runtime.Version())
	fmt.Printf("| measure | value |\n|---|---|\n")
	fmt.Printf("| ACCEPT → TASK_RUNNING, one `sleep` task, p50 (%d launches) | %.2f ms |\n", len(lat), l.P50)
	fmt.Printf("| ACCEPT → TASK_RUNNING, p90 | %.2f ms |\n", l.P90)
	fmt.Printf("| ACCEPT → TASK_RUNNING, p99 | %.2f ms |\n", l.P99)
	fmt.Printf("| 50 `sleep` tasks launched at once to all TASK_RUNNING | %.0f ms (%.0f containers/s) |\n",
		benchkit.Ms(burst), 50/burst.Seconds())
	fmt.Printf("| %d `/bin/true` tasks to TASK_FINISHED on 3 %s agents | %.2f s (%.0f tasks/s) |\n",
		res.Finished, isolation, wall.Seconds(), float64(res.Finished)/wall.Seconds())
	return nil
}

// launchBurst launches n `sleep` tasks in one round of offers and times
// the first ACCEPT to the last TASK_RUNNING.
func launchBurst(master string, n int) (time.Duration, error) {
	offers := make(chan []*mesospb.Offer, 16)
	running := make(chan struct{}, n)
	sched, err := sdk.New(sdk.Config{
		Master:    master,
		Framework: &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("burst")},
		Logger:    slog.New(slog.DiscardHandler),
	}, sdk.HandlerFunc(func(_ context.Context, ev *schedulerpb.Event) error {
		if o := ev.GetOffers().GetOffers(); len(o) > 0 {
			offers <- o
		}
		if ev.GetUpdate().GetStatus().GetState() == mesospb.TaskState_TASK_RUNNING {
			running <- struct{}{}
		}
		return nil
	}))
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sched.Run(ctx) }()
	defer func() { _ = sched.Teardown(context.Background()); cancel(); <-done }()
	var batch []*mesospb.Offer
	for len(batch) < 3 {
		select {
		case o := <-offers:
			batch = append(batch, o...)
		case <-time.After(time.Minute):
			return 0, errors.New("no offers from the three agents")
		}
	}
	start := time.Now()
	launched := 0
	for _, o := range batch {
		space := sdk.NewSpace(o)
		var tasks []*mesospb.TaskInfo
		for launched < n {
			res, ok := space.Take(0.05, 16, 0, 0)
			if !ok {
				break
			}
			id := fmt.Sprintf("burst-%d", launched)
			tasks = append(tasks, sdk.CommandTask(id, id, o, "sleep 30", res))
			launched++
		}
		if err := sched.Launch(ctx, o, 0, tasks...); err != nil {
			return 0, err
		}
	}
	if launched < n {
		return 0, fmt.Errorf("only %d of %d tasks fit in the offers", launched, n)
	}
	for range n {
		select {
		case <-running:
		case <-time.After(time.Minute):
			return 0, errors.New("not all tasks running within a minute")
		}
	}
	return time.Since(start), nil
}

// launchLatency launches one task at a time and times ACCEPT → RUNNING.
func launchLatency(master string, n int) ([]time.Duration, error) {
	offers := make(chan *mesospb.Offer, 1024)
	updates := make(chan *mesospb.TaskStatus, 1024)
	username := "root"
	if u, err := user.Current(); err == nil {
		username = u.Username
	}
	sched, err := sdk.New(sdk.Config{
		Master:    master,
		Framework: &mesospb.FrameworkInfo{User: proto.String(username), Name: proto.String("bench")},
		Logger:    slog.New(slog.DiscardHandler),
	}, sdk.HandlerFunc(func(_ context.Context, ev *schedulerpb.Event) error {
		for _, o := range ev.GetOffers().GetOffers() {
			offers <- o
		}
		if st := ev.GetUpdate().GetStatus(); st != nil {
			updates <- st
		}
		return nil
	}))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sched.Run(ctx) }()
	defer func() { _ = sched.Teardown(context.Background()); cancel(); <-done }()

	var lat []time.Duration
	timeout := time.After(5 * time.Minute)
	for i := range n {
		var o *mesospb.Offer
		select {
		case o = <-offers:
		case <-timeout:
			return nil, fmt.Errorf("no offer after %d launches", i)
		}
		space := sdk.NewSpace(o)
		res, ok := space.Take(0.1, 16, 0, 0)
		if !ok {
			_ = sched.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 0)
			continue
		}
		id := fmt.Sprintf("latency-%d", i)
		sent := time.Now()
		if err := sched.Launch(ctx, o, 0, sdk.CommandTask(id, id, o, "sleep 30", res)); err != nil {
			return nil, err
		}
		for running := false; !running; {
			select {
			case st := <-updates:
				if st.GetTaskId().GetValue() != id {
					continue
				}
				switch st.GetState() {
				case mesospb.TaskState_TASK_RUNNING:
					lat = append(lat, time.Since(sent))
					running = true
				case mesospb.TaskState_TASK_STARTING, mesospb.TaskState_TASK_STAGING:
				default:
					return nil, fmt.Errorf("task %s", sdk.Describe(st))
				}
			case <-timeout:
				return nil, fmt.Errorf("task %s never ran", id)
			}
		}
		if err := sched.Kill(ctx, id, ""); err != nil {
			return nil, err
		}
	}
	return lat, nil
}
