// Package pull finds container images and streams their layers: from a
// registry speaking the Docker Registry HTTP API v2 / OCI distribution
// (through go-containerregistry: token and basic auth, manifest lists
// resolved to linux/amd64, every blob's digest verified), or from a local
// directory of image archives (Mesos' local registry mode: `docker save`
// archives and OCI layouts in a tar, named <repository>:<tag>.tar).
//
// A Puller only reads: Resolve returns an image's config and its layers
// as streams to open; the caller (the layer store) unpacks them and
// checks each layer's DiffID. Errors are *Error, naming the image and
// saying what went wrong in a Kind a caller can act on.
package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Options mirror Mesos' agent flags for images.
type Options struct {
	// Registry is the default registry for names without one
	// (--docker-registry): a URL (https://host[:port], or http:// for a
	// plain-HTTP one), a bare host[:port], or an absolute directory of
	// image archives, in which case every image is read from there.
	// Empty means Docker Hub.
	Registry string
	// DockerConfig is a Docker config.json (--docker-config): a path to
	// one, or its JSON text. Its "auths" entries give credentials per
	// registry.
	DockerConfig string
	// InsecureRegistries are host[:port]s spoken to over plain HTTP
	// (--docker-insecure-registries). go-containerregistry also uses plain
	// HTTP for loopback and private-address registries.
	InsecureRegistries []string
	// Transport carries registry requests; nil means a clone of
	// http.DefaultTransport.
	Transport http.RoundTripper
	// Platform picks the image from a manifest list; linux/amd64 when
	// zero.
	Platform v1.Platform
}

// Puller resolves images by name.
type Puller struct {
	opts      Options
	local     string // archive directory, when Registry is one
	defReg    string // default registry host
	insecure  map[string]bool
	keychain  authn.Keychain
	transport http.RoundTripper
}

// New checks opts and reads the Docker config.
func New(opts Options) (*Puller, error) {
	p := &Puller{opts: opts, insecure: map[string]bool{}, transport: opts.Transport}
	if p.transport == nil {
		p.transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if p.opts.Platform.OS == "" {
		p.opts.Platform = v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	for _, h := range opts.InsecureRegistries {
		if h = strings.TrimSpace(h); h != "" {
			p.insecure[h] = true
		}
	}
	switch reg := strings.TrimSpace(opts.Registry); {
	case reg == "":
		p.defReg = name.DefaultRegistry
	case filepath.IsAbs(reg):
		info, err := os.Stat(reg)
		if err != nil {
			return nil, fmt.Errorf("docker registry directory: %w", err)
		}
		if !info.IsDir() {
			return nil, fmt.Errorf("docker registry %s is not a directory", reg)
		}
		p.local = reg
	case strings.HasPrefix(reg, "http://"):
		p.defReg = strings.TrimSuffix(strings.TrimPrefix(reg, "http://"), "/")
		p.insecure[p.defReg] = true
	case strings.HasPrefix(reg, "https://"):
		p.defReg = strings.TrimSuffix(strings.TrimPrefix(reg, "https://"), "/")
	case strings.Contains(reg, "://"):
		return nil, fmt.Errorf("docker registry %q: only http, https and absolute directories are supported", reg)
	default:
		p.defReg = strings.TrimSuffix(reg, "/")
	}
	if p.defReg != "" {
		if strings.Contains(p.defReg, "/") {
			return nil, fmt.Errorf("docker registry %q: a registry is a host[:port], without a path", opts.Registry)
		}
		if _, err := name.NewRegistry(p.defReg); err != nil {
			return nil, fmt.Errorf("docker registry %q: %w", opts.Registry, err)
		}
	}
	kc, err := parseDockerConfig(opts.DockerConfig)
	if err != nil {
		return nil, err
	}
	p.keychain = kc
	return p, nil
}

// Image is one image, found.
type Image struct {
	Name string // as asked for
	// ID identifies the image's content: its manifest's digest, or for a
	// `docker save` archive (which holds no manifest) its config's.
	ID     string
	Config *v1.ConfigFile
	// RawConfig is the config as the image holds it.
	RawConfig []byte
	Layers    []Layer // lowest first
	closer    io.Closer
}

// Close releases what reading the layers needs (an archive's file).
func (i *Image) Close() error {
	if i.closer == nil {
		return nil
	}
	return i.closer.Close()
}

// Layer is one layer of an image, to be opened and read once.
type Layer struct {
	DiffID string // sha256 of the uncompressed tar, from the image's config
	Digest string // the blob's digest, as the manifest names it
	Size   int64  // bytes to read
	open   func() (io.ReadCloser, error)
}

// Open starts reading the layer's blob. For registry images the reader
// checks the blob's digest and fails at its end if it does not match.
func (l Layer) Open() (io.ReadCloser, error) { return l.open() }

// Key is the canonical name of an image reference for caching: the
// registry and repository made explicit, with a tag or digest.
func (p *Puller) Key(image string) (string, error) {
	if p.local != "" {
		file, err := p.archiveName(image)
		if err != nil {
			return "", err
		}
		return "file://" + file, nil
	}
	ref, err := p.parse(image)
	if err != nil {
		return "", err
	}
	return ref.Name(), nil
}

// Resolve finds image and lists its layers. ctx bounds Resolve and every
// read of the layers it returns.
func (p *Puller) Resolve(ctx context.Context, image string) (*Image, error) {
	var (
		img *Image
		err error
	)
	if p.local != "" {
		img, err = p.resolveLocal(image)
	} else {
		img, err = p.resolveRemote(ctx, image)
	}
	if err != nil {
		return nil, Classify(ctx, image, err)
	}
	if n := len(img.Config.RootFS.DiffIDs); n != len(img.Layers) {
		return nil, &Error{Image: image, Kind: Invalid, Err: fmt.Errorf("the config lists %d layers and the manifest %d", n, len(img.Layers))}
	}
	return img, nil
}

// parse reads a registry image name, with the default registry and the
// insecure list applied.
func (p *Puller) parse(image string) (name.Reference, error) {
	if image == "" {
		return nil, &Error{Image: image, Kind: BadName, Err: errors.New("empty image name")}
	}
	opts := []name.Option{name.WithDefaultRegistry(p.defReg)}
	ref, err := name.ParseReference(image, opts...)
	if err != nil {
		return nil, &Error{Image: image, Kind: BadName, Err: err}
	}
	if p.insecure[ref.Context().RegistryStr()] {
		if ref, err = name.ParseReference(image, append(opts, name.Insecure)...); err != nil {
			return nil, &Error{Image: image, Kind: BadName, Err: err}
		}
	}
	return ref, nil
}

// WithTimeout bounds ctx by d (none when d is 0).
func WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, d, fmt.Errorf("%w after %v", ErrTimeout, d))
}
