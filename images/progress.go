package images

import (
	"fmt"
	"sync"
)

// Progress is how far a pull has got.
type Progress struct {
	Image       string
	LayersDone  int
	LayersTotal int
	BytesDone   int64
	BytesTotal  int64
}

// String is the line a TASK_STARTING update carries, e.g.
// "pulling 127.0.0.1:5000/web:1 (3 of 5 layers, 18/40 MB)", or
// "pulling 127.0.0.1:5000/web:1" while its manifest is looked up.
func (p Progress) String() string {
	if p.LayersTotal == 0 {
		return "pulling " + p.Image
	}
	unit, div := "MB", int64(1_000_000)
	if p.BytesTotal < div {
		unit, div = "kB", 1000
	}
	round := func(b int64) int64 { return (b + div/2) / div }
	return fmt.Sprintf("pulling %s (%d of %d layers, %d/%d %s)", p.Image, p.LayersDone, p.LayersTotal, round(p.BytesDone), round(p.BytesTotal), unit)
}

// progressFanout hands one pull's progress to every caller waiting on it.
type progressFanout struct {
	mu   sync.Mutex
	subs map[int]func(Progress) // guarded by mu
	next int
	last Progress
	seen bool
}

func (f *progressFanout) subscribe(fn func(Progress)) (unsubscribe func()) {
	if fn == nil {
		return func() {}
	}
	f.mu.Lock()
	id := f.next
	f.next++
	if f.subs == nil {
		f.subs = map[int]func(Progress){}
	}
	f.subs[id] = fn
	last, seen := f.last, f.seen
	f.mu.Unlock()
	if seen {
		fn(last) // a late joiner learns where the pull is
	}
	return func() {
		f.mu.Lock()
		delete(f.subs, id)
		f.mu.Unlock()
	}
}

func (f *progressFanout) publish(p Progress) {
	f.mu.Lock()
	f.last, f.seen = p, true
	subs := make([]func(Progress), 0, len(f.subs))
	for _, fn := range f.subs {
		subs = append(subs, fn)
	}
	f.mu.Unlock()
	for _, fn := range subs {
		fn(p)
	}
}
