package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/resources"
)

// App is an application in Marathon's JSON shape. Fields Marathon has and
// corral does not support are not declared, so strict decoding rejects
// them by name rather than dropping them.
type App struct {
	ID                    string               `json:"id"`
	Cmd                   string               `json:"cmd,omitempty"`
	Args                  []string             `json:"args,omitempty"`
	User                  string               `json:"user,omitempty"`
	CPUs                  float64              `json:"cpus"`
	Mem                   float64              `json:"mem"`
	Disk                  float64              `json:"disk"`
	GPUs                  float64              `json:"gpus"`
	Instances             *int                 `json:"instances,omitempty"`
	Env                   map[string]string    `json:"env,omitempty"`
	Labels                map[string]string    `json:"labels,omitempty"`
	Constraints           [][]string           `json:"constraints,omitempty"`
	PortDefinitions       []PortDefinition     `json:"portDefinitions,omitempty"`
	Ports                 []int                `json:"ports,omitempty"`
	RequirePorts          bool                 `json:"requirePorts,omitempty"`
	HealthChecks          []HealthCheck        `json:"healthChecks,omitempty"`
	ReadinessChecks       []ReadinessCheck     `json:"readinessChecks,omitempty"`
	UpgradeStrategy       *UpgradeStrategy     `json:"upgradeStrategy,omitempty"`
	BackoffSeconds        *float64             `json:"backoffSeconds,omitempty"`
	BackoffFactor         *float64             `json:"backoffFactor,omitempty"`
	MaxLaunchDelaySeconds *float64             `json:"maxLaunchDelaySeconds,omitempty"`
	UnreachableStrategy   *UnreachableStrategy `json:"unreachableStrategy,omitempty"`
	KillSelection         string               `json:"killSelection,omitempty"`
	AcceptedResourceRoles []string             `json:"acceptedResourceRoles,omitempty"`
	Role                  string               `json:"role,omitempty"`
	Residency             *Residency           `json:"residency,omitempty"`
	Container             *Container           `json:"container,omitempty"`
	Fetch                 []Fetch              `json:"fetch,omitempty"`
	URIs                  []string             `json:"uris,omitempty"`
	TaskKillGracePeriod   *float64             `json:"taskKillGracePeriodSeconds,omitempty"`
	Networks              []Network            `json:"networks,omitempty"`
	// Dependencies are apps or groups that must be healthy before this
	// app starts (and that stop after it), as absolute IDs or relative to
	// the app's group; null and [] mean none, as Marathon's clients send.
	Dependencies []string `json:"dependencies,omitempty"`

	// Version is when this spec was deployed (RFC 3339); set by corral.
	Version string `json:"version,omitempty"`

	// Read-only fields Marathon returns; accepted (so a GET can be PUT
	// back) and ignored.
	VersionInfo    json.RawMessage `json:"versionInfo,omitempty"`
	TasksStaged    json.RawMessage `json:"tasksStaged,omitempty"`
	TasksRunning   json.RawMessage `json:"tasksRunning,omitempty"`
	TasksHealthy   json.RawMessage `json:"tasksHealthy,omitempty"`
	TasksUnhealthy json.RawMessage `json:"tasksUnhealthy,omitempty"`
	Deployments    json.RawMessage `json:"deployments,omitempty"`
	Tasks          json.RawMessage `json:"tasks,omitempty"`
	LastTaskFail   json.RawMessage `json:"lastTaskFailure,omitempty"`
}

// PortDefinition asks for a host port.
type PortDefinition struct {
	Port     int               `json:"port"`
	Name     string            `json:"name,omitempty"`
	Protocol string            `json:"protocol,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// HealthCheck is run by the agent (MESOS_* and COMMAND protocols).
type HealthCheck struct {
	Protocol               string   `json:"protocol"`
	Path                   string   `json:"path,omitempty"`
	PortIndex              *int     `json:"portIndex,omitempty"`
	Port                   int      `json:"port,omitempty"`
	Command                *Command `json:"command,omitempty"`
	GracePeriodSeconds     *float64 `json:"gracePeriodSeconds,omitempty"`
	IntervalSeconds        *float64 `json:"intervalSeconds,omitempty"`
	TimeoutSeconds         *float64 `json:"timeoutSeconds,omitempty"`
	MaxConsecutiveFailures *int     `json:"maxConsecutiveFailures,omitempty"`
	DelaySeconds           *float64 `json:"delaySeconds,omitempty"`
	IgnoreHTTP1xx          *bool    `json:"ignoreHttp1xx,omitempty"`
}

// Command is a health check's shell command.
type Command struct {
	Value string `json:"value"`
}

// ReadinessCheck gates a deployment: a new instance counts only once the
// framework has seen it answer as ready.
type ReadinessCheck struct {
	Name                    string   `json:"name,omitempty"`
	Protocol                string   `json:"protocol,omitempty"`
	Path                    string   `json:"path,omitempty"`
	PortName                string   `json:"portName,omitempty"`
	IntervalSeconds         *float64 `json:"intervalSeconds,omitempty"`
	TimeoutSeconds          *float64 `json:"timeoutSeconds,omitempty"`
	HTTPStatusCodesForReady []int    `json:"httpStatusCodesForReady,omitempty"`
	PreserveLastResponse    bool     `json:"preserveLastResponse,omitempty"`
}

// UpgradeStrategy bounds a rolling upgrade.
type UpgradeStrategy struct {
	MinimumHealthCapacity *float64 `json:"minimumHealthCapacity,omitempty"`
	MaximumOverCapacity   *float64 `json:"maximumOverCapacity,omitempty"`
}

// UnreachableStrategy says when instances on an unreachable agent are
// replaced and forgotten. Marathon also accepts the string "disabled".
type UnreachableStrategy struct {
	Disabled             bool     `json:"-"`
	InactiveAfterSeconds *float64 `json:"inactiveAfterSeconds,omitempty"`
	ExpungeAfterSeconds  *float64 `json:"expungeAfterSeconds,omitempty"`
}

// UnmarshalJSON accepts "disabled" as well as the object.
func (u *UnreachableStrategy) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		if s != "disabled" {
			return fmt.Errorf("unreachableStrategy: %q is neither an object nor \"disabled\"", s)
		}
		u.Disabled = true
		return nil
	}
	type plain UnreachableStrategy
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode((*plain)(u))
}

// MarshalJSON writes "disabled" back as Marathon does.
func (u UnreachableStrategy) MarshalJSON() ([]byte, error) {
	if u.Disabled {
		return []byte(`"disabled"`), nil
	}
	type plain UnreachableStrategy
	return json.Marshal(plain(u))
}

// Residency keeps instances on the agent that holds their persistent
// volumes.
type Residency struct {
	RelaunchEscalationTimeoutSeconds *float64 `json:"relaunchEscalationTimeoutSeconds,omitempty"`
	TaskLostBehavior                 string   `json:"taskLostBehavior,omitempty"`
}

// Container holds the image (images.go), the volumes and, on container
// networks, the port mappings; type MESOS (the default) or DOCKER.
type Container struct {
	Type         string        `json:"type,omitempty"`
	Docker       *Docker       `json:"docker,omitempty"`
	Volumes      []Volume      `json:"volumes,omitempty"`
	PortMappings []PortMapping `json:"portMappings,omitempty"`
}

// Volume is a persistent volume or a host path.
type Volume struct {
	ContainerPath string      `json:"containerPath"`
	Mode          string      `json:"mode,omitempty"`
	HostPath      string      `json:"hostPath,omitempty"`
	Persistent    *Persistent `json:"persistent,omitempty"`
}

// Persistent sizes a persistent volume in MB.
type Persistent struct {
	Size float64 `json:"size"`
	Type string  `json:"type,omitempty"`
}

// Fetch is a URI the agent fetches into the sandbox.
type Fetch struct {
	URI        string `json:"uri"`
	Executable bool   `json:"executable,omitempty"`
	Extract    *bool  `json:"extract,omitempty"`
	Cache      bool   `json:"cache,omitempty"`
	OutputFile string `json:"outputFile,omitempty"`
}

// Network is one of an app's networks (see networks.go): host, a CNI
// network by name (container), or the bridge (container/bridge).
type Network struct {
	Mode   string            `json:"mode"`
	Name   string            `json:"name,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

// ResidentApps enables persistent volumes and residency in apps. Off: the
// pets framework owns stateful workloads (stable identity, reservations,
// at-most-one), and an app asking for them is refused, not run without
// its data.
var ResidentApps = false

// Defaults as Marathon documents them.
const (
	DefaultRole            = "*"
	defaultBackoff         = 1.0
	defaultBackoffFactor   = 1.15
	defaultMaxLaunchDelay  = 300.0
	defaultCPUs            = 1.0
	defaultMem             = 128.0
	defaultHealthGrace     = 300.0
	defaultHealthInterval  = 60.0
	defaultHealthTimeout   = 20.0
	defaultHealthFailures  = 3
	defaultReadyInterval   = 30.0
	defaultReadyTimeout    = 10.0
	defaultInactiveAfter   = 0.0
	defaultExpungeAfter    = 0.0
	killYoungestFirst      = "YOUNGEST_FIRST"
	killOldestFirst        = "OLDEST_FIRST"
	maxInstances           = 100000
	maxUnreachableInactive = 7 * 24 * 3600.0
)

// Violation is one broken rule, at a JSON path, in Marathon's 422 shape.
type Violation struct {
	Path   string   `json:"path"`
	Errors []string `json:"errors"`
}

// ValidationError lists every rule an app breaks.
type ValidationError struct {
	Details []Violation
}

func (e *ValidationError) Error() string {
	var parts []string
	for _, d := range e.Details {
		parts = append(parts, d.Path+": "+strings.Join(d.Errors, "; "))
	}
	return "invalid app: " + strings.Join(parts, ", ")
}

func (e *ValidationError) add(path, format string, args ...any) {
	e.Details = append(e.Details, Violation{Path: path, Errors: []string{fmt.Sprintf(format, args...)}})
}

var unknownField = regexp.MustCompile(`^json: unknown field "(.*)"$`)

// DecodeApp reads one app strictly: unknown fields and type mismatches are
// a ValidationError naming the field.
func DecodeApp(r io.Reader) (*App, error) { return decodeStrict[App](r, "app") }

// decodeStrict reads one value, an app or a group (what), strictly.
func decodeStrict[T any](r io.Reader, what string) (*T, error) {
	d := json.NewDecoder(r)
	d.DisallowUnknownFields()
	var v T
	if err := d.Decode(&v); err != nil {
		return nil, decodeError(err)
	}
	if d.More() {
		return nil, &ValidationError{Details: []Violation{{Path: "/", Errors: []string{"trailing data after the " + what}}}}
	}
	return &v, nil
}

func decodeError(err error) error {
	v := &ValidationError{}
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case unknownField.MatchString(err.Error()):
		name := unknownField.FindStringSubmatch(err.Error())[1]
		v.add("/"+name, "unknown field %q: corral does not support it (it is not ignored, so that an app never runs differently from how it was written)", name)
	case errors.As(err, &typeErr):
		v.add("/"+strings.ReplaceAll(typeErr.Field, ".", "/"), "expected %s, got JSON %s", typeErr.Type, typeErr.Value)
	case errors.As(err, &syntaxErr):
		v.add("/", "malformed JSON at byte %d: %v", syntaxErr.Offset, err)
	case errors.Is(err, io.EOF):
		v.add("/", "the body is empty; send an app as JSON")
	default:
		v.add("/", "%v", err)
	}
	return v
}

// idPart is one segment of an app ID: Marathon's rule.
var idPart = regexp.MustCompile(`^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$`)

// CanonicalID makes an app ID absolute ("web" → "/web") and checks it.
func CanonicalID(id string) (string, error) {
	if id == "" {
		return "", errors.New("the id is empty")
	}
	if !strings.HasPrefix(id, "/") {
		id = "/" + id
	}
	id = strings.TrimSuffix(id, "/")
	if id == "" {
		return "", errors.New(`"/" is a group, not an app id`)
	}
	for _, part := range strings.Split(id[1:], "/") {
		if !idPart.MatchString(part) {
			return "", fmt.Errorf("%q: each path segment must be lowercase letters, digits, hyphens and dots, starting and ending with a letter or digit", id)
		}
	}
	return id, nil
}

// Normalize fills defaults and validates the app; the returned error is a
// *ValidationError.
func (a *App) Normalize() error {
	v := &ValidationError{}
	id, err := CanonicalID(a.ID)
	if err != nil {
		v.add("/id", "%v", err)
	}
	a.ID = id
	if a.Cmd == "" && len(a.Args) == 0 && a.image() == "" {
		v.add("/cmd", "an app needs cmd or args (or a container image, whose own command runs)")
	}
	if a.Cmd != "" && len(a.Args) > 0 {
		v.add("/args", "cmd and args are mutually exclusive")
	}
	if a.CPUs == 0 {
		a.CPUs = defaultCPUs
	}
	if a.Mem == 0 {
		a.Mem = defaultMem
	}
	for name, q := range map[string]float64{"cpus": a.CPUs, "mem": a.Mem, "disk": a.Disk} {
		if q < 0 || math.IsNaN(q) || math.IsInf(q, 0) {
			v.add("/"+name, "must be a non-negative number, got %v", q)
		}
	}
	if a.GPUs != 0 {
		v.add("/gpus", "GPUs are not supported by corral's agents; use 0")
	}
	if a.Instances == nil {
		one := 1
		a.Instances = &one
	}
	if n := *a.Instances; n < 0 || n > maxInstances {
		v.add("/instances", "must be between 0 and %d, got %d", maxInstances, n)
	}
	for k := range a.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			v.add("/env", "variable name %q is not valid", k)
		}
	}
	if _, err := sdk.ParseConstraints(a.Constraints); err != nil {
		v.add("/constraints", "%v", err)
	}
	a.normalizePorts(v)
	a.normalizeHealthChecks(v)
	a.normalizeReadiness(v)
	a.normalizeStrategies(v)
	if a.Role == "" {
		a.Role = DefaultRole
	}
	if err := resources.ValidateRole(a.Role); a.Role != DefaultRole && err != nil {
		v.add("/role", "%v", err)
	}
	if len(a.AcceptedResourceRoles) > 0 && !slices.Equal(a.AcceptedResourceRoles, []string{"*"}) {
		v.add("/acceptedResourceRoles", "%q: apps run on unreserved resources only ([\"*\"]); reserved resources are for the pets framework", a.AcceptedResourceRoles)
	}
	a.normalizeContainer(v)
	for i, f := range a.Fetch {
		if f.URI == "" {
			v.add(fmt.Sprintf("/fetch/%d/uri", i), "the uri is empty")
		}
	}
	a.normalizeNetworks(v)
	a.normalizeDependencies(v)
	if a.TaskKillGracePeriod != nil && *a.TaskKillGracePeriod < 0 {
		v.add("/taskKillGracePeriodSeconds", "must not be negative")
	}
	a.VersionInfo, a.TasksStaged, a.TasksRunning, a.TasksHealthy, a.TasksUnhealthy = nil, nil, nil, nil, nil
	a.Deployments, a.Tasks, a.LastTaskFail = nil, nil, nil
	if len(v.Details) > 0 {
		return v
	}
	return nil
}

func (a *App) normalizePorts(v *ValidationError) {
	if len(a.Ports) > 0 && len(a.PortDefinitions) > 0 {
		v.add("/ports", "ports and portDefinitions are mutually exclusive")
		return
	}
	if len(a.Ports) > 0 {
		for _, p := range a.Ports {
			a.PortDefinitions = append(a.PortDefinitions, PortDefinition{Port: p})
		}
		a.Ports = nil
	}
	names := make(map[string]bool)
	for i, p := range a.PortDefinitions {
		if p.Port < 0 || p.Port > 65535 {
			v.add(fmt.Sprintf("/portDefinitions/%d/port", i), "must be between 0 and 65535, got %d", p.Port)
		}
		if a.RequirePorts && p.Port == 0 {
			v.add(fmt.Sprintf("/portDefinitions/%d/port", i), "requirePorts needs every port to be given (not 0)")
		}
		if p.Protocol != "" && p.Protocol != "tcp" && p.Protocol != "udp" && p.Protocol != "udp,tcp" {
			v.add(fmt.Sprintf("/portDefinitions/%d/protocol", i), "must be tcp, udp or \"udp,tcp\"")
		}
		if p.Name != "" {
			if names[p.Name] {
				v.add(fmt.Sprintf("/portDefinitions/%d/name", i), "port name %q is used twice", p.Name)
			}
			names[p.Name] = true
		}
	}
}

func (a *App) normalizeHealthChecks(v *ValidationError) {
	for i := range a.HealthChecks {
		h := &a.HealthChecks[i]
		path := fmt.Sprintf("/healthChecks/%d", i)
		switch h.Protocol {
		case "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP":
			if h.Port == 0 {
				if h.PortIndex == nil {
					zero := 0
					h.PortIndex = &zero
				}
				if *h.PortIndex < 0 || *h.PortIndex >= a.portCount() {
					v.add(path+"/portIndex", "%d does not name one of the app's %d ports", *h.PortIndex, a.portCount())
				}
			}
		case "COMMAND":
			if h.Command == nil || h.Command.Value == "" {
				v.add(path+"/command", "a COMMAND check needs command.value")
			}
		case "HTTP", "HTTPS", "TCP":
			v.add(path+"/protocol", "%s checks run by the framework are not supported; use MESOS_%s (run by the agent)", h.Protocol, h.Protocol)
		default:
			v.add(path+"/protocol", "must be MESOS_HTTP, MESOS_HTTPS, MESOS_TCP or COMMAND, got %q", h.Protocol)
		}
		setDefault(&h.GracePeriodSeconds, defaultHealthGrace)
		setDefault(&h.IntervalSeconds, defaultHealthInterval)
		setDefault(&h.TimeoutSeconds, defaultHealthTimeout)
		setDefault(&h.DelaySeconds, 15)
		if h.MaxConsecutiveFailures == nil {
			n := defaultHealthFailures
			h.MaxConsecutiveFailures = &n
		}
		if *h.IntervalSeconds <= 0 || *h.TimeoutSeconds <= 0 || *h.GracePeriodSeconds < 0 || *h.DelaySeconds < 0 || *h.MaxConsecutiveFailures < 0 {
			v.add(path, "intervalSeconds and timeoutSeconds must be positive; gracePeriodSeconds, delaySeconds and maxConsecutiveFailures not negative")
		}
		if *h.TimeoutSeconds > *h.IntervalSeconds {
			v.add(path+"/timeoutSeconds", "must not exceed intervalSeconds")
		}
	}
}

func (a *App) normalizeReadiness(v *ValidationError) {
	for i := range a.ReadinessChecks {
		r := &a.ReadinessChecks[i]
		path := fmt.Sprintf("/readinessChecks/%d", i)
		if r.Protocol == "" {
			r.Protocol = "HTTP"
		}
		if r.Protocol != "HTTP" {
			v.add(path+"/protocol", "only HTTP readiness checks are supported, got %q", r.Protocol)
		}
		if r.Path == "" {
			r.Path = "/"
		}
		if r.Name == "" {
			r.Name = "readinessCheck"
		}
		if r.PortName == "" {
			v.add(path+"/portName", "must name one of the app's portDefinitions (or portMappings)")
		} else if !a.hasPortNamed(r.PortName) {
			v.add(path+"/portName", "%q is not the name of one of the app's portDefinitions (or portMappings)", r.PortName)
		}
		setDefault(&r.IntervalSeconds, defaultReadyInterval)
		setDefault(&r.TimeoutSeconds, defaultReadyTimeout)
		if *r.IntervalSeconds <= 0 || *r.TimeoutSeconds <= 0 {
			v.add(path, "intervalSeconds and timeoutSeconds must be positive")
		}
		if len(r.HTTPStatusCodesForReady) == 0 {
			r.HTTPStatusCodesForReady = []int{200}
		}
	}
}

func (a *App) normalizeStrategies(v *ValidationError) {
	if a.UpgradeStrategy == nil {
		a.UpgradeStrategy = &UpgradeStrategy{}
	}
	u := a.UpgradeStrategy
	setDefault(&u.MinimumHealthCapacity, 1)
	setDefault(&u.MaximumOverCapacity, 1)
	if m := *u.MinimumHealthCapacity; m < 0 || m > 1 {
		v.add("/upgradeStrategy/minimumHealthCapacity", "must be between 0 and 1, got %v", m)
	}
	if m := *u.MaximumOverCapacity; m < 0 || m > 1 {
		v.add("/upgradeStrategy/maximumOverCapacity", "must be between 0 and 1, got %v", m)
	}
	if *u.MinimumHealthCapacity == 1 && *u.MaximumOverCapacity == 0 {
		v.add("/upgradeStrategy", "minimumHealthCapacity 1 with maximumOverCapacity 0 leaves no room to replace an instance")
	}
	if a.Residency != nil || a.hasPersistentVolumes() {
		// Resident instances cannot be started next to their old selves:
		// their volume is in use.
		if *u.MaximumOverCapacity != 0 && a.UpgradeStrategy != nil {
			zero := 0.0
			u.MaximumOverCapacity = &zero
			if *u.MinimumHealthCapacity == 1 {
				half := 0.5
				u.MinimumHealthCapacity = &half
			}
		}
	}
	setDefault(&a.BackoffSeconds, defaultBackoff)
	setDefault(&a.BackoffFactor, defaultBackoffFactor)
	setDefault(&a.MaxLaunchDelaySeconds, defaultMaxLaunchDelay)
	if *a.BackoffSeconds < 0 || *a.BackoffFactor < 1 || *a.MaxLaunchDelaySeconds < 0 {
		v.add("/backoffSeconds", "backoffSeconds and maxLaunchDelaySeconds must not be negative, and backoffFactor must be at least 1")
	}
	if a.UnreachableStrategy == nil {
		a.UnreachableStrategy = &UnreachableStrategy{}
	}
	if us := a.UnreachableStrategy; !us.Disabled {
		setDefault(&us.InactiveAfterSeconds, defaultInactiveAfter)
		setDefault(&us.ExpungeAfterSeconds, defaultExpungeAfter)
		if *us.InactiveAfterSeconds < 0 || *us.InactiveAfterSeconds > maxUnreachableInactive {
			v.add("/unreachableStrategy/inactiveAfterSeconds", "must be between 0 and %v", maxUnreachableInactive)
		}
		if *us.ExpungeAfterSeconds < *us.InactiveAfterSeconds {
			v.add("/unreachableStrategy/expungeAfterSeconds", "must be at least inactiveAfterSeconds")
		}
	}
	switch a.KillSelection {
	case "":
		a.KillSelection = killYoungestFirst
	case killYoungestFirst, killOldestFirst:
	default:
		v.add("/killSelection", "must be YOUNGEST_FIRST or OLDEST_FIRST, got %q", a.KillSelection)
	}
}

func (a *App) normalizeContainer(v *ValidationError) {
	c := a.Container
	if c == nil {
		return
	}
	if c.Type == "" {
		c.Type = "MESOS"
	}
	a.normalizeImage(v)
	for i := range c.Volumes {
		vol := &c.Volumes[i]
		path := fmt.Sprintf("/container/volumes/%d", i)
		if vol.Mode == "" {
			vol.Mode = "RW"
		}
		if vol.Mode != "RW" && vol.Mode != "RO" {
			v.add(path+"/mode", "must be RW or RO")
		}
		switch {
		case vol.Persistent != nil:
			if !ResidentApps {
				v.add(path+"/persistent", "persistent volumes are not supported by the service framework; run stateful software with the pets framework (corral pets), which reserves and keeps volumes per identity")
				continue
			}
			if vol.HostPath != "" {
				v.add(path, "a volume is either persistent or a hostPath")
			}
			if vol.Persistent.Size <= 0 {
				v.add(path+"/persistent/size", "must be positive (MB)")
			}
			if vol.Persistent.Type != "" && vol.Persistent.Type != "root" {
				v.add(path+"/persistent/type", "only root disks are supported")
			}
			if strings.HasPrefix(vol.ContainerPath, "/") || strings.Contains(vol.ContainerPath, "..") || vol.ContainerPath == "" {
				v.add(path+"/containerPath", "a persistent volume's containerPath is relative to the sandbox, without \"..\"")
			}
		case vol.HostPath != "":
			if !strings.HasPrefix(vol.HostPath, "/") {
				v.add(path+"/hostPath", "must be absolute")
			}
			if vol.ContainerPath == "" {
				v.add(path+"/containerPath", "is required")
			}
		default:
			v.add(path, "needs persistent or hostPath")
		}
	}
	if a.hasPersistentVolumes() && a.Residency == nil {
		a.Residency = &Residency{}
	}
	if r := a.Residency; r != nil {
		if r.TaskLostBehavior == "" {
			r.TaskLostBehavior = "WAIT_FOREVER"
		}
		if r.TaskLostBehavior != "WAIT_FOREVER" && r.TaskLostBehavior != "RELAUNCH_AFTER_TIMEOUT" {
			v.add("/residency/taskLostBehavior", "must be WAIT_FOREVER or RELAUNCH_AFTER_TIMEOUT")
		}
		setDefault(&r.RelaunchEscalationTimeoutSeconds, 3600)
	}
}

// normalizeDependencies makes every dependency an absolute ID, resolved
// against the app's group as Marathon resolves relative paths.
func (a *App) normalizeDependencies(v *ValidationError) {
	if len(a.Dependencies) == 0 {
		a.Dependencies = nil
		return
	}
	seen := make(map[string]bool)
	var out []string
	for i, d := range a.Dependencies {
		id, err := resolvePath(parentOf(a.ID), d)
		switch {
		case err != nil:
			v.add(fmt.Sprintf("/dependencies/%d", i), "%v", err)
		case id == a.ID:
			v.add(fmt.Sprintf("/dependencies/%d", i), "an app cannot depend on itself")
		case !seen[id]:
			seen[id] = true
			out = append(out, id)
		}
	}
	slices.Sort(out)
	a.Dependencies = out
}

func (a *App) hasPersistentVolumes() bool {
	if a.Container == nil {
		return false
	}
	return slices.ContainsFunc(a.Container.Volumes, func(v Volume) bool { return v.Persistent != nil })
}

func setDefault(p **float64, v float64) {
	if *p == nil {
		*p = &v
	}
}

// instances is the desired count.
func (a *App) instances() int { return *a.Instances }

// sameRuntime reports whether two versions of an app run the same way, so
// that changing from one to the other needs no restart (only a scale).
func sameRuntime(a, b *App) bool {
	x, y := *a, *b
	x.Instances, y.Instances = nil, nil
	x.Version, y.Version = "", ""
	// Dependencies order deployments; they do not change how an instance runs.
	x.Dependencies, y.Dependencies = nil, nil
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}
