package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-sched/corral/frameworks/pets"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/store"
)

// The petset commands drive a real pets framework on an in-process
// cluster: create from YAML with --wait, ls, show (table and JSON),
// scale, restart, and rm with and without purge.
func TestPetsetCommands(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 2})
	st, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := pets.New(context.Background(), pets.Config{Master: c.MasterAddr, Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	comp := petsComponent{f: f, gatherer: prometheus.NewRegistry()}
	srv := httptest.NewServer(comp.Handler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- comp.Run(ctx) }()
	defer func() { cancel(); <-done }()

	run := func(args ...string) (string, error) {
		t.Helper()
		cli := newRootCommand()
		var out bytes.Buffer
		cli.SetOut(&out)
		cli.SetErr(&out)
		cli.SetArgs(append(append([]string{"petset"}, args...), "--pets", srv.URL))
		err := cli.Execute()
		return out.String(), err
	}
	file := filepath.Join(t.TempDir(), "web.yaml")
	spec := `id: web
instances: 2
cmd: echo "$CORRAL_PET_NAME" >> data/names; sleep 600
cpus: 0.1
mem: 32
ports: [http]
volumes:
  - containerPath: data
    size: 5
`
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run("create", "-f", file, "--wait", "--timeout", "60s")
	if err != nil || !strings.Contains(out, "pet set web ready: 2/2 pets at revision 1") {
		t.Fatalf("create --wait: %v\n%s", err, out)
	}
	if out, err := run("ls"); err != nil || !strings.Contains(out, "web") || !strings.Contains(out, "OrderedReady") {
		t.Errorf("ls: %v\n%s", err, out)
	}
	if out, err := run("show", "web"); err != nil || !strings.Contains(out, "web-1") || !strings.Contains(out, "http=") {
		t.Errorf("show: %v\n%s", err, out)
	}
	out, err = run("show", "web", "-o", "json")
	var v pets.PetSetView
	if err != nil || json.Unmarshal([]byte(out), &v) != nil || len(v.Pets) != 2 || v.ReadyPets != 2 {
		t.Errorf("show -o json: %v\n%s", err, out)
	}
	if out, err := run("scale", "web", "1", "--wait", "--timeout", "60s"); err != nil || !strings.Contains(out, "1/1 pets") {
		t.Errorf("scale --wait: %v\n%s", err, out)
	}
	if out, err := run("restart", "web", "0", "--wait", "--timeout", "60s"); err != nil || !strings.Contains(out, "restart requested") {
		t.Errorf("restart --wait: %v\n%s", err, out)
	}
	if _, err := run("restart", "web", "5"); err == nil || !strings.Contains(err.Error(), "has no pet 5") {
		t.Errorf("restart of a pet that does not exist: %v", err)
	}
	if _, err := run("rm", "web", "--purge"); err == nil || !strings.Contains(err.Error(), "-f") {
		t.Errorf("rm --purge without -f: %v, want a refusal", err)
	}
	if out, err := run("rm", "web", "--purge", "-f", "--wait", "--timeout", "60s"); err != nil || !strings.Contains(out, "pet set web deleted") {
		t.Errorf("rm --purge -f --wait: %v\n%s", err, out)
	}
}
