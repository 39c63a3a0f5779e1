//go:build linux

package store

import (
	"errors"
	"os"
	"slices"
	"time"
)

// GCPolicy says which images the store may remove, in the spirit of Mesos'
// --image_gc_config: images no container uses go, least recently used
// first, while the store is over its disk budget or once they have gone
// unused for too long; recently used and excluded images stay.
type GCPolicy struct {
	// Budget is the disk the store's layers may take, in bytes; 0 means
	// no budget.
	Budget int64
	// KeepRecent keeps images used within this long, even over budget, so
	// that an image a framework relaunches every minute is not pulled each
	// time.
	KeepRecent time.Duration
	// MaxUnused removes images unused for longer than this even under
	// budget; 0 means never by age alone.
	MaxUnused time.Duration
	// Excluded names images never collected (as the store records names,
	// e.g. "127.0.0.1:5000/base:1").
	Excluded []string
}

// GCResult is what one collection did.
type GCResult struct {
	Images      []string // IDs of the images removed
	Layers      int      // layers removed
	Freed       int64    // bytes
	Size        int64    // bytes of layers left
	SkippedBusy bool     // a provision was running: nothing was collected
}

// GC removes images (and then the layers no remaining image or container
// uses) by policy. Images that containers reference are never removed. A
// collection never waits behind a running provision: it skips the round
// and says so.
func (s *Store) GC(p GCPolicy) (GCResult, error) {
	if !s.busy.TryLock() {
		return GCResult{SkippedBusy: true, Size: s.Size()}, nil
	}
	defer s.busy.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	inUse := map[string]bool{}
	for _, c := range s.containers {
		inUse[c.Image] = true
	}
	for _, name := range p.Excluded {
		if id, ok := s.refs[name]; ok {
			inUse[id] = true
		}
	}
	var candidates []*Image
	for _, img := range s.images {
		if !inUse[img.ID] {
			candidates = append(candidates, img)
		}
	}
	slices.SortFunc(candidates, func(a, b *Image) int { return a.LastUsed.Compare(b.LastUsed) })
	var res GCResult
	size := s.sizeLocked()
	for _, img := range candidates {
		age := now.Sub(img.LastUsed)
		if p.KeepRecent > 0 && age < p.KeepRecent {
			break // the rest are more recent still
		}
		overBudget := p.Budget > 0 && size > p.Budget
		tooOld := p.MaxUnused > 0 && age > p.MaxUnused
		if !overBudget && !tooOld {
			continue
		}
		freed, layers, err := s.removeImageLocked(img)
		res.Freed += freed
		res.Layers += layers
		size -= freed
		if err != nil {
			res.Size = s.sizeLocked()
			return res, err
		}
		res.Images = append(res.Images, img.ID)
	}
	// Layers of pulls that failed part-way belong to no image; with
	// provisions held off, none is about to be used.
	before, n := s.sizeLocked(), len(s.layers)
	if err := s.sweepLayersLocked(); err != nil {
		return res, err
	}
	res.Freed += before - s.sizeLocked()
	res.Layers += n - len(s.layers)
	res.Size = s.sizeLocked()
	return res, nil
}

func (s *Store) sizeLocked() int64 {
	var n int64
	for _, b := range s.layers {
		n += b
	}
	return n
}

// removeImageLocked forgets img and its names, then removes the layers
// that nothing else uses.
func (s *Store) removeImageLocked(img *Image) (freed int64, layers int, err error) {
	hex, err := hexOf(img.ID)
	if err != nil {
		return 0, 0, err
	}
	if err := os.Remove(s.path("images", hex+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, 0, err
	}
	delete(s.images, img.ID)
	changed := false
	for name, id := range s.refs {
		if id == img.ID {
			delete(s.refs, name)
			changed = true
		}
	}
	if changed {
		if err := writeJSON(s.path("refs.json"), s.refs, true); err != nil {
			return 0, 0, err
		}
	}
	used := map[string]bool{}
	for _, other := range s.images {
		for _, l := range other.Layers {
			used[l.DiffID] = true
		}
	}
	for _, c := range s.containers {
		for _, l := range c.Layers {
			used[l] = true
		}
	}
	for _, l := range img.Layers {
		if used[l.DiffID] {
			continue
		}
		b, ok := s.layers[l.DiffID]
		if !ok {
			continue
		}
		if err := s.removeLayerLocked(l.DiffID); err != nil {
			return freed, layers, err
		}
		used[l.DiffID] = true // listed twice in one image: removed once
		freed += b
		layers++
	}
	return freed, layers, nil
}

// Busy holds off GC until the returned func is called: a provision holds
// it from its first lookup until its container's reference is recorded.
func (s *Store) Busy() (release func()) {
	s.busy.RLock()
	return s.busy.RUnlock
}
