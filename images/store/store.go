//go:build linux

// Package store is the image store shared by every container of an agent:
// layers unpacked once each, keyed by their DiffID, the images (config and
// layer list) and the names that resolved to them, and which containers
// use which image, all on disk under one directory so that a restarted
// agent finds them again.
//
// Layout under Dir (mode 0700: layers keep setuid files as the image has
// them, for the container, and no host user may reach them):
//
//	layers/<format>/<hex>/root        a layer's files, in the store's format
//	layers/<format>/<hex>/layer.json  its DiffID and size
//	images/<hex>.json                 an image: ID, config, layers, last use
//	refs.json                         image name -> image ID
//	containers/<id>.json              the image a container uses
//	staging/                          layers being unpacked (emptied on Open)
//
// A layer is unpacked into staging, its DiffID checked, the filesystem
// synced, and the directory renamed into layers/: the rename is the
// commit, so a pull that fails half-way leaves nothing a launch could
// use. Metadata files are written to a temporary name and renamed.
//
// Containers hold references: Ref before a container starts, Unref when
// it is gone, Recover after a restart with the containers still alive.
// GC removes images no container references, least recently used first,
// by the GCPolicy; it never runs while a provision holds Busy.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/corral-sched/corral/images/internal/flight"
	"github.com/corral-sched/corral/images/unpack"
)

// Options configure a Store.
type Options struct {
	Dir    string
	Format unpack.Format // how layers are written: overlay whiteouts, or plain for the copy backend
	// MaxLayerBytes bounds one layer's unpacked contents (0: no bound).
	MaxLayerBytes int64
	Now           func() time.Time // the clock for last-use times; time.Now when nil
	Log           *slog.Logger
}

// Layer is one layer of an image as the store records it.
type Layer struct {
	DiffID string `json:"diff_id"`
	Digest string `json:"digest,omitempty"` // the blob it came from
	Size   int64  `json:"size,omitempty"`   // the blob's size
}

// Image is an image the store holds, all of its layers present.
type Image struct {
	ID       string          `json:"id"`
	Names    []string        `json:"names,omitempty"`
	Config   json.RawMessage `json:"config"`
	Layers   []Layer         `json:"layers"`
	LastUsed time.Time       `json:"last_used"`
}

// Container is a container's reference to an image.
type Container struct {
	ID      string    `json:"id"`
	Image   string    `json:"image"`
	Layers  []string  `json:"layers"` // DiffIDs, lowest first
	Created time.Time `json:"created"`
}

type layerMeta struct {
	DiffID string `json:"diff_id"`
	Bytes  int64  `json:"bytes"` // disk usage of root
}

// Store is the on-disk image store. Its methods are safe for concurrent
// use.
type Store struct {
	opts   Options
	dir    string
	layerD string // layers/<format>

	unpacks flight.Group[int64]
	// busy is held for reading by provisions from their first lookup to
	// their Ref, and for writing by GC, which skips a round rather than
	// wait.
	busy sync.RWMutex

	mu         sync.Mutex
	layers     map[string]int64      // DiffID -> bytes; guarded by mu
	images     map[string]*Image     // ID -> image; guarded by mu
	refs       map[string]string     // name -> image ID; guarded by mu
	containers map[string]*Container // guarded by mu
}

// Open opens (creating it if need be) the store under opts.Dir and loads
// what a previous run left: complete layers, the images whose layers are
// all there, names and container references. Leftovers of interrupted
// unpacks are removed, and so are layers no image or container names.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("image store: no directory")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	s := &Store{
		opts: opts, dir: opts.Dir,
		layerD: filepath.Join(opts.Dir, "layers", opts.Format.String()),
		layers: map[string]int64{}, images: map[string]*Image{}, refs: map[string]string{}, containers: map[string]*Container{},
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	if err := os.Chmod(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	if err := os.RemoveAll(s.path("staging")); err != nil {
		return nil, fmt.Errorf("image store: clearing staging: %w", err)
	}
	for _, d := range []string{s.layerD, s.path("images"), s.path("containers"), s.path("staging")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("image store: %w", err)
		}
	}
	if err := s.load(); err != nil {
		return nil, fmt.Errorf("image store %s: %w", opts.Dir, err)
	}
	return s, nil
}

func (s *Store) path(parts ...string) string {
	return filepath.Join(append([]string{s.dir}, parts...)...)
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// hexOf is the hex part of a sha256 digest, checked: it names files.
func hexOf(digest string) (string, error) {
	hex, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hex) != 64 || strings.Trim(hex, "0123456789abcdef") != "" {
		return "", fmt.Errorf("%q is not a sha256 digest", digest)
	}
	return hex, nil
}

func (s *Store) load() error {
	entries, err := os.ReadDir(s.layerD)
	if err != nil {
		return err
	}
	for _, e := range entries {
		var m layerMeta
		err := readJSON(filepath.Join(s.layerD, e.Name(), "layer.json"), &m)
		if hex, herr := hexOf(m.DiffID); err != nil || herr != nil || hex != e.Name() {
			s.opts.Log.Warn("removing an unreadable layer from the image store", "layer", e.Name(), "err", err)
			if err := os.RemoveAll(filepath.Join(s.layerD, e.Name())); err != nil {
				return err
			}
			continue
		}
		s.layers[m.DiffID] = m.Bytes
	}
	entries, err = os.ReadDir(s.path("images"))
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			_ = os.Remove(s.path("images", e.Name())) // an interrupted write
			continue
		}
		var img Image
		if err := readJSON(s.path("images", e.Name()), &img); err != nil || !s.completeLocked(&img) {
			s.opts.Log.Warn("dropping an image whose layers are not all in the store", "image", e.Name(), "err", err)
			_ = os.Remove(s.path("images", e.Name()))
			continue
		}
		s.images[img.ID] = &img
	}
	if err := readJSON(s.path("refs.json"), &s.refs); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.opts.Log.Warn("image names lost; images will be looked up again", "err", err)
		s.refs = map[string]string{}
	}
	for name, id := range s.refs {
		if s.images[id] == nil {
			delete(s.refs, name)
		}
	}
	entries, err = os.ReadDir(s.path("containers"))
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			_ = os.Remove(s.path("containers", e.Name()))
			continue
		}
		var c Container
		if err := readJSON(s.path("containers", e.Name()), &c); err != nil {
			return fmt.Errorf("container reference %s: %w", e.Name(), err)
		}
		s.containers[c.ID] = &c
	}
	return s.sweepLayersLocked()
}

// completeLocked reports whether every layer of img is in the store.
func (s *Store) completeLocked(img *Image) bool {
	for _, l := range img.Layers {
		if _, ok := s.layers[l.DiffID]; !ok {
			return false
		}
	}
	return img.ID != ""
}

// sweepLayersLocked removes layers no image and no container names.
func (s *Store) sweepLayersLocked() error {
	used := map[string]bool{}
	for _, img := range s.images {
		for _, l := range img.Layers {
			used[l.DiffID] = true
		}
	}
	for _, c := range s.containers {
		for _, l := range c.Layers {
			used[l] = true
		}
	}
	for id := range s.layers {
		if !used[id] {
			if err := s.removeLayerLocked(id); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) removeLayerLocked(diffID string) error {
	hex, err := hexOf(diffID)
	if err != nil {
		return err
	}
	// Renamed away first, so that a crash part-way through never leaves
	// a half-deleted directory under its committed name.
	trash := filepath.Join(s.path("staging"), "gc-"+hex)
	if err := os.Rename(filepath.Join(s.layerD, hex), trash); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing layer %s: %w", diffID, err)
	}
	delete(s.layers, diffID)
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("removing layer %s: %w", diffID, err)
	}
	return nil
}

// LayerDir is the directory holding the files of layer diffID.
func (s *Store) LayerDir(diffID string) (string, error) {
	hex, err := hexOf(diffID)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.layerD, hex, "root"), nil
}

// HasLayer reports whether layer diffID is in the store.
func (s *Store) HasLayer(diffID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.layers[diffID]
	return ok
}

// Size is the disk usage of the store's layers, in bytes.
func (s *Store) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, b := range s.layers {
		n += b
	}
	return n
}

// Counts is how many layers, images and container references the store
// holds.
func (s *Store) Counts() (layers, images, containers int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.layers), len(s.images), len(s.containers)
}
