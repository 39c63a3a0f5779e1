// Package batch is corral's batch framework: jobs that run to completion
// (completions, parallelism, retries with backoff, deadlines), on cron
// schedules and in dependency DAGs, served over REST at /v1/jobs. It is an
// ordinary scheduler on the SDK: its state lives in a store.Store, it
// acknowledges a status update only once what it learnt is durable, and a
// restarted framework adopts the tasks its runs left running.
package batch

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/resources"
)

// Job is what users submit (JSON, or YAML through the CLI).
type Job struct {
	ID string `json:"id"`
	// Cmd runs under /bin/sh -c; Args, if set instead, is the argv.
	Cmd  string   `json:"cmd,omitempty"`
	Args []string `json:"args,omitempty"`
	// Image, if set, is the Docker/OCI image the tasks run from
	// ("registry:5000/repo:tag"), on agents with --image-providers
	// docker: without cmd and args its own Entrypoint and Cmd run.
	Image       string            `json:"image,omitempty"`
	CPUs        float64           `json:"cpus"`
	Mem         float64           `json:"mem"`
	Disk        float64           `json:"disk,omitempty"`
	Env         map[string]string `json:"env,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Constraints [][]string        `json:"constraints,omitempty"`
	// rules are Constraints parsed, once per job in memory: offers come
	// many times a second and a regular expression is not compiled for
	// each.
	rules []sdk.Constraint
	// Completions is how many tasks must succeed; Parallelism how many
	// may run at once.
	Completions int `json:"completions,omitempty"`
	Parallelism int `json:"parallelism,omitempty"`
	// Retries is how many times one completion may fail and be retried,
	// after BackoffSeconds, growing by BackoffFactor, at most
	// MaxBackoffSeconds.
	Retries           int     `json:"retries,omitempty"`
	BackoffSeconds    float64 `json:"backoffSeconds,omitempty"`
	BackoffFactor     float64 `json:"backoffFactor,omitempty"`
	MaxBackoffSeconds float64 `json:"maxBackoffSeconds,omitempty"`
	// ActiveDeadlineSeconds bounds a whole run; MaxCompletionTimeSeconds
	// one task (the agent kills it).
	ActiveDeadlineSeconds    float64 `json:"activeDeadlineSeconds,omitempty"`
	MaxCompletionTimeSeconds float64 `json:"maxCompletionTimeSeconds,omitempty"`
	// TTLSecondsAfterFinished removes finished runs from the history.
	TTLSecondsAfterFinished float64   `json:"ttlSecondsAfterFinished,omitempty"`
	Role                    string    `json:"role,omitempty"`
	Schedule                *Schedule `json:"schedule,omitempty"`
	DependsOn               []string  `json:"dependsOn,omitempty"`
}

// Schedule runs a job on a cron schedule.
type Schedule struct {
	// Cron is a 5-field cron expression or a descriptor (@hourly).
	Cron     string `json:"cron"`
	TimeZone string `json:"timeZone,omitempty"`
	// ConcurrencyPolicy is Allow (default), Forbid (skip a run while one
	// is active) or Replace (stop the active run).
	ConcurrencyPolicy string `json:"concurrencyPolicy,omitempty"`
	// StartingDeadlineSeconds: a run not started within this of its
	// scheduled time is skipped and counted missed.
	StartingDeadlineSeconds float64 `json:"startingDeadlineSeconds,omitempty"`
}

// Concurrency policies.
const (
	Allow   = "Allow"
	Forbid  = "Forbid"
	Replace = "Replace"
)

// DefaultRole is the role batch work runs in unless a job names another.
const DefaultRole = "batch"

var jobID = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// normalize fills defaults and checks everything; the error says which
// field is wrong and how.
func (j *Job) normalize() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !jobID.MatchString(j.ID) {
		bad("id %q: use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit", j.ID)
	}
	switch {
	case j.Cmd == "" && len(j.Args) == 0 && j.Image == "":
		bad("cmd or args is required (or an image, whose own command runs)")
	case j.Cmd != "" && len(j.Args) > 0:
		bad("give cmd or args, not both")
	}
	for name, v := range map[string]float64{"cpus": j.CPUs, "mem": j.Mem, "disk": j.Disk} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			bad("%s must be a non-negative number", name)
		}
	}
	if j.CPUs <= 0 && j.Mem <= 0 {
		bad("cpus or mem must be positive")
	}
	if j.Completions == 0 {
		j.Completions = 1
	}
	if j.Parallelism == 0 {
		j.Parallelism = 1
	}
	if j.Completions < 0 || j.Completions > 1_000_000 {
		bad("completions must be between 1 and 1000000")
	}
	if j.Parallelism < 0 {
		bad("parallelism must be positive")
	}
	if j.Retries < 0 {
		bad("retries must not be negative")
	}
	if j.BackoffSeconds == 0 {
		j.BackoffSeconds = 1
	}
	if j.BackoffFactor == 0 {
		j.BackoffFactor = 2
	}
	if j.MaxBackoffSeconds == 0 {
		j.MaxBackoffSeconds = 300
	}
	for name, v := range map[string]float64{
		"backoffSeconds": j.BackoffSeconds, "maxBackoffSeconds": j.MaxBackoffSeconds,
		"activeDeadlineSeconds": j.ActiveDeadlineSeconds, "maxCompletionTimeSeconds": j.MaxCompletionTimeSeconds,
		"ttlSecondsAfterFinished": j.TTLSecondsAfterFinished,
	} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			bad("%s must be a non-negative number", name)
		}
	}
	if j.BackoffFactor < 1 || math.IsInf(j.BackoffFactor, 0) {
		bad("backoffFactor must be at least 1")
	}
	if j.Role == "" {
		j.Role = DefaultRole
	}
	if err := resources.ValidateRole(j.Role); err != nil || j.Role == "*" {
		bad("role %q is not a valid role", j.Role)
	}
	if _, err := sdk.ParseConstraints(j.Constraints); err != nil {
		bad("%v", err)
	}
	for _, d := range j.DependsOn {
		if d == j.ID {
			bad("dependsOn: a job cannot depend on itself")
		}
	}
	if s := j.Schedule; s != nil {
		if _, err := s.parse(); err != nil {
			bad("schedule: %v", err)
		}
		switch s.ConcurrencyPolicy {
		case "":
			s.ConcurrencyPolicy = Allow
		case Allow, Forbid, Replace:
		default:
			bad("schedule.concurrencyPolicy %q: use Allow, Forbid or Replace", s.ConcurrencyPolicy)
		}
		if s.StartingDeadlineSeconds < 0 {
			bad("schedule.startingDeadlineSeconds must not be negative")
		}
	}
	return errors.Join(errs...)
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// parse returns the schedule, honouring TimeZone.
func (s *Schedule) parse() (cron.Schedule, error) {
	if strings.TrimSpace(s.Cron) == "" {
		return nil, errors.New("cron is required")
	}
	if strings.HasPrefix(s.Cron, "CRON_TZ=") || strings.HasPrefix(s.Cron, "TZ=") {
		return nil, errors.New("give the time zone in timeZone, not in cron")
	}
	expr := s.Cron
	if s.TimeZone != "" {
		if _, err := time.LoadLocation(s.TimeZone); err != nil {
			return nil, fmt.Errorf("timeZone %q: %w", s.TimeZone, err)
		}
		expr = "CRON_TZ=" + s.TimeZone + " " + expr
	}
	sched, err := cronParser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("cron %q: %w", s.Cron, err)
	}
	return sched, nil
}

// backoff is the delay before attempt n+1 after n failures.
func (j *Job) backoff(failures int) time.Duration {
	d := j.BackoffSeconds * math.Pow(j.BackoffFactor, float64(failures-1))
	return time.Duration(min(d, j.MaxBackoffSeconds) * float64(time.Second))
}

// placementRules returns the job's constraints, ready to evaluate. The
// job was validated when it was accepted, so they parse.
func (j *Job) placementRules() []sdk.Constraint {
	if j.rules == nil && len(j.Constraints) > 0 {
		j.rules, _ = sdk.ParseConstraints(j.Constraints)
	}
	return j.rules
}
