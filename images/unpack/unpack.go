//go:build linux

// Package unpack writes one image layer (a tar stream, gzip- or
// zstd-compressed or plain) into a directory of its own, treating the
// layer as hostile.
//
// The rules, and why:
//
//   - Nothing is created or resolved outside the layer directory. Every
//     path is resolved by the kernel beneath one descriptor of it (see
//     internal/safetree, NoLinks mode), and no link is ever followed while
//     the layer is written: a layer's links are meaningful inside the
//     container's root, so an absolute target or one full of ".." is
//     stored verbatim, and an entry below a link of the same layer (which
//     no tar made from a real file system holds) is refused. Names with
//     ".." are refused; a leading "/" is read as the layer's root.
//   - Hard links must name an entry already written by this layer.
//   - Character and block devices are skipped (and reported in
//     Result.Skipped): the container runtime provides /dev, and a node
//     from an image would hand the container whatever host device its
//     numbers name. FIFOs are created.
//   - Modes, setuid/setgid/sticky bits included, owners (when running as
//     root), times, and the user.* and security.capability extended
//     attributes are kept as the image has them: they take effect inside
//     the container, where images rely on them (su, ping). The store keeps
//     layers under a root-only directory so no host user reaches them.
//   - Whiteouts: in the Overlay format ".wh.NAME" becomes a 0/0 character
//     device NAME and ".wh..wh..opq" the trusted.overlay.opaque=y xattr on
//     its directory, which is how overlayfs reads them; in the Plain
//     format they stay as the empty marker files they are in the tar, for
//     the copy backend to apply (Apply format) when it stacks layers.
//
// Layer returns the sha256 of the uncompressed stream (the layer's DiffID)
// after reading it to its end, so the caller can compare it with the
// image's config before committing the directory.
package unpack

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/corral-sched/corral/internal/safetree"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Format is how whiteouts are written.
type Format int

const (
	// Overlay writes whiteouts as overlayfs reads them.
	Overlay Format = iota
	// Plain keeps the tar's ".wh." marker files.
	Plain
	// Apply writes the layer over a directory already holding the layers
	// below it (the copy backend's root filesystem) and carries its
	// whiteouts out there: ".wh.NAME" removes NAME, ".wh..wh..opq" empties
	// its directory. Markers must come before their siblings in the tar.
	Apply
)

func (f Format) String() string {
	switch f {
	case Overlay:
		return "overlay"
	case Apply:
		return "apply"
	}
	return "plain"
}

// Options bound and shape one unpack.
type Options struct {
	Format Format
	// MaxBytes bounds the bytes of file contents written (0: no bound), so
	// a small compressed layer cannot fill the disk.
	MaxBytes int64
	// MaxEntries bounds the number of entries (0: no bound).
	MaxEntries int
	// Owners applies the tar's uid/gid; only root may.
	Owners bool
	Log    *slog.Logger
}

// Result is what one layer wrote.
type Result struct {
	DiffID  string // "sha256:<hex>" of the uncompressed tar
	Bytes   int64  // file contents written
	Entries int
	Skipped []string // entries not written (device nodes), with why
}

// Magic numbers of the compressions layers come in.
var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// Decompress returns the tar stream inside r, whichever compression the
// layer uses.
func Decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading the layer: %w", err)
	}
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(br), nil
}

// Layer unpacks the layer stream r into dir, an existing empty directory.
// On error dir holds a partial layer: the caller discards it.
func Layer(r io.Reader, dir string, opts Options) (Result, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	stream, err := Decompress(r)
	if err != nil {
		return Result{}, err
	}
	defer stream.Close()
	sum := sha256.New()
	t, err := safetree.Open(dir, safetree.NoLinks)
	if err != nil {
		return Result{}, err
	}
	defer t.Close()
	w := &writer{t: t, opts: opts}
	if opts.Owners {
		w.owners = os.Geteuid() == 0
	}
	if err := w.tar(tar.NewReader(io.TeeReader(stream, sum))); err != nil {
		return w.res, err
	}
	// Whatever follows the tar's end still belongs to the hashed stream.
	if _, err := io.Copy(sum, stream); err != nil {
		return w.res, fmt.Errorf("reading the layer's end: %w", err)
	}
	if err := w.finish(); err != nil {
		return w.res, err
	}
	w.res.DiffID = fmt.Sprintf("sha256:%x", sum.Sum(nil))
	if len(w.res.Skipped) > 0 {
		opts.Log.Info("layer entries not unpacked", "count", len(w.res.Skipped), "first", w.res.Skipped[0])
	}
	return w.res, nil
}
