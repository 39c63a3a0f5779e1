package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-sched/corral/internal/httpserve"
	"github.com/corral-sched/corral/internal/testkit/benchkit"
	"github.com/corral-sched/corral/master"
	"github.com/corral-sched/corral/store"
)

// benchMaster is a standalone master with its local registry, in this
// process. Its goroutines (the loop, and the HTTP server's, so its
// handlers too) carry the profile label component=master: `go tool pprof
// -tagfocus component=master` shows the master alone in a profile of the
// whole benchmark.
type benchMaster struct {
	Addr     string
	Registry *prometheus.Registry
	stop     func()
}

func startBenchMaster(dir string, log *slog.Logger) (*benchMaster, error) {
	ln, err := httpserve.Listen("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	registry, err := store.OpenLocal(filepath.Join(dir, "master"))
	if err != nil {
		ln.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	m, err := master.New(master.Config{Addr: ln.Addr().String(), WorkDir: filepath.Join(dir, "master"), Store: registry,
		Registerer: reg, Logger: log, AgentPingTimeout: 15 * time.Second})
	if err != nil {
		ln.Close()
		registry.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var srv *httpserve.Server
	pprof.Do(ctx, pprof.Labels("component", "master"), func(ctx context.Context) {
		srv = httpserve.Serve(ln, m.Handler(), log)
		go func() { _ = m.Run(ctx); close(done) }()
	})
	return &benchMaster{Addr: ln.Addr().String(), Registry: reg, stop: func() {
		srv.Shutdown()
		cancel()
		<-done
		registry.Close()
	}}, nil
}

func (m *benchMaster) Close() { m.stop() }

// allocationRounds reads the allocator's round-time histogram: rounds run
// and their mean in milliseconds.
func (m *benchMaster) allocationRounds() (uint64, float64) {
	families, err := m.Registry.Gather()
	if err != nil {
		return 0, 0
	}
	for _, f := range families {
		if f.GetName() == "corral_allocator_run_seconds" && len(f.GetMetric()) > 0 {
			h := f.GetMetric()[0].GetHistogram()
			if c := h.GetSampleCount(); c > 0 {
				return c, 1000 * h.GetSampleSum() / float64(c)
			}
		}
	}
	return 0, 0
}

// labelled runs f with the profile label component=name, which the
// goroutines it starts inherit.
func labelled(ctx context.Context, name string, f func(context.Context)) {
	pprof.Do(ctx, pprof.Labels("component", name), f)
}

// profiles starts the CPU profile named by --cpuprofile and returns a
// function that stops it and writes the heap profile named by
// --memprofile.
func profiles(cpu, mem string) (func() error, error) {
	stop, err := benchkit.StartCPUProfile(cpu)
	if err != nil {
		return nil, err
	}
	return func() error {
		stop()
		if err := benchkit.WriteHeapProfile(mem); err != nil {
			return fmt.Errorf("--memprofile: %w", err)
		}
		return nil
	}, nil
}
