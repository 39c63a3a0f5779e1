//go:build linux

package store

import (
	"errors"
	"fmt"
	"os"
	"slices"
)

// ErrInUse means a container still references an image or a name.
var ErrInUse = errors.New("in use by a container")

// Lookup returns the image a name resolved to last time, if the store
// still holds it.
func (s *Store) Lookup(name string) (*Image, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.refs[name]
	if !ok {
		return nil, false
	}
	img, ok := s.images[id]
	return img, ok
}

// Image returns the image with the given ID.
func (s *Store) Image(id string) (*Image, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	img, ok := s.images[id]
	return img, ok
}

// PutImage records img, whose layers must all be in the store, and points
// name at it.
func (s *Store) PutImage(img Image, name string) (*Image, error) {
	hex, err := hexOf(img.ID)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.completeLocked(&img) {
		return nil, fmt.Errorf("image %s: not all of its layers are in the store", img.ID)
	}
	if old, ok := s.images[img.ID]; ok {
		img.Names = old.Names
	}
	if name != "" && !slices.Contains(img.Names, name) {
		img.Names = append(img.Names, name)
	}
	img.LastUsed = s.opts.Now()
	if err := writeJSON(s.path("images", hex+".json"), &img, true); err != nil {
		return nil, err
	}
	s.images[img.ID] = &img
	if name != "" && s.refs[name] != img.ID {
		s.refs[name] = img.ID
		if err := writeJSON(s.path("refs.json"), s.refs, true); err != nil {
			return nil, err
		}
	}
	return &img, nil
}

// Ref records that container id uses image imageID. The reference is
// durable before Ref returns.
func (s *Store) Ref(id, imageID string) (*Container, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	img, ok := s.images[imageID]
	if !ok {
		return nil, fmt.Errorf("image %s is not in the store", imageID)
	}
	if c, ok := s.containers[id]; ok {
		if c.Image != imageID {
			return nil, fmt.Errorf("container %s already uses image %s", id, c.Image)
		}
		return c, nil
	}
	c := &Container{ID: id, Image: imageID, Created: s.opts.Now()}
	for _, l := range img.Layers {
		c.Layers = append(c.Layers, l.DiffID)
	}
	if err := writeJSON(s.path("containers", id+".json"), c, true); err != nil {
		return nil, err
	}
	s.containers[id] = c
	s.touchLocked(img)
	return c, nil
}

// touchLocked marks img used now. The time is advisory (GC order), so it
// is not synced.
func (s *Store) touchLocked(img *Image) {
	img.LastUsed = s.opts.Now()
	if hex, err := hexOf(img.ID); err == nil {
		if err := writeJSON(s.path("images", hex+".json"), img, false); err != nil {
			s.opts.Log.Warn("image last use not recorded", "image", img.ID, "err", err)
		}
	}
}

// Unref drops container id's reference; its image counts as used now.
func (s *Store) Unref(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[id]
	if !ok {
		return nil
	}
	if err := os.Remove(s.path("containers", id+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("dropping the reference of container %s: %w", id, err)
	}
	delete(s.containers, id)
	if img, ok := s.images[c.Image]; ok {
		s.touchLocked(img)
	}
	return nil
}

// Container returns container id's reference.
func (s *Store) Container(id string) (*Container, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[id]
	return c, ok
}

// Containers lists every container reference.
func (s *Store) Containers() []*Container {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Container, 0, len(s.containers))
	for _, c := range s.containers {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *Container) int { return cmpString(a.ID, b.ID) })
	return out
}

// Recover drops the references of every container not in alive, after an
// agent restart, and returns the dropped ones (their root filesystems are
// the caller's to clean up).
func (s *Store) Recover(alive []string) ([]*Container, error) {
	keep := map[string]bool{}
	for _, id := range alive {
		keep[id] = true
	}
	var gone []*Container
	for _, c := range s.Containers() {
		if keep[c.ID] {
			continue
		}
		if err := s.Unref(c.ID); err != nil {
			return gone, err
		}
		gone = append(gone, c)
	}
	return gone, nil
}

// checkID refuses container IDs that cannot name a file of their own.
func checkID(id string) error {
	if id == "" || id == "." || id == ".." || len(id) > 255 {
		return fmt.Errorf("container ID %q cannot name a file", id)
	}
	for _, r := range id {
		if r == '/' || r == 0 {
			return fmt.Errorf("container ID %q cannot name a file", id)
		}
	}
	return nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
