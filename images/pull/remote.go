package pull

import (
	"context"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// retries: a registry that fails is tried three times, quickly: the pull
// timeout, not a long backoff, is what bounds a launch.
var retries = remote.Backoff{Duration: 100e6, Factor: 2, Jitter: 0.1, Steps: 3}

func (p *Puller) resolveRemote(ctx context.Context, image string) (*Image, error) {
	ref, err := p.parse(image)
	if err != nil {
		return nil, err
	}
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(p.transport),
		remote.WithAuthFromKeychain(p.keychain),
		remote.WithPlatform(p.opts.Platform),
		remote.WithRetryBackoff(retries),
		remote.WithUserAgent("corral"),
	}
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return nil, err
	}
	// For a manifest list this fetches the platform's manifest; either
	// way the manifest's digest is checked against what was asked for.
	img, err := desc.Image()
	if err != nil {
		return nil, err
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, err
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the config: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("parsing the config: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	out := &Image{Name: image, ID: digest.String(), Config: cfg, RawConfig: raw}
	for i, d := range m.Layers {
		l, err := img.LayerByDigest(d.Digest)
		if err != nil {
			return nil, err
		}
		var diffID string
		if i < len(cfg.RootFS.DiffIDs) {
			diffID = cfg.RootFS.DiffIDs[i].String()
		}
		out.Layers = append(out.Layers, Layer{
			DiffID: diffID,
			Digest: d.Digest.String(),
			Size:   d.Size,
			open:   func() (io.ReadCloser, error) { return l.Compressed() },
		})
	}
	return out, nil
}
