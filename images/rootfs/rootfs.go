//go:build linux

// Package rootfs builds containers' root filesystems from an image's
// layers, one directory per container under a base directory:
//
//   - Overlay (the default) mounts an overlayfs at <base>/<id>/merged with
//     the layers as its read-only lower directories and <id>/upper and
//     <id>/work as the container's own: nothing is copied, and what the
//     container writes lands in upper. The mount lives in the host's mount
//     namespace, so it outlives an agent that dies; Attach re-mounts it
//     after a reboot and Remove unmounts it.
//   - Copy copies the layers, lowest first, into <id>/rootfs, carrying out
//     their whiteouts; it needs nothing from the kernel and is the
//     fallback where overlayfs is unavailable.
//
// Layers for Overlay hold overlay whiteouts, layers for Copy the plain
// ".wh." markers: the store writes them in the backend's format
// (LayerFormat).
package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/corral-sched/corral/images/unpack"
)

// Backend builds and removes root filesystems.
type Backend interface {
	// Name is the backend's name in --image-provisioner-backend.
	Name() string
	// LayerFormat is how the store must write layers for this backend.
	LayerFormat() unpack.Format
	// Create builds container id's root filesystem from layers (their
	// directories, lowest first) and returns its path.
	Create(id string, layers []string) (string, error)
	// Attach makes sure container id's existing root filesystem is ready
	// after an agent restart (re-mounting it if need be) and returns its
	// path.
	Attach(id string, layers []string) (string, error)
	// Remove deletes container id's root filesystem; a missing one is no
	// error.
	Remove(id string) error
	// List names the containers that have a root filesystem here.
	List() ([]string, error)
}

// New returns the backend called name ("overlay" or "copy") keeping root
// filesystems under base.
func New(name, base string) (Backend, error) {
	if err := os.MkdirAll(base, 0o700); err != nil {
		return nil, fmt.Errorf("root filesystems: %w", err)
	}
	switch name {
	case "overlay":
		return &Overlay{base: base}, nil
	case "copy":
		return &Copy{base: base}, nil
	}
	return nil, fmt.Errorf("image provisioner backend %q: want overlay or copy", name)
}

// containerDir is <base>/<id>, refusing IDs that would name anything else.
func containerDir(base, id string) (string, error) {
	if id == "" || strings.ContainsAny(id, "/\x00") || id == "." || id == ".." {
		return "", fmt.Errorf("container ID %q cannot name a directory", id)
	}
	return filepath.Join(base, id), nil
}

func list(base string) ([]string, error) {
	entries, err := os.ReadDir(base)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}
