package pets

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-sched/corral/frameworks/kit"
)

// Handler serves the REST API:
//
//	GET/POST       /v1/petsets
//	GET/PUT/DELETE /v1/petsets/{id}            (DELETE ?purge=true destroys the volumes)
//	GET            /v1/petsets/{id}/pets
//	GET            /v1/petsets/{id}/endpoints
//	POST           /v1/petsets/{id}/scale      {"instances": N}
//	POST           /v1/petsets/{id}/pets/{ordinal}/restart
//	POST           /v1/petsets/{id}/pets/{ordinal}/replace
//	GET            /v1/releases                (placements being given back)
//
// and /health and /metrics: the framework's own metrics and gatherer's
// (which may be nil).
func (f *Framework) Handler(gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/petsets", f.listSets)
	mux.HandleFunc("POST /v1/petsets", f.createSet)
	mux.HandleFunc("GET /v1/petsets/{id}", f.getSet)
	mux.HandleFunc("PUT /v1/petsets/{id}", f.putSet)
	mux.HandleFunc("DELETE /v1/petsets/{id}", f.deleteSet)
	mux.HandleFunc("GET /v1/petsets/{id}/pets", f.listPets)
	mux.HandleFunc("GET /v1/petsets/{id}/endpoints", f.getEndpoints)
	mux.HandleFunc("POST /v1/petsets/{id}/scale", f.scale)
	mux.HandleFunc("POST /v1/petsets/{id}/pets/{ordinal}/restart", f.petAction)
	mux.HandleFunc("POST /v1/petsets/{id}/pets/{ordinal}/replace", f.petAction)
	mux.HandleFunc("GET /v1/releases", f.listReleases)
	api := kit.API{FrameworkID: f.FrameworkID, Metrics: f.metrics(), Gatherer: gatherer, Credentials: f.cfg.APICredentials}
	return api.Handler(mux)
}

// decodeStrict decodes one JSON value into v: unknown fields and wrong
// types are 422s naming the field, malformed JSON a 400.
func decodeStrict(w http.ResponseWriter, r *http.Request, what string, v any) ([]byte, bool) {
	body, ok := kit.ReadBody(w, r, what)
	if !ok {
		return nil, false
	}
	err := kit.DecodeStrict(body, v)
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return body, true
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		kit.WriteError(w, http.StatusUnprocessableEntity, "invalid %s: %s", what, strings.TrimPrefix(err.Error(), "json: "))
		return nil, false
	case errors.As(err, &typeErr):
		kit.WriteError(w, http.StatusUnprocessableEntity, "invalid %s: field %q: want %s, got %s", what, typeErr.Field, typeErr.Type, typeErr.Value)
		return nil, false
	case strings.HasPrefix(err.Error(), "ports:"), strings.HasPrefix(err.Error(), "placement:"):
		kit.WriteError(w, http.StatusUnprocessableEntity, "invalid %s: %v", what, err)
		return nil, false
	default: // malformed, or trailing data
		kit.WriteError(w, http.StatusBadRequest, "invalid %s JSON: %v", what, err)
		return nil, false
	}
}

// readSpec decodes and validates a set.
func readSpec(w http.ResponseWriter, r *http.Request) (*PetSet, bool) {
	s := &PetSet{}
	body, ok := decodeStrict(w, r, "pet set", s)
	if !ok {
		return nil, false
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) == nil {
		if _, given := fields["instances"]; !given {
			s.Instances = 1
		}
	}
	if err := s.normalize(); err != nil {
		kit.WriteError(w, http.StatusUnprocessableEntity, "invalid pet set: %v", err)
		return nil, false
	}
	return s, true
}

func (f *Framework) listSets(w http.ResponseWriter, r *http.Request) {
	kit.View(w, &f.mu, func() (any, *kit.Error) {
		return kit.Sorted(f.sets, func(s *setState) *PetSetView { return f.setView(s, false) }), nil
	})
}

// setLocked returns the set named in the URL.
func (f *Framework) setLocked(r *http.Request) (*setState, *kit.Error) {
	if s := f.sets[r.PathValue("id")]; s != nil {
		return s, nil
	}
	return nil, kit.Errorf(http.StatusNotFound, "pet set %q does not exist", r.PathValue("id"))
}

// liveSetLocked returns the set named in the URL unless it is being
// deleted.
func (f *Framework) liveSetLocked(r *http.Request) (*setState, *kit.Error) {
	s, e := f.setLocked(r)
	if e == nil && s.Deleting {
		return nil, kit.Errorf(http.StatusConflict, "pet set %q is being deleted", s.Spec.ID)
	}
	return s, e
}

// viewSet answers a view of the set named in the URL.
func (f *Framework) viewSet(w http.ResponseWriter, r *http.Request, view func(*setState) any) {
	kit.View(w, &f.mu, func() (any, *kit.Error) {
		s, e := f.setLocked(r)
		if e != nil {
			return nil, e
		}
		return view(s), nil
	})
}

func (f *Framework) getSet(w http.ResponseWriter, r *http.Request) {
	f.viewSet(w, r, func(s *setState) any { return f.setView(s, true) })
}

func (f *Framework) createSet(w http.ResponseWriter, r *http.Request) {
	spec, ok := readSpec(w, r)
	if !ok {
		return
	}
	kit.Change(w, r, f.durable, http.StatusCreated, func() (any, *kit.Error) {
		if f.sets[spec.ID] != nil {
			return nil, kit.Errorf(http.StatusConflict, "pet set %q exists; PUT /v1/petsets/%s to change it", spec.ID, spec.ID)
		}
		if msg := f.retainedConflict(spec); msg != "" {
			return nil, kit.Errorf(http.StatusConflict, "%s", msg)
		}
		return f.setView(f.newSet(spec), false), nil
	})
}

func (f *Framework) newSet(spec *PetSet) *setState {
	now := f.cfg.Now()
	s := &setState{Spec: *spec, Revision: 1, Created: now, Updated: now}
	f.sets[spec.ID] = s
	f.setRecords.Mark(spec.ID)
	f.log.Info("set created", "set", spec.ID, "instances", spec.Instances)
	f.loop.Poke()
	return s
}

// retainedConflict refuses a new set whose pets' kept placements (from a
// set of that ID deleted without purge) do not fit its resources.
func (f *Framework) retainedConflict(spec *PetSet) string {
	for _, p := range f.petsOf(spec.ID) {
		if p == nil || p.Placement == nil {
			continue
		}
		pl := p.Placement
		vols := make([]Volume, 0, len(pl.Volumes))
		for _, v := range pl.Volumes {
			vols = append(vols, Volume{ContainerPath: v.ContainerPath, Size: v.Size})
		}
		kept := &PetSet{CPUs: pl.CPUs, Mem: pl.Mem, Disk: pl.Disk, Ports: make(Ports, len(pl.Ports)), Volumes: vols, Role: pl.Role}
		if ch := shapeChanges(kept, spec); len(ch) > 0 {
			return fmt.Sprintf("pet %s keeps the reservation and volumes of a deleted set %q with other %s; create the set with the same resources, or DELETE /v1/petsets/%s?purge=true to destroy them",
				p.Name, spec.ID, strings.Join(ch, ", "), spec.ID)
		}
	}
	return ""
}

func (f *Framework) putSet(w http.ResponseWriter, r *http.Request) {
	spec, ok := readSpec(w, r)
	if !ok {
		return
	}
	if spec.ID != r.PathValue("id") {
		kit.WriteError(w, http.StatusBadRequest, "the set's id %q does not match the URL's %q", spec.ID, r.PathValue("id"))
		return
	}
	f.mu.Lock()
	s := f.sets[spec.ID]
	status := http.StatusOK
	switch {
	case s == nil:
		if msg := f.retainedConflict(spec); msg != "" {
			f.mu.Unlock()
			kit.WriteError(w, http.StatusConflict, "%s", msg)
			return
		}
		s, status = f.newSet(spec), http.StatusCreated
	case s.Deleting:
		f.mu.Unlock()
		kit.WriteError(w, http.StatusConflict, "pet set %q is being deleted", spec.ID)
		return
	default:
		if ch := shapeChanges(&s.Spec, spec); len(ch) > 0 {
			f.mu.Unlock()
			kit.WriteError(w, http.StatusUnprocessableEntity, "invalid update: %s cannot change: the pets run on reservations and volumes of that shape (delete with ?purge=true and create the set again)", strings.Join(ch, ", "))
			return
		}
		f.updateSpec(s, spec)
	}
	b := kit.Encode(f.setView(s, false))
	f.mu.Unlock()
	kit.CommitRaw(w, r, f.durable, status, b)
}

// updateSpec makes spec the set's desired state; a change of what the
// pets run makes a new revision, which rolls out per the strategy.
func (f *Framework) updateSpec(s *setState, spec *PetSet) {
	old := s.Spec
	if !reflect.DeepEqual(old.template(), spec.template()) {
		if s.History == nil {
			s.History = map[int]*PetSet{}
		}
		s.History[s.Revision] = &old
		s.Revision++
		f.log.Info("set updated", "set", spec.ID, "revision", s.Revision, "strategy", spec.UpdateStrategy.Type)
	}
	s.Spec = *spec
	s.Updated = f.cfg.Now()
	f.setRecords.Mark(spec.ID)
	f.loop.Poke()
}

func (f *Framework) deleteSet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	purge := false
	if v := r.URL.Query().Get("purge"); v != "" {
		var err error
		if purge, err = strconv.ParseBool(v); err != nil {
			kit.WriteError(w, http.StatusBadRequest, "purge=%q: want true or false", v)
			return
		}
	}
	f.mu.Lock()
	s := f.sets[id]
	if s == nil {
		// A deleted set's kept pets can still be purged.
		kept := 0
		for _, p := range f.petsOf(id) {
			if p != nil && purge {
				f.release(p, "set purged", "", f.cfg.Now())
				delete(f.pets, p.Name)
				f.petRecords.Remove(p.Name)
				kept++
			}
		}
		f.mu.Unlock()
		if kept == 0 {
			kit.WriteError(w, http.StatusNotFound, "pet set %q does not exist", id)
			return
		}
		if kit.Commit(w, r, f.durable) {
			kit.WriteJSON(w, http.StatusAccepted, map[string]any{"id": id, "purged": kept})
		}
		return
	}
	s.Deleting, s.Purge = true, s.Purge || purge
	f.setRecords.Mark(id)
	f.log.Info("deleting set", "set", id, "purge", s.Purge)
	b := kit.Encode(f.setView(s, false))
	f.mu.Unlock()
	f.loop.Poke()
	kit.CommitRaw(w, r, f.durable, http.StatusAccepted, b)
}

func (f *Framework) listPets(w http.ResponseWriter, r *http.Request) {
	f.viewSet(w, r, func(s *setState) any { return f.setView(s, true).Pets })
}

func (f *Framework) getEndpoints(w http.ResponseWriter, r *http.Request) {
	f.viewSet(w, r, func(s *setState) any { return f.endpoints(s) })
}

// ScaleRequest is the body of POST /v1/petsets/{id}/scale.
type ScaleRequest struct {
	Instances *int `json:"instances"`
}

func (f *Framework) scale(w http.ResponseWriter, r *http.Request) {
	var req ScaleRequest
	if _, ok := decodeStrict(w, r, "scale request", &req); !ok {
		return
	}
	if req.Instances == nil || *req.Instances < 0 || *req.Instances > MaxInstances {
		kit.WriteError(w, http.StatusUnprocessableEntity, "instances is required, between 0 and %d", MaxInstances)
		return
	}
	kit.Change(w, r, f.durable, http.StatusOK, func() (any, *kit.Error) {
		s, e := f.liveSetLocked(r)
		if e != nil {
			return nil, e
		}
		spec := s.Spec
		spec.Instances = *req.Instances
		f.updateSpec(s, &spec)
		return f.setView(s, false), nil
	})
}

// petAction restarts a pet (on its reservation, with the set's current
// spec) or replaces it (elsewhere, with fresh volumes).
func (f *Framework) petAction(w http.ResponseWriter, r *http.Request) {
	action := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	k, err := strconv.Atoi(r.PathValue("ordinal"))
	if err != nil || k < 0 {
		kit.WriteError(w, http.StatusBadRequest, "ordinal %q: want a non-negative integer", r.PathValue("ordinal"))
		return
	}
	kit.Change(w, r, f.durable, http.StatusAccepted, func() (any, *kit.Error) {
		s, e := f.liveSetLocked(r)
		if e != nil {
			return nil, e
		}
		p := f.pets[petName(s.Spec.ID, k)]
		switch {
		case k >= s.Spec.Instances || p == nil:
			return nil, kit.Errorf(http.StatusNotFound, "pet set %q has no pet %d (it has %d instances)", s.Spec.ID, k, s.Spec.Instances)
		case action == "restart" && !p.live():
			return nil, kit.Errorf(http.StatusConflict, "pet %s is not running", p.Name)
		}
		if action == "restart" {
			p.Restart = true
		} else {
			p.Replace = true
		}
		f.markPet(p)
		f.log.Info("pet "+action+" requested", "pet", p.Name)
		f.loop.Poke()
		return f.petView(s, p), nil
	})
}

func (f *Framework) listReleases(w http.ResponseWriter, r *http.Request) {
	kit.View(w, &f.mu, func() (any, *kit.Error) {
		return kit.Sorted(f.releases, func(r *Release) *Release { return r }), nil
	})
}
