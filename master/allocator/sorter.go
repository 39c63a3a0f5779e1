package allocator

import (
	"math/rand/v2"
	"slices"
	"strings"
)

// Client is something a Sorter orders: a role among its siblings, or a
// framework in a role.
type Client struct {
	Index  int // the owner's index for the client: a role node or a framework
	Name   string
	Share  float64 // dominant share of the cluster
	Weight float64
}

// key is what DRF orders by: the weighted share.
func (c *Client) key() float64 { return c.Share / c.Weight }

// Sorter keeps clients in the order they are offered resources.
type Sorter interface {
	// Sort puts clients in order at the start of a round.
	Sort(clients []*Client)
	// Bumped restores the order after clients[i]'s share grew.
	Bumped(clients []*Client, i int)
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

func drfLess(a, b *Client) int {
	ka, kb := a.key(), b.key()
	switch {
	case ka < kb:
		return -1
	case ka > kb:
		return 1
	}
	return strings.Compare(a.Name, b.Name)
}

func (drfSorter) Sort(clients []*Client) { slices.SortFunc(clients, drfLess) }

// Bumped moves clients[i] right to its place: a binary search and one
// memmove, so an allocation costs O(log n) comparisons, not a sort.
func (drfSorter) Bumped(clients []*Client, i int) {
	c := clients[i]
	rest := clients[i+1:]
	j, _ := slices.BinarySearchFunc(rest, c, drfLess)
	copy(clients[i:], rest[:j])
	clients[i+j] = c
}

// randomSorter shuffles at the start of a round; with a fixed seed the
// order is reproducible.
type randomSorter struct{ rng *rand.Rand }

var _ Sorter = (*randomSorter)(nil)

func (s *randomSorter) Sort(clients []*Client) {
	slices.SortFunc(clients, func(a, b *Client) int { return strings.Compare(a.Name, b.Name) })
	s.rng.Shuffle(len(clients), func(i, j int) { clients[i], clients[j] = clients[j], clients[i] })
}

func (*randomSorter) Bumped([]*Client, int) {}
