package core

import (
	"strings"
	"testing"
	"time"
)

func TestOfferTimeoutHasAFiniteDefault(t *testing.T) {
	c := Config{Addr: "127.0.0.1:5050"}
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.OfferTimeout != DefaultOfferTimeout || DefaultOfferTimeout <= 0 {
		t.Fatalf("OfferTimeout defaults to %v, want DefaultOfferTimeout (%v), finite", c.OfferTimeout, DefaultOfferTimeout)
	}
	if c.MaxFrameworksPerPrincipal != DefaultMaxFrameworksPerPrincipal {
		t.Fatalf("MaxFrameworksPerPrincipal defaults to %d", c.MaxFrameworksPerPrincipal)
	}
	never := Config{Addr: "127.0.0.1:5050", OfferTimeout: NoOfferTimeout}
	if err := never.setDefaults(); err != nil || never.OfferTimeout != NoOfferTimeout {
		t.Fatalf("NoOfferTimeout: %v, %v", never.OfferTimeout, err)
	}
	bad := Config{Addr: "127.0.0.1:5050", OfferTimeout: -time.Second}
	if err := bad.setDefaults(); err == nil || !strings.Contains(err.Error(), "OfferTimeout") {
		t.Fatalf("a negative OfferTimeout: %v", err)
	}
}
