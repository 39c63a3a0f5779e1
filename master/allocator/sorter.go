package allocator

import (
	"math/rand/v2"
	"slices"
	"strings"
)

// Client is something a Sorter orders: a role, or a framework in a role.
type Client struct {
	Index  int // the caller's index, carried through the sort
	Name   string
	Share  float64 // dominant share of the cluster
	Weight float64
}

// Sorter orders clients, the first to be offered resources first.
type Sorter interface {
	Sort(clients []Client)
}

// NewSorter returns the sorter called name: "drf" (also for "") or
// "random".
func NewSorter(name string, seed int64) Sorter {
	if name == "random" {
		return &randomSorter{rng: rand.New(rand.NewPCG(uint64(seed), 0x5eed))}
	}
	return drfSorter{}
}

// drfSorter orders by weighted dominant share, then name.
type drfSorter struct{}

var _ Sorter = drfSorter{}

func (drfSorter) Sort(clients []Client) {
	slices.SortFunc(clients, func(a, b Client) int {
		sa, sb := a.Share/a.Weight, b.Share/b.Weight
		switch {
		case sa < sb:
			return -1
		case sa > sb:
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// randomSorter shuffles; with a fixed seed the order is reproducible.
type randomSorter struct{ rng *rand.Rand }

var _ Sorter = (*randomSorter)(nil)

func (s *randomSorter) Sort(clients []Client) {
	slices.SortFunc(clients, func(a, b Client) int { return strings.Compare(a.Name, b.Name) })
	s.rng.Shuffle(len(clients), func(i, j int) { clients[i], clients[j] = clients[j], clients[i] })
}
