package promreg

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

type onlyRegisterer struct{ prometheus.Registerer }

func TestResolve(t *testing.T) {
	reg, g := Resolve(nil)
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x_total", Help: "x"})
	reg.MustRegister(c)
	if mfs, err := g.Gather(); err != nil || len(mfs) != 1 {
		t.Fatalf("private registry gathers %v, %v", mfs, err)
	}
	r := prometheus.NewRegistry()
	if reg, g := Resolve(r); reg != r || g != r {
		t.Fatal("a Registry should be used for both")
	}
	_, g = Resolve(onlyRegisterer{r})
	if mfs, err := g.Gather(); err != nil || len(mfs) != 0 {
		t.Fatalf("a plain registerer should give an empty gatherer: %v, %v", mfs, err)
	}
}
