package main

import (
	"strings"
	"testing"

	"github.com/corral-sched/corral/master"
)

func masterConfigOf(t *testing.T, args ...string) (master.Config, error) {
	t.Helper()
	cmd := newMasterCommand()
	if err := cmd.Flags().Parse(args); err != nil {
		t.Fatal(err)
	}
	s, err := loadSettings(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return masterConfig(s)
}

// The flags' defaults are the master's, and their 0 ("never", "no limit")
// reaches the master as such rather than as "the default".
func TestOfferTimeoutAndFrameworkBoundFlags(t *testing.T) {
	cfg, err := masterConfigOf(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OfferTimeout != master.DefaultOfferTimeout || cfg.MaxFrameworksPerPrincipal != master.DefaultMaxFrameworksPerPrincipal {
		t.Errorf("defaults: offer timeout %v, frameworks per principal %d; want the master's %v and %d",
			cfg.OfferTimeout, cfg.MaxFrameworksPerPrincipal, master.DefaultOfferTimeout, master.DefaultMaxFrameworksPerPrincipal)
	}
	cfg, err = masterConfigOf(t, "--offer-timeout", "0", "--max-frameworks-per-principal", "0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OfferTimeout != master.NoOfferTimeout || cfg.MaxFrameworksPerPrincipal != master.Unlimited {
		t.Errorf("0 and 0: offer timeout %v, frameworks per principal %d; want never and unlimited", cfg.OfferTimeout, cfg.MaxFrameworksPerPrincipal)
	}
	cfg, err = masterConfigOf(t, "--offer-timeout", "5m", "--max-frameworks-per-principal", "7")
	if err != nil || cfg.OfferTimeout.Minutes() != 5 || cfg.MaxFrameworksPerPrincipal != 7 {
		t.Errorf("5m and 7: %v, %d, %v", cfg.OfferTimeout, cfg.MaxFrameworksPerPrincipal, err)
	}
	if _, err := masterConfigOf(t, "--max-frameworks-per-principal", "-1"); err == nil || !strings.Contains(err.Error(), "max-frameworks-per-principal") {
		t.Errorf("a negative bound: %v, want an error naming the flag", err)
	}
}
