package filesystem

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
)

// ShellMount is where a container from an image finds the agent's shell
// bundle, read-only.
const ShellMount = "/mnt/mesos/.corral"

// ShellBundle is the host's /bin/sh with what it needs to run in any root:
// its dynamic loader and libraries, copied into one directory that is
// bind-mounted read-only into containers made from images. The
// exit-status wrapper runs with it, so that an image without a shell (a
// single static binary, "distroless") still has its task's exit status
// recorded; the task's own command never sees it. It runs through the
// loader named explicitly with --library-path, so that none of the
// image's libraries is used and nothing leaks into the task's
// environment (no LD_LIBRARY_PATH). The copies are the agent's own: a
// container that could write through the mount would reach nothing of
// the host's.
type ShellBundle struct {
	// Dir holds sh and lib/ on the host.
	Dir string
	// Argv runs the shell inside a container: the loader, its options,
	// and the shell, or the shell alone when it is static.
	Argv []string
}

// NewShellBundle copies the host's shell and what it links into dir
// (replacing what an earlier agent left there).
func NewShellBundle(dir string) (*ShellBundle, error) {
	sh, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil {
		return nil, fmt.Errorf("shell bundle: the host's /bin/sh: %w", err)
	}
	interp, libs, err := linkage(sh)
	if err != nil {
		return nil, fmt.Errorf("shell bundle: %s: %w", sh, err)
	}
	tmp := dir + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("shell bundle: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(tmp, "lib"), 0o755); err != nil {
		return nil, fmt.Errorf("shell bundle: %w", err)
	}
	b := &ShellBundle{Dir: dir, Argv: []string{ShellMount + "/sh"}}
	copies := map[string]string{sh: filepath.Join(tmp, "sh")}
	if interp != "" {
		copies[interp] = filepath.Join(tmp, "lib", filepath.Base(interp))
		b.Argv = []string{ShellMount + "/lib/" + filepath.Base(interp), "--library-path", ShellMount + "/lib", ShellMount + "/sh"}
	}
	for name, path := range libs {
		copies[path] = filepath.Join(tmp, "lib", name)
	}
	for src, dst := range copies {
		if err := copyFile(src, dst); err != nil {
			return nil, fmt.Errorf("shell bundle: %w", err)
		}
	}
	// Containers still running keep the bundle they mounted: the mount
	// holds the old directory even once it is replaced here.
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("shell bundle: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("shell bundle: %w", err)
	}
	return b, nil
}

// linkage reads what an executable needs to run: its interpreter (the
// dynamic loader, "" for a static one) and its libraries, transitively, by
// name and host path.
func linkage(path string) (interp string, libs map[string]string, err error) {
	libs = map[string]string{}
	queue := []string{path}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		f, err := elf.Open(p)
		if err != nil {
			return "", nil, err
		}
		if p == path {
			for _, prog := range f.Progs {
				if prog.Type == elf.PT_INTERP {
					b, err := io.ReadAll(prog.Open())
					if err != nil {
						f.Close()
						return "", nil, err
					}
					interp = string(b[:len(b)-1]) // NUL-terminated
				}
			}
		}
		needed, err := f.ImportedLibraries()
		f.Close()
		if err != nil {
			return "", nil, err
		}
		for _, name := range needed {
			if _, done := libs[name]; done || (interp != "" && filepath.Base(interp) == name) {
				continue
			}
			found, err := findLibrary(name)
			if err != nil {
				return "", nil, err
			}
			libs[name] = found
			queue = append(queue, found)
		}
	}
	return interp, libs, nil
}

// libraryDirs are where Debian and its relatives keep shared libraries.
func libraryDirs() []string {
	triplet := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu", "386": "i386-linux-gnu",
		"arm": "arm-linux-gnueabihf", "ppc64le": "powerpc64le-linux-gnu", "s390x": "s390x-linux-gnu", "riscv64": "riscv64-linux-gnu"}[runtime.GOARCH]
	dirs := []string{"/lib64", "/usr/lib64", "/lib", "/usr/lib"}
	if triplet != "" {
		dirs = slices.Insert(dirs, 0, "/lib/"+triplet, "/usr/lib/"+triplet)
	}
	return dirs
}

func findLibrary(name string) (string, error) {
	for _, d := range libraryDirs() {
		p, err := filepath.EvalSymlinks(filepath.Join(d, name))
		if err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("library %s not found in %v", name, libraryDirs())
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o555)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}
