package kit

import (
	"log/slog"
	"testing"
	"time"
)

func TestSettingsFillDefaultsAndKeepWhatIsSet(t *testing.T) {
	var name, user string
	var failover, tick time.Duration
	var now func() time.Time
	var logger *slog.Logger
	s := Settings{Store: openLocal(t), Name: &name, User: &user, FailoverTimeout: &failover, TickInterval: &tick, Now: &now, Logger: &logger}
	if err := s.Fill("batch"); err != nil {
		t.Fatal(err)
	}
	if name != "batch" || user != "root" || failover != 7*24*time.Hour || tick != 20*time.Millisecond || now == nil || logger == nil {
		t.Errorf("defaults: %q %q %v %v %v %v", name, user, failover, tick, now != nil, logger != nil)
	}
	name, tick = "jobs", time.Second
	if err := s.Fill("batch"); err != nil || name != "jobs" || tick != time.Second {
		t.Errorf("set values changed: %q %v (%v)", name, tick, err)
	}
	s.Store = nil
	if err := s.Fill("batch"); err == nil || err.Error() != "batch: config: Store is required" {
		t.Errorf("without a store: %v", err)
	}
}
