package pets

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/resources"
)

// PetSet is what users submit (JSON, or YAML through the CLI): a set of
// pets, each with a stable name, stable host and ports, and its own
// persistent volumes.
type PetSet struct {
	ID string `json:"id"`
	// Instances is the number of pets, ordinals 0..Instances-1; default 1.
	Instances int `json:"instances"`
	// Cmd runs under /bin/sh -c; Args, if set instead, is the argv.
	Cmd  string   `json:"cmd,omitempty"`
	Args []string `json:"args,omitempty"`
	// Image, if set, is the Docker/OCI image the pets run from
	// ("registry:5000/repo:tag"), on agents with --image-providers
	// docker: without cmd and args its own Entrypoint and Cmd run.
	Image       string            `json:"image,omitempty"`
	CPUs        float64           `json:"cpus"`
	Mem         float64           `json:"mem"`
	Disk        float64           `json:"disk,omitempty"`
	Env         map[string]string `json:"env,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Constraints [][]string        `json:"constraints,omitempty"`
	// Placement says how the pets spread over hosts (or zones); by
	// default each prefers a host without a pet of the set.
	Placement *PlacementPolicy `json:"placement,omitempty"`
	// Ports is a number of host ports, or a list of their names.
	Ports           Ports            `json:"ports,omitempty"`
	Volumes         []Volume         `json:"volumes,omitempty"`
	HealthChecks    []HealthCheck    `json:"healthChecks,omitempty"`
	ReadinessChecks []ReadinessCheck `json:"readinessChecks,omitempty"`
	// PodManagementPolicy is OrderedReady (default) or Parallel, as in a
	// Kubernetes StatefulSet.
	PodManagementPolicy string          `json:"podManagementPolicy,omitempty"`
	UpdateStrategy      *UpdateStrategy `json:"updateStrategy,omitempty"`
	// Role is the role the pets' resources are reserved for.
	Role string `json:"role,omitempty"`
	// KillGracePeriodSeconds is the time between SIGTERM and SIGKILL.
	KillGracePeriodSeconds float64 `json:"killGracePeriodSeconds,omitempty"`
	// Network, if set, is the CNI network the pets join (issue 20): each
	// gets an address of its own, which its stable DNS name resolves to,
	// and its host ports are mapped to the same ports on that address.
	Network string `json:"network,omitempty"`
}

// Volume is a persistent volume each pet gets, created on its first
// placement and kept until the set is purged or the pet replaced.
type Volume struct {
	// ContainerPath is relative to the sandbox, e.g. "data".
	ContainerPath string `json:"containerPath"`
	// Size in MB.
	Size float64 `json:"size"`
}

// UpdateStrategy says how a changed spec reaches running pets.
type UpdateStrategy struct {
	// Type is RollingUpdate (default) or OnDelete.
	Type string `json:"type"`
	// Partition: with RollingUpdate only ordinals >= Partition are
	// updated, highest first.
	Partition int `json:"partition,omitempty"`
}

// HealthCheck is run by the agent (Mesos HealthCheck); a pet that fails
// MaxConsecutiveFailures checks in a row is killed and relaunched in place.
type HealthCheck struct {
	// Protocol is COMMAND, HTTP or TCP.
	Protocol string `json:"protocol"`
	Command  string `json:"command,omitempty"`
	Path     string `json:"path,omitempty"`
	// PortName or PortIndex names the pet's port that HTTP and TCP checks use.
	PortName               string  `json:"portName,omitempty"`
	PortIndex              int     `json:"portIndex,omitempty"`
	GracePeriodSeconds     float64 `json:"gracePeriodSeconds,omitempty"`
	IntervalSeconds        float64 `json:"intervalSeconds,omitempty"`
	TimeoutSeconds         float64 `json:"timeoutSeconds,omitempty"`
	DelaySeconds           float64 `json:"delaySeconds,omitempty"`
	MaxConsecutiveFailures int     `json:"maxConsecutiveFailures,omitempty"`
}

// ReadinessCheck must pass before a pet counts as ready (and, under
// OrderedReady, before the next ordinal starts). HTTP and TCP checks are
// made by the framework, as Marathon does; a COMMAND check runs in the
// agent as the task's Mesos health check, so it cannot be combined with a
// health check.
type ReadinessCheck struct {
	Protocol        string  `json:"protocol"`
	Command         string  `json:"command,omitempty"`
	Path            string  `json:"path,omitempty"`
	PortName        string  `json:"portName,omitempty"`
	PortIndex       int     `json:"portIndex,omitempty"`
	IntervalSeconds float64 `json:"intervalSeconds,omitempty"`
	TimeoutSeconds  float64 `json:"timeoutSeconds,omitempty"`
}

// Policies and strategies.
const (
	OrderedReady  = "OrderedReady"
	Parallel      = "Parallel"
	RollingUpdate = "RollingUpdate"
	OnDelete      = "OnDelete"
)

// DefaultRole is the role pets' resources are reserved for unless a set
// names another.
const DefaultRole = "pets"

// MaxInstances bounds a set's size.
const MaxInstances = 1000

// Set IDs become task names, hostnames and store keys: DNS labels, short
// enough that "<id>-<ordinal>" stays a valid hostname.
var setID = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,50}[a-z0-9])?$`)

var portName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)

var envKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var containerPathChars = regexp.MustCompile(`^[A-Za-z0-9._/-]+$`)

// Ports is a list of host port names (empty for unnamed ports). In JSON
// it is a number of ports or a list of names.
type Ports []string

// UnmarshalJSON reads a number or a list of names.
func (p *Ports) UnmarshalJSON(b []byte) error {
	var n float64
	if err := json.Unmarshal(b, &n); err == nil {
		if n < 0 || n != math.Trunc(n) || n > 100 {
			return fmt.Errorf("ports: %v is not a number of ports between 0 and 100", n)
		}
		*p = make(Ports, int(n))
		return nil
	}
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return errors.New("ports: want a number of ports or a list of port names")
	}
	*p = names
	return nil
}

// MarshalJSON writes a number when no port is named.
func (p Ports) MarshalJSON() ([]byte, error) {
	if !slices.ContainsFunc(p, func(s string) bool { return s != "" }) {
		return json.Marshal(len(p))
	}
	return json.Marshal([]string(p))
}

// ValidationError lists what is wrong with a spec, one rule per entry.
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string { return strings.Join(e.Problems, "; ") }

// normalize fills defaults and checks every field; the error names each
// field that is wrong and the rule it breaks.
func (s *PetSet) normalize() error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if !setID.MatchString(s.ID) {
		bad("id %q: use 1-52 lowercase letters, digits and '-', starting and ending with a letter or digit", s.ID)
	}
	if s.Instances < 0 || s.Instances > MaxInstances {
		bad("instances must be between 0 and %d, got %d", MaxInstances, s.Instances)
	}
	switch {
	case s.Cmd == "" && len(s.Args) == 0 && s.Image == "":
		bad("cmd or args is required (or an image, whose own command runs)")
	case s.Cmd != "" && len(s.Args) > 0:
		bad("give cmd or args, not both")
	}
	for _, q := range []struct {
		name string
		v    float64
	}{{"cpus", s.CPUs}, {"mem", s.Mem}, {"disk", s.Disk}, {"killGracePeriodSeconds", s.KillGracePeriodSeconds}} {
		if q.v < 0 || math.IsNaN(q.v) || math.IsInf(q.v, 0) {
			bad("%s must be a non-negative number", q.name)
		}
	}
	if !(s.CPUs > 0) && !(s.Mem > 0) {
		bad("cpus or mem must be positive")
	}
	for k := range s.Env {
		if !envKey.MatchString(k) {
			bad("env %q: not a valid variable name", k)
		}
		if strings.HasPrefix(k, "CORRAL_PET") {
			bad("env %q: CORRAL_PET* variables are set by the framework", k)
		}
	}
	if _, err := sdk.ParseConstraints(s.Constraints); err != nil {
		bad("constraints: %v", err)
	}
	s.Placement = s.Placement.normalize(bad)
	if s.Network != "" && !networkName.MatchString(s.Network) {
		bad("network %q: a CNI network's name uses letters, digits, '_', '.' and '-', starting with a letter or digit", s.Network)
	}
	seenPort := map[string]bool{}
	for i, name := range s.Ports {
		if name == "" {
			continue
		}
		if !portName.MatchString(name) {
			bad("ports[%d] %q: a port name is 1-32 lowercase letters, digits and '-'", i, name)
		}
		if seenPort[name] {
			bad("ports[%d]: port name %q appears twice", i, name)
		}
		seenPort[name] = true
	}
	seenPath := map[string]bool{}
	for i, v := range s.Volumes {
		if err := resources.ValidateContainerPath(v.ContainerPath); err != nil {
			bad("volumes[%d].containerPath: %v", i, err)
		} else if !containerPathChars.MatchString(v.ContainerPath) {
			bad("volumes[%d].containerPath %q: use letters, digits, '.', '_', '-' and '/'", i, v.ContainerPath)
		}
		if seenPath[v.ContainerPath] {
			bad("volumes[%d].containerPath %q appears twice", i, v.ContainerPath)
		}
		seenPath[v.ContainerPath] = true
		if !(v.Size > 0) || math.IsInf(v.Size, 0) {
			bad("volumes[%d].size must be a positive number of MB", i)
		}
	}
	if len(s.HealthChecks) > 1 {
		bad("healthChecks: at most one health check (Mesos runs one per task)")
	}
	for i := range s.HealthChecks {
		s.HealthChecks[i].normalize(fmt.Sprintf("healthChecks[%d]", i), s.Ports, bad)
	}
	if len(s.ReadinessChecks) > 1 {
		bad("readinessChecks: at most one readiness check")
	}
	for i := range s.ReadinessChecks {
		rc := &s.ReadinessChecks[i]
		rc.normalize(fmt.Sprintf("readinessChecks[%d]", i), s.Ports, bad)
		if rc.Protocol == "COMMAND" && len(s.HealthChecks) > 0 {
			bad("readinessChecks[%d]: a COMMAND readiness check runs as the task's health check, so it cannot be combined with healthChecks; use HTTP or TCP", i)
		}
	}
	switch s.PodManagementPolicy {
	case "":
		s.PodManagementPolicy = OrderedReady
	case OrderedReady, Parallel:
	default:
		bad("podManagementPolicy %q: use OrderedReady or Parallel", s.PodManagementPolicy)
	}
	if s.UpdateStrategy == nil {
		s.UpdateStrategy = &UpdateStrategy{Type: RollingUpdate}
	}
	switch u := s.UpdateStrategy; u.Type {
	case "":
		u.Type = RollingUpdate
		fallthrough
	case RollingUpdate:
		if u.Partition < 0 {
			bad("updateStrategy.partition must not be negative")
		}
	case OnDelete:
		if u.Partition != 0 {
			bad("updateStrategy.partition applies to RollingUpdate only")
		}
	default:
		bad("updateStrategy.type %q: use RollingUpdate or OnDelete", u.Type)
	}
	if s.Role == "" {
		s.Role = DefaultRole
	}
	if err := resources.ValidateRole(s.Role); err != nil || s.Role == "*" {
		bad("role %q is not a valid role for reservations", s.Role)
	}
	if len(problems) > 0 {
		return &ValidationError{Problems: problems}
	}
	return nil
}

// portIndex resolves a check's port by name or index.
func portIndex(what, name string, index int, ports Ports, bad func(string, ...any)) {
	if name != "" {
		if !slices.Contains(ports, name) {
			bad("%s.portName %q is not one of the set's ports", what, name)
		}
		return
	}
	if index < 0 || index >= len(ports) {
		bad("%s.portIndex %d: the set has %d ports", what, index, len(ports))
	}
}

// checkProtocol validates what a health or readiness check runs: a
// command, or a port of the set for HTTP and TCP.
func checkProtocol(what, protocol, command, portName string, index int, ports Ports, bad func(string, ...any)) {
	switch protocol {
	case "COMMAND":
		if command == "" {
			bad("%s.command is required for protocol COMMAND", what)
		}
	case "HTTP", "TCP":
		portIndex(what, portName, index, ports, bad)
	default:
		bad("%s.protocol %q: use COMMAND, HTTP or TCP", what, protocol)
	}
}

// seconds is a check's duration setting and its default.
type seconds struct {
	name string
	v    *float64
	def  float64
}

// defaultSeconds rejects negative and non-finite durations and gives
// unset ones their defaults.
func defaultSeconds(what string, bad func(string, ...any), settings ...seconds) {
	for _, d := range settings {
		if *d.v < 0 || math.IsNaN(*d.v) || math.IsInf(*d.v, 0) {
			bad("%s.%s must be a non-negative number", what, d.name)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
}

func (h *HealthCheck) normalize(what string, ports Ports, bad func(string, ...any)) {
	checkProtocol(what, h.Protocol, h.Command, h.PortName, h.PortIndex, ports, bad)
	defaultSeconds(what, bad, seconds{"gracePeriodSeconds", &h.GracePeriodSeconds, 60}, seconds{"intervalSeconds", &h.IntervalSeconds, 10},
		seconds{"timeoutSeconds", &h.TimeoutSeconds, 5}, seconds{"delaySeconds", &h.DelaySeconds, 0})
	if h.MaxConsecutiveFailures < 0 {
		bad("%s.maxConsecutiveFailures must not be negative", what)
	}
	if h.MaxConsecutiveFailures == 0 {
		h.MaxConsecutiveFailures = 3
	}
}

func (r *ReadinessCheck) normalize(what string, ports Ports, bad func(string, ...any)) {
	checkProtocol(what, r.Protocol, r.Command, r.PortName, r.PortIndex, ports, bad)
	if r.Path == "" && r.Protocol == "HTTP" {
		r.Path = "/"
	}
	defaultSeconds(what, bad, seconds{"intervalSeconds", &r.IntervalSeconds, 1}, seconds{"timeoutSeconds", &r.TimeoutSeconds, 1})
}

// port returns the index into the pet's ports a check names.
func checkPort(name string, index int, ports Ports) int {
	if name != "" {
		return slices.Index(ports, name)
	}
	return index
}

// shapeChanges names the fields whose change an update may not make:
// running pets live on reservations and volumes of that shape (as a
// StatefulSet's volumeClaimTemplates cannot change).
func shapeChanges(old, next *PetSet) []string {
	var out []string
	if old.CPUs != next.CPUs {
		out = append(out, "cpus")
	}
	if old.Mem != next.Mem {
		out = append(out, "mem")
	}
	if old.Disk != next.Disk {
		out = append(out, "disk")
	}
	if len(old.Ports) != len(next.Ports) {
		out = append(out, "ports")
	}
	if !slices.Equal(old.Volumes, next.Volumes) {
		out = append(out, "volumes")
	}
	if old.Role != next.Role {
		out = append(out, "role")
	}
	return out
}

// volumeDisk is the disk the set's volumes take.
func (s *PetSet) volumeDisk() float64 {
	total := 0.0
	for _, v := range s.Volumes {
		total += v.Size
	}
	return total
}

// template is what a revision is made of: the spec without the fields
// that manage the set rather than shape its pets (as a StatefulSet's
// revision hashes only its pod template). Placement applies to pets
// placed from now on, so changing it restarts nothing.
func (s *PetSet) template() PetSet {
	t := *s
	t.Instances, t.PodManagementPolicy, t.UpdateStrategy, t.Placement = 0, "", nil, nil
	return t
}
