package kit

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"time"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/store"
)

// Settings are the settings every bundled framework's Config has. Each
// framework keeps its own Config type, as its callers name the fields,
// and hands kit their values (how to reach and authenticate to the
// master) or pointers to them (what has a default), so that Fill says
// the defaults once and NewScheduler the SDK wiring.
type Settings struct {
	// Master or Detector finds the leading master (see sdk.Config);
	// Principal and Secret authenticate the framework to it.
	Master            string
	Detector          sdk.Detector
	Principal, Secret string
	TLS               *tls.Config

	Store           store.Store
	Name, User      *string
	FailoverTimeout *time.Duration
	TickInterval    *time.Duration
	Now             *func() time.Time
	Logger          **slog.Logger
}

// Fill checks that there is a store and fills in what is unset: the
// name given, user root, a week's failover timeout, a 20 ms tick, the
// wall clock and slog's default logger.
func (s Settings) Fill(name string) error {
	if s.Store == nil {
		return errors.New(name + ": config: Store is required")
	}
	if *s.Name == "" {
		*s.Name = name
	}
	if *s.User == "" {
		*s.User = "root"
	}
	if *s.FailoverTimeout == 0 {
		*s.FailoverTimeout = 7 * 24 * time.Hour
	}
	if *s.TickInterval == 0 {
		*s.TickInterval = 20 * time.Millisecond
	}
	if *s.Now == nil {
		*s.Now = time.Now
	}
	if *s.Logger == nil {
		*s.Logger = slog.Default()
	}
	return nil
}
