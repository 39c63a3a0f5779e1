package main

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/corral-sched/corral/frameworks/batch"
)

// The job commands are a client of the batch framework's REST API.
func newJobCommand() *cobra.Command {
	cmd := batchAPI.command("job", "Submit, run and inspect batch jobs (talks to corral batch)", false)
	jobPath := func(args []string) string { return "/v1/jobs/" + args[0] }
	return addCommands(cmd,
		cmdSpec{use: "run -f FILE", short: "Create or replace a job from a YAML or JSON file and start a run", args: cobra.NoArgs,
			run: runJobRun, file: "job file (YAML or JSON)", flags: func(f *pflag.FlagSet) {
				f.Bool("wait", false, "wait for the run to finish, showing its progress; exit 1 if it fails")
			}},
		// No -o: the listings are tables.
		cmdSpec{use: "ls", short: "List jobs", args: cobra.NoArgs, run: restListing(batchAPI, fixedPath("/v1/jobs"), "", jobsTable)},
		cmdSpec{use: "show ID", short: "Show a job as JSON", args: cobra.ExactArgs(1), run: restShow(batchAPI, jobPath, "")},
		cmdSpec{use: "runs ID", short: "List a job's runs", args: cobra.ExactArgs(1),
			run: restListing(batchAPI, func(args []string) string { return jobPath(args) + "/runs" }, "", runsTable)},
		cmdSpec{use: "rm ID", short: "Delete a job, stopping its active run", args: cobra.ExactArgs(1), run: runJobRemove},
	)
}

func runJobRun(cmd *cobra.Command, _ []string) error {
	c := batchAPI.client(cmd)
	file, _ := cmd.Flags().GetString("file")
	body, id, err := readSpecFile(file, "job")
	if err != nil {
		return err
	}
	if err := c.call(http.MethodPut, "/v1/jobs/"+id, body, nil); err != nil {
		return err
	}
	var run batch.RunView
	if err := c.call(http.MethodPost, "/v1/jobs/"+id+"/trigger", nil, &run); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "run %s started\n", run.ID)
	if wait, _ := cmd.Flags().GetBool("wait"); !wait {
		return nil
	}
	return waitForRun(c, out, id, run.ID)
}

// waitForRun shows a run's progress until it ends.
func waitForRun(c restClient, out io.Writer, job, id string) error {
	p := newProgress(out)
	for {
		var v batch.RunView
		if err := c.call(http.MethodGet, "/v1/jobs/"+job+"/runs/"+id, nil, &v); err != nil {
			return err
		}
		p.show(progressLine(&v))
		if v.Status != batch.Running {
			p.end()
			if v.Status == batch.Failed {
				return fmt.Errorf("run %s failed: %s", id, v.Reason)
			}
			fmt.Fprintf(out, "run %s succeeded\n", id)
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func progressLine(v *batch.RunView) string {
	const width = 30
	n := v.Spec.Completions
	filled := 0
	if n > 0 {
		filled = width * v.Succeeded / n
	}
	return gauge(filled, width) + fmt.Sprintf(" %d/%d succeeded, %d failed attempts, %d running", v.Succeeded, n, v.FailedAttempts, v.Running)
}

func jobsTable(jobs []batch.JobView) *table {
	t := newTable("ID", "SCHEDULE", "LAST RUN", "STATUS", "SUCCEEDED", "IMAGE")
	for _, j := range jobs {
		sched, last, status, done := "-", "-", "-", "-"
		if j.Schedule != nil {
			sched = j.Schedule.Cron
		}
		if j.LastRun != nil {
			last, status = j.LastRun.ID, string(j.LastRun.Status)
			done = fmt.Sprintf("%d/%d", j.LastRun.Succeeded, j.LastRun.Spec.Completions)
		}
		t.add(j.ID, sched, last, status, done, dash(j.Image))
	}
	return t
}

func runsTable(runs []batch.RunView) *table {
	t := newTable("RUN", "TRIGGER", "STATUS", "SUCCEEDED", "FAILED ATTEMPTS", "STARTED", "DURATION", "REASON")
	for _, r := range runs {
		dur := "-"
		if !r.Finished.IsZero() {
			dur = r.Finished.Sub(r.Created).Round(time.Millisecond).String()
		}
		t.add(r.ID, r.Trigger, r.Status, fmt.Sprintf("%d/%d", r.Succeeded, r.Spec.Completions),
			r.FailedAttempts, r.Created.Format(time.RFC3339), dur, r.Reason)
	}
	return t
}

func runJobRemove(cmd *cobra.Command, args []string) error {
	if err := batchAPI.client(cmd).call(http.MethodDelete, "/v1/jobs/"+args[0], nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "job %s deleted\n", args[0])
	return nil
}
