//go:build linux

package images

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit/imagetest"
	"github.com/corral-sched/corral/internal/testkit/registrytest"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkProvision measures provisions of the 2-layer busybox image
// from a local docker-registry with the overlay backend: cold (a new
// store each time: pull, unpack, mount) and warm (layers cached: a
// reference and a mount). Run with -benchtime=50x for the p50/p99 over 50
// that docs/PERFORMANCE.md quotes.
func BenchmarkProvision(b *testing.B) {
	if !isRoot() {
		b.Skip("needs root")
	}
	reg := registrytest.Start(b)
	ref := reg.Addr + "/busybox:1"
	imagetest.Push(b, imagetest.Busybox(b), ref)
	newP := func(dir string) *Provisioner {
		p, err := New(Options{StoreDir: dir, Registerer: prometheus.NewRegistry()})
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	run := func(b *testing.B, p func(i int) *Provisioner) {
		var d []time.Duration
		i := 0
		for b.Loop() {
			prov := p(i)
			id := fmt.Sprintf("c%d", i)
			start := time.Now()
			if _, _, err := prov.Provision(context.Background(), id, ref, ProvisionOptions{}); err != nil {
				b.Fatal(err)
			}
			d = append(d, time.Since(start))
			b.StopTimer()
			if err := prov.Destroy(id); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			i++
		}
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(d[(len(d)*99)/100].Microseconds())/1000, "p99-ms")
	}
	b.Run("cold", func(b *testing.B) {
		base := b.TempDir()
		run(b, func(i int) *Provisioner { return newP(filepath.Join(base, fmt.Sprint(i))) })
	})
	b.Run("warm", func(b *testing.B) {
		p := newP(filepath.Join(b.TempDir(), "store"))
		if _, _, err := p.Provision(context.Background(), "seed", ref, ProvisionOptions{}); err != nil {
			b.Fatal(err)
		}
		defer p.Destroy("seed")
		run(b, func(int) *Provisioner { return p })
	})
}
