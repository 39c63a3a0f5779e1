package flight

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

func TestOneCallPerKey(t *testing.T) {
	var g Group[int]
	var runs atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{})
	var once sync.Once
	fn := func() (int, error) {
		runs.Add(1)
		once.Do(func() { close(started) })
		<-release
		return 42, nil
	}
	var wg sync.WaitGroup
	results := make(chan int, 10)
	wg.Add(1)
	go func() {
		defer wg.Done()
		v, _, _ := g.Do(context.Background(), "k", fn)
		results <- v
	}()
	<-started
	for range 9 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, _, _ := g.Do(context.Background(), "k", fn)
			results <- v
		}()
	}
	for g.Callers("k") < 10 {
		runtime.Gosched() // until all ten wait on the one call
	}
	close(release)
	wg.Wait()
	close(results)
	for v := range results {
		if v != 42 {
			t.Fatalf("got %d", v)
		}
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("fn ran %d times", n)
	}
}

func TestCallerGivesUp(t *testing.T) {
	var g Group[int]
	release := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := g.Do(ctx, "k", func() (int, error) { <-release; return 1, nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	if g.Callers("k") != 1 {
		t.Fatal("the call should go on for others")
	}
	close(release)
	v, _, err := g.Do(context.Background(), "k", func() (int, error) { return 2, nil })
	if err != nil || (v != 1 && v != 2) {
		t.Fatalf("%d %v", v, err)
	}
}
