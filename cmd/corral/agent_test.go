package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// agentSettings parses an agent's flags as `corral agent` does.
func agentSettings(t *testing.T, args ...string) *settings {
	t.Helper()
	cmd := newAgentCommand()
	if err := cmd.Flags().Parse(args); err != nil {
		t.Fatal(err)
	}
	s, err := loadSettings(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// An agent that finds its master through ZooKeeper says so, and never
// names the --master default as its master.
func TestAgentWithZKDoesNotClaimTheDefaultMaster(t *testing.T) {
	for _, tc := range []struct {
		name, wantMaster, wantLine string
		args                       []string
	}{
		{"default master", "127.0.0.1:5050", "corral agent listening on http://127.0.0.1:5051, master: 127.0.0.1:5050", nil},
		{"fixed master", "10.0.0.1:5050", "corral agent listening on http://127.0.0.1:5051, master: 10.0.0.1:5050", []string{"--master", "10.0.0.1:5050"}},
		{"zk", "", "corral agent listening on http://127.0.0.1:5051, master: via zk://127.0.0.1:2181/corral",
			[]string{"--zk", "zk://127.0.0.1:2181/corral"}},
		{"zk with credentials", "", "corral agent listening on http://127.0.0.1:5051, master: via zk://corral:xxxxx@127.0.0.1:2181/corral",
			[]string{"--zk", "zk://corral:s3cret@127.0.0.1:2181/corral"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := agentSettings(t, tc.args...)
			cfg, err := agentConfig(s)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Master != tc.wantMaster {
				t.Errorf("Master = %q, want %q", cfg.Master, tc.wantMaster)
			}
			if got := agentStartLine("http", "127.0.0.1:5051", cfg.Master, s.String("zk")); got != tc.wantLine {
				t.Errorf("start line %q, want %q", got, tc.wantLine)
			}
		})
	}
}

// leaders answers a scripted sequence of lookups.
type leaders []string

func (l *leaders) Leader(context.Context) (string, error) {
	next := (*l)[0]
	*l = (*l)[1:]
	if next == "" {
		return "", errors.New("no leading master")
	}
	return next, nil
}

// The agent tells which master leads once it is known, and again only
// when that changes.
func TestAgentAnnouncesTheDetectedLeader(t *testing.T) {
	var out bytes.Buffer
	d := &announcedDetector{Detector: &leaders{"", "10.0.0.1:5050", "10.0.0.1:5050", "", "10.0.0.2:5050"}, out: &out, log: slog.New(slog.DiscardHandler)}
	for range 5 {
		_, _ = d.Leader(context.Background())
	}
	want := "corral agent: leading master 10.0.0.1:5050\ncorral agent: leading master 10.0.0.2:5050\n"
	if got := out.String(); got != want {
		t.Fatalf("announced:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(out.String(), "127.0.0.1:5050") {
		t.Fatal("the default master was announced")
	}
}
