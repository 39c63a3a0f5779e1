package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/corral-sched/corral/frameworks/batch"
)

// The job commands are a client of the batch framework's REST API.
func newJobCommand() *cobra.Command {
	cmd := newFrameworkClientCommand("job", "Submit, run and inspect batch jobs (talks to corral batch)",
		"batch", "http://127.0.0.1:8082", "the batch framework", false)
	run := &cobra.Command{
		Use:   "run -f FILE",
		Short: "Create or replace a job from a YAML or JSON file and start a run",
		Args:  cobra.NoArgs,
		RunE:  runJobRun,
	}
	run.Flags().StringP("file", "f", "", "job file (YAML or JSON)")
	run.Flags().Bool("wait", false, "wait for the run to finish, showing its progress; exit 1 if it fails")
	_ = run.MarkFlagRequired("file")
	cmd.AddCommand(run,
		&cobra.Command{Use: "ls", Short: "List jobs", Args: cobra.NoArgs, RunE: runJobList},
		&cobra.Command{Use: "show ID", Short: "Show a job as JSON", Args: cobra.ExactArgs(1), RunE: runJobShow},
		&cobra.Command{Use: "runs ID", Short: "List a job's runs", Args: cobra.ExactArgs(1), RunE: runJobRuns},
		&cobra.Command{Use: "rm ID", Short: "Delete a job, stopping its active run", Args: cobra.ExactArgs(1), RunE: runJobRemove},
	)
	return cmd
}

func newBatchClient(cmd *cobra.Command) restClient {
	return newRESTClient(cmd, "batch", "CORRAL_BATCH", "the batch framework", "corral batch")
}

func runJobRun(cmd *cobra.Command, _ []string) error {
	c := newBatchClient(cmd)
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
	return waitForRun(c, out, id, run.ID, isTerminal(out))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// waitForRun shows a run's progress until it ends: a redrawn bar on a
// terminal, a line per change otherwise.
func waitForRun(c restClient, out io.Writer, job, id string, tty bool) error {
	last := ""
	for {
		var v batch.RunView
		if err := c.call(http.MethodGet, "/v1/jobs/"+job+"/runs/"+id, nil, &v); err != nil {
			return err
		}
		line := progressLine(&v)
		if line != last {
			if tty {
				fmt.Fprintf(out, "\r\033[K%s", line)
			} else {
				fmt.Fprintln(out, line)
			}
			last = line
		}
		if v.Status != batch.Running {
			if tty {
				fmt.Fprintln(out)
			}
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
	return fmt.Sprintf("[%s%s] %d/%d succeeded, %d failed attempts, %d running",
		strings.Repeat("#", filled), strings.Repeat(".", width-filled), v.Succeeded, n, v.FailedAttempts, v.Running)
}

func runJobList(cmd *cobra.Command, _ []string) error {
	var jobs []batch.JobView
	if err := newBatchClient(cmd).call(http.MethodGet, "/v1/jobs", nil, &jobs); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSCHEDULE\tLAST RUN\tSTATUS\tSUCCEEDED\tIMAGE")
	for _, j := range jobs {
		sched, last, status, done := "-", "-", "-", "-"
		if j.Schedule != nil {
			sched = j.Schedule.Cron
		}
		if j.LastRun != nil {
			last, status = j.LastRun.ID, string(j.LastRun.Status)
			done = fmt.Sprintf("%d/%d", j.LastRun.Succeeded, j.LastRun.Spec.Completions)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, sched, last, status, done, dash(j.Image))
	}
	return tw.Flush()
}

func runJobShow(cmd *cobra.Command, args []string) error {
	var j json.RawMessage
	if err := newBatchClient(cmd).call(http.MethodGet, "/v1/jobs/"+args[0], nil, &j); err != nil {
		return err
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, j, "", "  "); err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), pretty.String())
	return nil
}

func runJobRuns(cmd *cobra.Command, args []string) error {
	var runs []batch.RunView
	if err := newBatchClient(cmd).call(http.MethodGet, "/v1/jobs/"+args[0]+"/runs", nil, &runs); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tTRIGGER\tSTATUS\tSUCCEEDED\tFAILED ATTEMPTS\tSTARTED\tDURATION\tREASON")
	for _, r := range runs {
		dur := "-"
		if !r.Finished.IsZero() {
			dur = r.Finished.Sub(r.Created).Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d\t%s\t%s\t%s\n", r.ID, r.Trigger, r.Status, r.Succeeded, r.Spec.Completions,
			r.FailedAttempts, r.Created.Format(time.RFC3339), dur, r.Reason)
	}
	return tw.Flush()
}

func runJobRemove(cmd *cobra.Command, args []string) error {
	if err := newBatchClient(cmd).call(http.MethodDelete, "/v1/jobs/"+args[0], nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "job %s deleted\n", args[0])
	return nil
}
