package main

import (
	"context"
	"strings"
	"testing"

	"github.com/corral-sched/corral/frameworks/sdk/sdktest"
)

func TestRunsJobsFromTheCommandLine(t *testing.T) {
	c := sdktest.Start(t, sdktest.Options{})
	args := []string{"--master", c.MasterAddr, "--state", t.TempDir(), "hello=echo hello", "nap=sleep 0.1"}
	if err := run(context.Background(), args); err != nil {
		t.Fatal(err)
	}
	if n := len(c.Launched(c.FrameworkID("guide"))); n != 2 {
		t.Fatalf("%d tasks launched, want 2", n)
	}
}

func TestBadArgumentsSayWhatIsWrong(t *testing.T) {
	for args, want := range map[string]string{
		"":            "no jobs",
		"hello":       `job "hello": want name=command`,
		"a.b=true":    "without dots",
		"--nope x=ls": "flag provided but not defined",
	} {
		err := run(context.Background(), append([]string{"--state", t.TempDir()}, strings.Fields(args)...))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error mentioning %q", args, err, want)
		}
	}
}
