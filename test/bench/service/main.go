// Command service measures the service framework end to end: the time
// from POSTing an app of -instances `sleep` instances (0.01 cpu, 16 MB)
// to all of them TASK_RUNNING, and from scaling it to 0 until none is
// left, on an in-process cluster of three posix agents over loopback
// HTTP, the framework keeping its state in a local store, all through its
// REST API.
//
// Run it with `go run ./test/bench/service`.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/corral-sched/corral/frameworks/service"
	"github.com/corral-sched/corral/internal/testkit/benchkit"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/store"
)

func main() {
	instances := flag.Int("instances", 1000, "instances of the app")
	rounds := flag.Int("rounds", 3, "deploy and scale-down rounds")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the whole run here")
	flag.Parse()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench service:", err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(*instances, *rounds); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "bench service:", err)
		os.Exit(1)
	}
}

func run(instances, rounds int) error {
	dir, err := os.MkdirTemp("", "corral-bench-service-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// Each agent has room for the whole app's memory share of a third.
	mem := 16*instances/3 + 1024
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("BENCH_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	c, err := testcluster.New(testcluster.Options{Agents: 3, WorkDir: dir, Logger: log,
		AgentResources: fmt.Sprintf("cpus:8;mem:%d;disk:20000;ports:[31000-32000]", mem)})
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := store.OpenLocal(dir + "/service")
	if err != nil {
		return err
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, err := service.New(ctx, service.Config{Master: c.MasterAddr, Store: st, Logger: log})
	if err != nil {
		return err
	}
	api := httptest.NewServer(f.Handler(nil))
	defer api.Close()
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// The clock measures deploying an app on a running framework, as
	// Marathon's figures do: its own start and subscription come first.
	for deadline := time.Now().Add(20 * time.Second); f.FrameworkID() == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("the framework did not subscribe within 20 s")
		}
	}
	res := result{Scenario: "service", Instances: instances, Agents: 3, Cores: runtime.NumCPU(), LoadAverage: benchkit.LoadAverage()}
	var table strings.Builder
	fmt.Fprintf(&table, "corral service: an app of %d `sleep` instances, 3 posix agents, %s, %d cores, %s\n\n",
		instances, time.Now().Format("2006-01-02"), runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(&table, "| round | POST → all %d TASK_RUNNING | instances/s | scale to 0 → none left |\n|---|---|---|---|\n", instances)
	for round := 1; round <= rounds; round++ {
		id := fmt.Sprintf("/bench-%d", round)
		app := map[string]any{"id": id, "cmd": "sleep 3600", "cpus": 0.01, "mem": 16, "instances": instances}
		start := time.Now()
		if err := send(api.URL, "POST", "/v2/apps", app, http.StatusCreated); err != nil {
			return err
		}
		if err := waitRunning(api.URL, id, instances, 20*time.Second); err != nil {
			if os.Getenv("BENCH_DEBUG") != "" {
				debugStuck(api.URL, c.MasterURL, id)
			}
			return err
		}
		up := time.Since(start)
		start = time.Now()
		if err := send(api.URL, "PUT", "/v2/apps"+id, map[string]any{"instances": 0}, http.StatusOK); err != nil {
			return err
		}
		if err := waitRunning(api.URL, id, 0, 2*time.Minute); err != nil {
			return err
		}
		down := time.Since(start)
		res.UpSeconds = append(res.UpSeconds, up.Seconds())
		res.DownSeconds = append(res.DownSeconds, down.Seconds())
		res.SlowestUpSeconds = max(res.SlowestUpSeconds, up.Seconds())
		fmt.Fprintf(&table, "| %d | %.2f s | %.0f | %.2f s |\n", round, up.Seconds(), float64(instances)/up.Seconds(), down.Seconds())
		if err := send(api.URL, "DELETE", "/v2/apps"+id, nil, http.StatusOK); err != nil {
			return err
		}
	}
	table.WriteString("\nRound 1 is the first app the framework places: before it shares hosts, its spread waits out SpreadSettle (1 s by default) to know every agent.\n")
	line, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Printf("%s\n%s", line, table.String())
	return nil
}

// result is the JSON line make bench reads.
type result struct {
	Scenario    string    `json:"scenario"`
	Instances   int       `json:"instances"`
	Agents      int       `json:"agents"`
	UpSeconds   []float64 `json:"up_seconds"`   // POST → all running, each round
	DownSeconds []float64 `json:"down_seconds"` // scale to 0 → none left, each round
	// SlowestUpSeconds is the target's figure: every round counts.
	SlowestUpSeconds float64 `json:"slowest_up_seconds"`
	Cores            int     `json:"cores"`
	LoadAverage      float64 `json:"load_avg_1m"` // at the start
}

func send(base, method, path string, body any, want int) error {
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	req, err := http.NewRequest(method, base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		var e map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("%s %s: %d %v", method, path, resp.StatusCode, e)
	}
	return nil
}

// waitRunning polls the app until exactly n instances exist, all run,
// and its deployment has finished.
func waitRunning(base, id string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(base + "/v2/apps" + id)
		if err != nil {
			return err
		}
		var v struct {
			App struct {
				TasksRunning int `json:"tasksRunning"`
				TasksStaged  int `json:"tasksStaged"`
				Tasks        []json.RawMessage
				Deployments  []json.RawMessage
			} `json:"app"`
		}
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if os.Getenv("BENCH_TRACE") != "" {
			fmt.Fprintf(os.Stderr, "%s tasks %d staged %d running %d\n", time.Now().Format("15:04:05.000"), len(v.App.Tasks), v.App.TasksStaged, v.App.TasksRunning)
		}
		if v.App.TasksRunning == n && len(v.App.Tasks) == n && len(v.App.Deployments) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %d running of %d tasks after %v, want %d", id, v.App.TasksRunning, len(v.App.Tasks), timeout, n)
		}
		time.Sleep(100 * time.Millisecond) // polling
	}
}

func debugStuck(api, master, id string) {
	resp, _ := http.Get(api + "/v2/apps" + id + "/tasks")
	var v struct {
		Tasks []struct{ ID, State, SlaveID string }
	}
	json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	mresp, _ := http.Post(master+"/api/v1", "application/json", bytes.NewReader([]byte(`{"type":"GET_TASKS"}`)))
	var raw bytes.Buffer
	raw.ReadFrom(mresp.Body)
	mresp.Body.Close()
	for _, t := range v.Tasks {
		if t.State != "TASK_RUNNING" {
			i := bytes.Index(raw.Bytes(), []byte(t.ID))
			ctx := "not at master"
			if i >= 0 {
				ctx = string(raw.Bytes()[max(0, i-20):min(raw.Len(), i+700)])
			}
			fmt.Fprintln(os.Stderr, "STUCK", t.ID, t.State, t.SlaveID, ctx)
			break
		}
	}
}
