package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The agent serves its sandboxes (and the volumes linked into them) the
// way Mesos agents do: /files/browse lists a directory, /files/read reads
// a window of a file as JSON {data, offset} (tailing UIs poll it), and
// /files/download streams a file. Paths are absolute paths on the agent;
// anything that resolves, through symlinks, outside the sandboxes and
// volumes is refused, so a task cannot expose the agent's checkpoints or
// the host by planting a link.
//
// A path may also be Mesos' virtual sandbox path,
// /frameworks/<framework>/executors/<executor>/runs/<container or latest>,
// which Mesos agents attach for their UIs: the master's web UI knows a
// task's framework, executor and container but not the agent's work dir.
// The endpoints answer any origin (Access-Control-Allow-Origin: *), as that
// UI is served by the master and reads the agent directly. Browsers send
// no credentials with those reads, so with --authenticate-http the UI's
// sandbox pages show the agent's 401 (see docs/security.md).

// maxReadLength bounds one /files/read.
const maxReadLength = 1 << 20

// resolve checks a requested path and returns it with symlinks resolved.
func (a *Agent) resolve(w http.ResponseWriter, r *http.Request) (string, os.FileInfo, bool) {
	real, info, status, msg := a.resolvePath(r.Context(), r.URL.Query().Get("path"))
	if status != http.StatusOK {
		http.Error(w, msg, status)
		return "", nil, false
	}
	return real, info, true
}

// resolveKind is resolve for a handler that serves directories (dir) or
// files only, answering 400 for the other kind.
func (a *Agent) resolveKind(w http.ResponseWriter, r *http.Request, dir bool) (string, os.FileInfo, bool) {
	real, info, ok := a.resolve(w, r)
	if !ok {
		return "", nil, false
	}
	if info.IsDir() != dir {
		what := " is a directory"
		if dir {
			what = " is not a directory"
		}
		http.Error(w, r.URL.Query().Get("path")+what, http.StatusBadRequest)
		return "", nil, false
	}
	return real, info, true
}

// hostPath maps a virtual sandbox path (see above) into this agent's work
// dir; any other path is returned as it is.
func (a *Agent) hostPath(p string) string {
	p = filepath.Clean(p)
	id := a.ID()
	if !strings.HasPrefix(p, "/frameworks/") || id == "" || a.servable(p, false) {
		return p
	}
	workDir, err := filepath.Abs(a.cfg.WorkDir)
	if err != nil {
		return p
	}
	return filepath.Join(workDir, "agents", id, p)
}

// servable reports whether path lies inside the sandboxes or volumes;
// resolved says whether path has had its symlinks resolved (then the roots
// are resolved too).
func (a *Agent) servable(path string, resolved bool) bool {
	for _, root := range []string{filepath.Join(a.cfg.WorkDir, "agents"), filepath.Join(a.cfg.WorkDir, "volumes")} {
		root, err := filepath.Abs(root)
		if err != nil {
			continue
		}
		if resolved {
			if root, err = filepath.EvalSymlinks(root); err != nil {
				continue
			}
		}
		if rel, err := filepath.Rel(root, path); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return true
		}
	}
	return false
}

// errNotServable is an open that landed outside the sandboxes and volumes.
var errNotServable = errors.New("only sandboxes and volumes are served")

// errNotRegular is an open of something that is neither a regular file
// nor a directory: a task can plant a FIFO (an open blocks a thread until
// a writer comes, and enough of them exhaust the agent's threads) or a
// device node in its sandbox.
var errNotRegular = errors.New("only regular files and directories are served")

// openServable opens a path resolve or resolvePath let through and checks
// where the open landed: a task owns its sandbox and can swap a checked
// directory for a link elsewhere, or a file for a FIFO, between the check
// and the open. The open never blocks and never follows a final link (the
// path is resolved already, so a link there was planted since).
func (a *Agent) openServable(real string) (*os.File, error) {
	fd, err := unix.Open(real, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, errNotServable
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: real, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fstat", Path: real, Err: err}
	}
	if kind := st.Mode & unix.S_IFMT; kind != unix.S_IFREG && kind != unix.S_IFDIR {
		unix.Close(fd)
		return nil, errNotRegular
	}
	// Reads of regular files and directories never block: back to a
	// blocking descriptor, which os.File expects of files.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fcntl", Path: real, Err: err}
	}
	f := os.NewFile(uintptr(fd), real)
	landed, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil || !a.servable(landed, true) {
		f.Close()
		return nil, errNotServable
	}
	return f, nil
}

// refuseOpen answers a request whose path could not be opened.
func refuseOpen(w http.ResponseWriter, what string, err error) {
	status, msg := openError(what, err)
	http.Error(w, msg, status)
}

// openError answers a failed openServable: 403 when it landed outside.
func openError(what string, err error) (int, string) {
	if errors.Is(err, errNotServable) || errors.Is(err, errNotRegular) {
		return http.StatusForbidden, "Access is not allowed: " + err.Error()
	}
	return http.StatusInternalServerError, "Cannot open the " + what + ": " + err.Error()
}

// entryInfo describes a listed entry: what a link points to, as listings
// show targets, unless it points outside the sandboxes and volumes; then
// only the link itself, or a task could learn the size, times and owner
// of any file on the host by planting links to it.
func (a *Agent) entryInfo(dir string, e os.DirEntry) (os.FileInfo, error) {
	p := filepath.Join(dir, e.Name())
	if e.Type()&os.ModeSymlink != 0 {
		if target, err := filepath.EvalSymlinks(p); err != nil || !a.servable(target, true) {
			return os.Lstat(p)
		}
	}
	return os.Stat(p)
}

// readDir lists a directory opened with openServable.
func (a *Agent) readDir(real string) ([]os.DirEntry, error) {
	f, err := a.openServable(real)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}

// fileInfo is Mesos' FileInfo in JSON.
type fileInfo struct {
	Path  string  `json:"path"`
	Nlink uint64  `json:"nlink"`
	Size  int64   `json:"size"`
	Mtime float64 `json:"mtime"`
	Mode  string  `json:"mode"`
	UID   string  `json:"uid"`
	GID   string  `json:"gid"`
}

func describeFile(path string, info os.FileInfo) fileInfo {
	fi := fileInfo{Path: path, Size: info.Size(), Mtime: float64(info.ModTime().UnixNano()) / float64(time.Second), Mode: info.Mode().String()}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		fi.Nlink, fi.UID, fi.GID = uint64(st.Nlink), strconv.FormatUint(uint64(st.Uid), 10), strconv.FormatUint(uint64(st.Gid), 10)
	}
	return fi
}

func (a *Agent) serveBrowse(w http.ResponseWriter, r *http.Request) {
	real, _, ok := a.resolveKind(w, r, true)
	if !ok {
		return
	}
	entries, err := a.readDir(real)
	if err != nil {
		refuseOpen(w, "directory", err)
		return
	}
	base := filepath.Clean(r.URL.Query().Get("path"))
	out := make([]fileInfo, 0, len(entries))
	for _, e := range entries {
		info, err := a.entryInfo(real, e)
		if err != nil {
			if info, err = e.Info(); err != nil {
				continue
			}
		}
		out = append(out, describeFile(filepath.Join(base, e.Name()), info))
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (a *Agent) serveRead(w http.ResponseWriter, r *http.Request) {
	real, info, ok := a.resolveKind(w, r, false)
	if !ok {
		return
	}
	q := r.URL.Query()
	offset, err := intParam(q.Get("offset"), -1)
	if err != nil || offset < -1 {
		http.Error(w, "Expecting 'offset' to be a non-negative integer (or -1 for the size)", http.StatusBadRequest)
		return
	}
	length, err := intParam(q.Get("length"), maxReadLength)
	if err != nil || length < 0 {
		http.Error(w, "Expecting 'length' to be a non-negative integer", http.StatusBadRequest)
		return
	}
	length = min(length, maxReadLength)
	w.Header().Set("Content-Type", "application/json")
	size := info.Size()
	if offset == -1 {
		// Mesos' convention: offset -1 asks for the size, to start a tail.
		_ = json.NewEncoder(w).Encode(map[string]any{"data": "", "offset": size})
		return
	}
	data := []byte{}
	if offset < size {
		f, err := a.openServable(real)
		if err != nil {
			status, msg := openError("file", err)
			http.Error(w, msg, status)
			return
		}
		defer f.Close()
		data = make([]byte, min(length, size-offset))
		n, err := f.ReadAt(data, offset)
		if err != nil && !errors.Is(err, io.EOF) {
			http.Error(w, "Cannot read the file: "+err.Error(), http.StatusInternalServerError)
			return
		}
		data = data[:n]
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"data": string(data), "offset": offset})
}

func (a *Agent) serveDownload(w http.ResponseWriter, r *http.Request) {
	real, info, ok := a.resolveKind(w, r, false)
	if !ok {
		return
	}
	f, err := a.openServable(real)
	if err != nil {
		refuseOpen(w, "file", err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", filepath.Base(real)))
	http.ServeContent(w, r, filepath.Base(real), info.ModTime(), f)
}

func intParam(v string, def int64) (int64, error) {
	if v == "" {
		return def, nil
	}
	return strconv.ParseInt(v, 10, 64)
}
