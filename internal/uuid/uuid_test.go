package uuid

import (
	"regexp"
	"testing"
)

func TestNewIsVersion4AndUnique(t *testing.T) {
	form := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := make(map[UUID]bool)
	for range 1000 {
		u := New()
		if !form.MatchString(u.String()) {
			t.Fatalf("%q is not a version 4 UUID", u.String())
		}
		if seen[u] {
			t.Fatalf("duplicate UUID %s", u)
		}
		seen[u] = true
	}
}

func TestFromBytes(t *testing.T) {
	u := New()
	got, ok := FromBytes(u.Bytes())
	if !ok || got != u {
		t.Fatalf("FromBytes(%x) = %v, %v", u.Bytes(), got, ok)
	}
	for _, n := range []int{0, 15, 17, 36} {
		if _, ok := FromBytes(make([]byte, n)); ok {
			t.Errorf("FromBytes accepted %d bytes", n)
		}
	}
}
