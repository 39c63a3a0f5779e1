package pets

import (
	"net"
	"strconv"
	"time"
)

// PetView is a pet as the API shows it.
type PetView struct {
	Name        string            `json:"name"`
	Set         string            `json:"set"`
	Ordinal     int               `json:"ordinal"`
	Phase       string            `json:"phase"`
	Wanted      bool              `json:"wanted"`
	State       string            `json:"state,omitempty"`
	Ready       bool              `json:"ready"`
	Healthy     *bool             `json:"healthy,omitempty"`
	Revision    int               `json:"revision,omitempty"`
	TaskID      string            `json:"taskId,omitempty"`
	Host        string            `json:"host,omitempty"`
	AgentID     string            `json:"agentId,omitempty"`
	Ports       map[string]uint64 `json:"ports,omitempty"`
	Volumes     []PlacedVolume    `json:"volumes,omitempty"`
	PlacementID string            `json:"placementId,omitempty"`
	// Waiting says why the pet is not running when it should be.
	Waiting     string    `json:"waiting,omitempty"`
	Stopping    string    `json:"stopping,omitempty"`
	Unknown     string    `json:"unknown,omitempty"`
	Message     string    `json:"message,omitempty"`
	Incarnation int       `json:"incarnation"`
	Failures    int       `json:"failures"`
	LaunchedAt  time.Time `json:"launchedAt,omitzero"`
	ReadyAt     time.Time `json:"readyAt,omitzero"`
}

// PetSetView is a set with its progress.
type PetSetView struct {
	PetSet
	Revision int `json:"revision"`
	// Status is ready, deploying (pets starting or stopping), updating
	// (a rolling update in progress) or deleting.
	Status      string     `json:"status"`
	ReadyPets   int        `json:"readyPets"`
	RunningPets int        `json:"runningPets"`
	UpdatedPets int        `json:"updatedPets"`
	Deleting    bool       `json:"deleting,omitempty"`
	Purge       bool       `json:"purge,omitempty"`
	Created     time.Time  `json:"created"`
	Changed     time.Time  `json:"changed"`
	Pets        []*PetView `json:"pets,omitempty"`
}

// Endpoint is where a pet can be reached now.
type Endpoint struct {
	Host    string            `json:"host"`
	Address string            `json:"address,omitempty"`
	Ports   map[string]uint64 `json:"ports,omitempty"`
	Ready   bool              `json:"ready"`
}

func (f *Framework) petView(s *setState, p *Pet) *PetView {
	v := &PetView{Name: p.Name, Set: p.Set, Ordinal: p.Ordinal, Phase: p.Phase(), State: p.State, Ready: p.ready(),
		Healthy: p.Healthy, Revision: p.Revision, TaskID: p.TaskID, Waiting: f.waiting[p.Name], Stopping: p.Killing,
		Unknown: p.InDoubt, Message: p.Message, Incarnation: p.Incarnation, Failures: p.Failures,
		LaunchedAt: p.LaunchedAt, ReadyAt: p.ReadyAt}
	if p.InDoubt != "" && p.Placement != nil {
		v.Waiting = "its task may still be running on " + p.Placement.Hostname + ": not relaunched (nor replaced) until it is known to have ended or the agent is marked gone"
	}
	if s != nil {
		v.Wanted = p.Ordinal < s.Spec.Instances && !s.Deleting
	}
	if pl := p.Placement; pl != nil {
		v.Host, v.AgentID, v.Volumes, v.PlacementID = pl.Hostname, pl.AgentID, pl.Volumes, pl.ID
		spec := &PetSet{}
		if s != nil {
			spec = s.specAt(p.Revision)
		}
		v.Ports = describePorts(spec, pl.Ports)
	}
	return v
}

func (f *Framework) setView(s *setState, withPets bool) *PetSetView {
	v := &PetSetView{PetSet: s.Spec, Revision: s.Revision, Deleting: s.Deleting, Purge: s.Purge, Created: s.Created, Changed: s.Updated}
	pets := f.petsOf(s.Spec.ID)
	requested := false
	for k, p := range pets {
		if p == nil {
			continue
		}
		if k < s.Spec.Instances {
			if p.running() {
				v.RunningPets++
			}
			if p.ready() {
				v.ReadyPets++
				if p.Revision == s.Revision {
					v.UpdatedPets++
				}
			}
		}
		if withPets {
			v.Pets = append(v.Pets, f.petView(s, p))
		}
		// A restart or replace asked for and not done yet is progress to come.
		requested = requested || p.Restart || p.Replace
	}
	extra, outdated := false, false
	for k := s.Spec.Instances; k < len(pets); k++ {
		extra = extra || pets[k].live()
	}
	if u := s.Spec.UpdateStrategy; u.Type == RollingUpdate {
		for k := u.Partition; k < min(s.Spec.Instances, len(pets)); k++ {
			outdated = outdated || (pets[k] != nil && pets[k].Revision != 0 && pets[k].Revision != s.Revision)
		}
	}
	switch {
	case s.Deleting:
		v.Status = "deleting"
	case outdated:
		v.Status = "updating"
	case v.ReadyPets < s.Spec.Instances || extra || requested:
		v.Status = "deploying"
	default:
		v.Status = "ready"
	}
	return v
}

func (f *Framework) endpoints(s *setState) map[string]Endpoint {
	out := map[string]Endpoint{}
	for _, p := range f.petsOf(s.Spec.ID) {
		if p == nil || p.Placement == nil || p.Ordinal >= s.Spec.Instances {
			continue
		}
		e := Endpoint{Host: p.Placement.Hostname, Ports: describePorts(s.specAt(p.Revision), p.Placement.Ports), Ready: p.ready()}
		if len(p.Placement.Ports) > 0 {
			e.Address = net.JoinHostPort(p.Placement.Hostname, strconv.FormatUint(p.Placement.Ports[0], 10))
		}
		out[p.Name] = e
	}
	return out
}
