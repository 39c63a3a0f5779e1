//go:build linux

package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/corral-sched/corral/images/pull"
	"github.com/corral-sched/corral/images/store"
)

// pull resolves image and brings its layers into the store, once for all
// the callers asking for the same name at the same time. The pull runs
// under its own timeout, not the caller's context: a caller that gives up
// does not cancel it for the others.
func (p *Provisioner) pull(ctx context.Context, key, image string, o ProvisionOptions) (*store.Image, error) {
	fan := p.fanout(key)
	unsubscribe := fan.subscribe(o.Progress)
	defer unsubscribe()
	img, _, err := p.pulls.Do(ctx, key, func() (*store.Image, error) {
		defer p.dropFanout(key)
		pctx, cancel := pull.WithTimeout(context.Background(), p.opts.PullTimeout)
		defer cancel()
		img, err := p.fetch(pctx, key, image, fan)
		result := "ok"
		if err != nil {
			result = string(pull.KindOf(err))
			if result == "" {
				result = "error"
			}
		}
		p.metrics.pulls.WithLabelValues(result).Inc()
		return img, err
	})
	if err != nil && ctx.Err() != nil && !errors.As(err, new(*pull.Error)) {
		return nil, fmt.Errorf("image %s: %w", image, err)
	}
	return img, err
}

func (p *Provisioner) fanout(key string) *progressFanout {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, ok := p.fans[key]
	if !ok {
		f = &progressFanout{}
		p.fans[key] = f
	}
	return f
}

func (p *Provisioner) dropFanout(key string) {
	p.mu.Lock()
	delete(p.fans, key)
	p.mu.Unlock()
}

// fetch does one pull: resolve the name, download and unpack the layers
// the store lacks (PullJobs at a time), record the image.
func (p *Provisioner) fetch(ctx context.Context, key, image string, fan *progressFanout) (*store.Image, error) {
	// Said before the lookup: a registry that is slow to answer leaves
	// its callers knowing what they wait for.
	fan.publish(Progress{Image: image})
	found, err := p.puller.Resolve(ctx, image)
	if err != nil {
		return nil, err
	}
	defer found.Close()
	rec := store.Image{ID: found.ID, Config: found.RawConfig}
	prog := Progress{Image: image, LayersTotal: len(found.Layers)}
	var todo []pull.Layer
	for _, l := range found.Layers {
		rec.Layers = append(rec.Layers, store.Layer{DiffID: l.DiffID, Digest: l.Digest, Size: l.Size})
		prog.BytesTotal += l.Size
		if p.store.HasLayer(l.DiffID) {
			p.metrics.hits.WithLabelValues("layer").Inc()
			prog.LayersDone++
			prog.BytesDone += l.Size
			continue
		}
		todo = append(todo, l)
	}
	if len(todo) > 0 {
		fan.publish(prog)
	}
	var (
		mu         sync.Mutex // guards prog's Done fields, published in order
		bytesDone  atomic.Int64
		wg         sync.WaitGroup
		errs       = make([]error, len(todo))
		sem        = make(chan struct{}, p.opts.PullJobs)
		reportStep = int64(1 << 20)
	)
	bytesDone.Store(prog.BytesDone)
	report := func(layerDone bool) {
		mu.Lock()
		defer mu.Unlock()
		if layerDone {
			prog.LayersDone++
		}
		prog.BytesDone = bytesDone.Load()
		fan.publish(prog)
	}
	for i, l := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			open := func() (io.ReadCloser, error) {
				rc, err := l.Open()
				if err != nil {
					return nil, err
				}
				return &counter{ReadCloser: rc, onRead: func(n int64, total int64) {
					p.metrics.bytes.Add(float64(n))
					before := bytesDone.Add(n) - n
					if before/reportStep != (before+n)/reportStep {
						report(false)
					}
				}}, nil
			}
			if _, err := p.store.AddLayer(ctx, l.DiffID, open); err != nil {
				errs[i] = err
				return
			}
			report(true)
		}()
		if ctx.Err() != nil {
			break
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		if errors.Is(err, store.ErrDiffID) {
			return nil, &pull.Error{Image: image, Kind: pull.DigestMismatch, Err: err}
		}
		return nil, pull.Classify(ctx, image, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, pull.Classify(ctx, image, err)
	}
	return p.store.PutImage(rec, key)
}

// counter counts what is read through it.
type counter struct {
	io.ReadCloser
	onRead func(n, total int64)
	total  int64
}

func (c *counter) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	if n > 0 {
		c.total += int64(n)
		c.onRead(int64(n), c.total)
	}
	return n, err
}
