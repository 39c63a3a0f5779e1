package pull

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// archiveName is where Mesos' local registry mode looks for image: the
// name as given, with ":latest" when it has neither tag nor digest, plus
// ".tar" (busybox -> busybox:latest.tar, web:1 -> web:1.tar, a/b@sha256:x
// -> a/b@sha256:x.tar).
func (p *Puller) archiveName(image string) (string, error) {
	ref, err := name.ParseReference(image)
	if err != nil {
		return "", &Error{Image: image, Kind: BadName, Err: err}
	}
	file := image
	if _, ok := ref.(name.Tag); ok && !strings.Contains(path.Base(image), ":") {
		file += ":" + name.DefaultTag
	}
	file += ".tar"
	if !filepath.IsLocal(file) {
		return "", &Error{Image: image, Kind: BadName, Err: errors.New("the name leaves the archive directory")}
	}
	return filepath.Join(p.local, file), nil
}

// archive is an image archive opened for random access: the tar's
// entries by name, each read in place.
type archive struct {
	f       *os.File
	entries map[string]*io.SectionReader
}

func openArchive(file string) (*archive, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	a := &archive{f: f, entries: map[string]*io.SectionReader{}}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return a, nil
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("reading %s: %w", file, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		// archive/tar reads nothing past a header, so the file's offset
		// is where the entry's data starts.
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			f.Close()
			return nil, err
		}
		a.entries[path.Clean(h.Name)] = io.NewSectionReader(f, off, h.Size)
	}
}

// maxMeta bounds the JSON documents read from an archive.
const maxMeta = 4 << 20

func (a *archive) read(name string) ([]byte, error) {
	r, ok := a.entries[path.Clean(name)]
	if !ok {
		return nil, fmt.Errorf("the archive has no %s", name)
	}
	if r.Size() > maxMeta {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxMeta)
	}
	return io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
}

func (a *archive) layer(name string) (io.ReadCloser, int64, error) {
	r, ok := a.entries[path.Clean(name)]
	if !ok {
		return nil, 0, fmt.Errorf("the archive has no layer %s", name)
	}
	return io.NopCloser(io.NewSectionReader(r, 0, r.Size())), r.Size(), nil
}

func (p *Puller) resolveLocal(image string) (*Image, error) {
	file, err := p.archiveName(image)
	if err != nil {
		return nil, err
	}
	a, err := openArchive(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, &Error{Image: image, Kind: NotFound, Err: fmt.Errorf("no archive %s", file)}
	}
	if err != nil {
		return nil, &Error{Image: image, Kind: Invalid, Err: err}
	}
	// The archive stays open for the layers' readers until Image.Close.
	var img *Image
	if _, ok := a.entries["manifest.json"]; ok {
		img, err = a.dockerSave(image)
	} else if _, ok := a.entries["index.json"]; ok {
		img, err = a.ociLayout(image)
	} else {
		err = errors.New("neither a docker save archive (manifest.json) nor an OCI layout (index.json)")
	}
	if err != nil {
		a.f.Close()
		var pe *Error
		if !errors.As(err, &pe) {
			return nil, &Error{Image: image, Kind: Invalid, Err: fmt.Errorf("%s: %w", file, err)}
		}
		if pe.Image == "" {
			pe.Image = image
		}
		return nil, pe
	}
	img.closer = a.f
	return img, nil
}

// dockerSave reads `docker save`'s manifest.json: per image its config's
// path, its tags and its layers' paths.
func (a *archive) dockerSave(image string) (*Image, error) {
	raw, err := a.read("manifest.json")
	if err != nil {
		return nil, err
	}
	var entries []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	if len(entries) == 0 {
		return nil, errors.New("manifest.json lists no image")
	}
	pick := entries[0]
	if len(entries) > 1 {
		found := false
		for _, e := range entries {
			for _, t := range e.RepoTags {
				if sameImage(t, image) {
					pick, found = e, true
				}
			}
		}
		if !found {
			return nil, &Error{Image: image, Kind: NotFound, Err: errors.New("the archive holds several images, none tagged so")}
		}
	}
	rawCfg, err := a.read(pick.Config)
	if err != nil {
		return nil, err
	}
	cfg, err := v1.ParseConfigFile(strings.NewReader(string(rawCfg)))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	img := &Image{Name: image, ID: fmt.Sprintf("sha256:%x", sha256.Sum256(rawCfg)), Config: cfg, RawConfig: rawCfg}
	for i, lp := range pick.Layers {
		l, err := a.archiveLayer(lp, "", cfg, i)
		if err != nil {
			return nil, err
		}
		img.Layers = append(img.Layers, l)
	}
	return img, nil
}

func (a *archive) archiveLayer(entry, digest string, cfg *v1.ConfigFile, i int) (Layer, error) {
	r, size, err := a.layer(entry)
	if err != nil {
		return Layer{}, err
	}
	r.Close()
	var diffID string
	if i < len(cfg.RootFS.DiffIDs) {
		diffID = cfg.RootFS.DiffIDs[i].String()
	}
	return Layer{DiffID: diffID, Digest: digest, Size: size, open: func() (io.ReadCloser, error) {
		rc, _, err := a.layer(entry)
		return rc, err
	}}, nil
}

// sameImage compares a tag from an archive with the name asked for,
// both with ":latest" made explicit.
func sameImage(tag, image string) bool {
	norm := func(s string) string {
		if !strings.Contains(path.Base(s), ":") && !strings.Contains(s, "@") {
			s += ":" + name.DefaultTag
		}
		return s
	}
	return norm(tag) == norm(image)
}

// ociLayout reads an OCI image layout: index.json names manifests (the
// one annotated with the asked-for tag, or the only one), blobs are under
// blobs/<alg>/<hex>, each checked against its digest.
func (a *archive) ociLayout(image string) (*Image, error) {
	raw, err := a.read("index.json")
	if err != nil {
		return nil, err
	}
	idx, err := v1.ParseIndexManifest(strings.NewReader(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	want := ""
	if ref, err := name.ParseReference(image); err == nil {
		if t, ok := ref.(name.Tag); ok {
			want = t.TagStr()
		}
	}
	var desc *v1.Descriptor
	for i, m := range idx.Manifests {
		if len(idx.Manifests) == 1 || m.Annotations["org.opencontainers.image.ref.name"] == want {
			desc = &idx.Manifests[i]
			break
		}
	}
	if desc == nil {
		return nil, &Error{Image: image, Kind: NotFound, Err: fmt.Errorf("index.json has no manifest named %q", want)}
	}
	if desc.MediaType.IsIndex() {
		return nil, errors.New("nested image indexes in an archive are not supported")
	}
	mraw, err := a.blob(desc.Digest)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(strings.NewReader(string(mraw)))
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	rawCfg, err := a.blob(m.Config.Digest)
	if err != nil {
		return nil, err
	}
	cfg, err := v1.ParseConfigFile(strings.NewReader(string(rawCfg)))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	img := &Image{Name: image, ID: desc.Digest.String(), Config: cfg, RawConfig: rawCfg}
	for i, d := range m.Layers {
		l, err := a.archiveLayer(path.Join("blobs", d.Digest.Algorithm, d.Digest.Hex), d.Digest.String(), cfg, i)
		if err != nil {
			return nil, err
		}
		img.Layers = append(img.Layers, l)
	}
	return img, nil
}

// blob reads a small blob and checks its digest.
func (a *archive) blob(h v1.Hash) ([]byte, error) {
	if h.Algorithm != "sha256" {
		return nil, fmt.Errorf("digest algorithm %q is not supported", h.Algorithm)
	}
	b, err := a.read(path.Join("blobs", h.Algorithm, h.Hex))
	if err != nil {
		return nil, err
	}
	if got := fmt.Sprintf("%x", sha256.Sum256(b)); got != h.Hex {
		return nil, &Error{Kind: DigestMismatch, Err: fmt.Errorf("blob %s has digest sha256:%s", h, got)}
	}
	return b, nil
}
