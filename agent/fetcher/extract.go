package fetcher

import (
	"archive/tar"
	"archive/zip"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/corral-sched/corral/internal/safetree"
	"github.com/ulikunitz/xz"
)

// limits bound what one archive may write.
type limits struct {
	bytes   int64
	entries int
}

// maxLinkTarget bounds a zip symlink's target, which is the entry's data.
const maxLinkTarget = 4096

// extract unpacks the archive name, a file inside dir, into dir. Every
// write goes through dir, which never resolves a path outside it.
func extract(dir *tree, name string, lim limits) error {
	file, err := dir.open(name)
	if err != nil {
		return err
	}
	defer file.Close()
	u := &unpacker{dir: dir, lim: lim}
	if strings.HasSuffix(name, ".zip") {
		info, err := file.Stat()
		if err != nil {
			return err
		}
		zr, err := zip.NewReader(file, info.Size())
		if err != nil {
			return err
		}
		return u.zip(zr)
	}
	var r io.Reader = file
	switch {
	case strings.HasSuffix(name, ".gz") || strings.HasSuffix(name, ".tgz"):
		gz, err := gzip.NewReader(file)
		if err != nil {
			return err
		}
		defer gz.Close()
		r = gz
	case strings.HasSuffix(name, ".bz2") || strings.HasSuffix(name, ".tbz2"):
		r = bzip2.NewReader(file)
	case strings.HasSuffix(name, ".xz") || strings.HasSuffix(name, ".txz"):
		if r, err = xz.NewReader(file); err != nil {
			return err
		}
	}
	return u.tar(tar.NewReader(r))
}

// unpacker writes one archive's entries, counting them against limits.
type unpacker struct {
	dir     *tree
	lim     limits
	written int64
	entries int
}

func (u *unpacker) tar(tr *tar.Reader) error {
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue // pax defaults for later entries, not a file
		}
		if err := u.tarEntry(h, tr); err != nil {
			return fmt.Errorf("entry %q: %w", h.Name, err)
		}
	}
}

func (u *unpacker) tarEntry(h *tar.Header, r io.Reader) error {
	name, err := u.entry(h.Name)
	if err != nil {
		return err
	}
	switch h.Typeflag {
	case tar.TypeDir:
		return u.dir.mkdirAll(name)
	case tar.TypeReg:
		return u.file(name, r, fs.FileMode(h.Mode))
	case tar.TypeSymlink:
		return u.symlink(name, h.Linkname)
	case tar.TypeLink:
		// A hard link shares an inode with its target: were the target
		// outside (or later replaced), writes through either name would
		// reach it.
		return errors.New("hard links are not extracted")
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return errors.New("device nodes and FIFOs are not extracted")
	}
	return fmt.Errorf("entry type %q is not extracted", h.Typeflag)
}

func (u *unpacker) zip(zr *zip.Reader) error {
	for _, zf := range zr.File {
		if err := u.zipEntry(zf); err != nil {
			return fmt.Errorf("entry %q: %w", zf.Name, err)
		}
	}
	return nil
}

func (u *unpacker) zipEntry(zf *zip.File) error {
	name, err := u.entry(zf.Name)
	if err != nil {
		return err
	}
	mode := zf.Mode()
	switch {
	case mode.IsDir():
		return u.dir.mkdirAll(name)
	case mode&fs.ModeSymlink != 0:
		rc, err := zf.Open()
		if err != nil {
			return err
		}
		defer rc.Close()
		target, err := io.ReadAll(io.LimitReader(rc, maxLinkTarget+1))
		if err != nil {
			return err
		}
		if len(target) > maxLinkTarget {
			return fmt.Errorf("link target longer than %d bytes", maxLinkTarget)
		}
		return u.symlink(name, string(target))
	case mode&(fs.ModeDevice|fs.ModeCharDevice|fs.ModeNamedPipe|fs.ModeSocket|fs.ModeIrregular) != 0:
		return errors.New("device nodes, FIFOs and sockets are not extracted")
	}
	rc, err := zf.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	return u.file(name, rc, mode)
}

// entry counts an entry and returns its name relative to the target dir,
// "." for the dir itself.
func (u *unpacker) entry(raw string) (string, error) {
	u.entries++
	if u.entries > u.lim.entries {
		return "", fmt.Errorf("the archive has more than %d entries", u.lim.entries)
	}
	return entryName(raw)
}

// entryName checks an archive's name for an entry. Names are refused
// outright rather than rewritten (GNU tar strips a leading "/" or "../"):
// an archive carrying them was not made for a sandbox.
func entryName(raw string) (string, error) {
	name := strings.TrimRight(raw, "/")
	if name == "" {
		if raw == "" {
			return "", errors.New("empty name")
		}
		return "", errors.New("absolute name")
	}
	if strings.HasPrefix(name, "/") {
		return "", errors.New("absolute name")
	}
	clean, ok := safetree.CleanName(name)
	if !ok {
		return "", errors.New(`".." in the name leaves the sandbox`)
	}
	return clean, nil
}

// file writes a regular file, without setuid, setgid or sticky bits, and
// always writable by its owner (as the agent always made them).
func (u *unpacker) file(name string, r io.Reader, mode fs.FileMode) error {
	if name == "." {
		return errors.New("a file cannot replace the target directory")
	}
	out, err := u.dir.create(name, mode.Perm()|0o200)
	if err != nil {
		return err
	}
	budget := u.lim.bytes - u.written
	n, err := io.Copy(out, io.LimitReader(r, budget))
	u.written += n
	if err == nil && n == budget {
		// Exactly at the bound: fine only if the entry ends here.
		k, perr := io.ReadFull(r, make([]byte, 1))
		switch {
		case k > 0:
			err = fmt.Errorf("the archive expands to more than %d bytes", u.lim.bytes)
		case !errors.Is(perr, io.EOF):
			err = perr // a zip's checksum is checked at the end
		}
	}
	if err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func (u *unpacker) symlink(name, target string) error {
	if name == "." {
		return errors.New("a link cannot replace the target directory")
	}
	return u.dir.symlink(name, target)
}
