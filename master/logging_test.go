package master

import (
	"log/slog"
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

func setLevel(level uint32, d time.Duration) *masterpb.Call {
	c := &masterpb.Call{Type: masterpb.Call_SET_LOGGING_LEVEL.Enum(), SetLoggingLevel: &masterpb.Call_SetLoggingLevel{Level: proto.Uint32(level)}}
	if d != 0 {
		c.SetLoggingLevel.Duration = &mesospb.DurationInfo{Nanoseconds: proto.Int64(int64(d))}
	}
	return c
}

// SET_LOGGING_LEVEL makes the master's logger more verbose for a while,
// as Mesos' does, and GET_LOGGING_LEVEL says how verbose it is.
func TestLoggingLevelChangesForAWhileThenReverts(t *testing.T) {
	level := &slog.LevelVar{}
	srv := startMaster(t, func(c *Config) { c.LogLevel = level })
	get := func() uint32 {
		t.Helper()
		return operator(t, srv.URL, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_LOGGING_LEVEL.Enum()}, http.StatusOK).GetGetLoggingLevel().GetLevel()
	}
	if v := get(); v != 0 || level.Level() != slog.LevelInfo {
		t.Fatalf("at start: verbosity %d, slog level %v; want 0 and INFO", v, level.Level())
	}
	operator(t, srv.URL, codec.JSON, setLevel(1, time.Hour), http.StatusOK)
	if v := get(); v != 1 || level.Level() != slog.LevelDebug {
		t.Fatalf("after setting 1: verbosity %d, slog level %v; want 1 and DEBUG", v, level.Level())
	}
	operator(t, srv.URL, codec.Protobuf, setLevel(2, 200*time.Millisecond), http.StatusOK)
	if v := get(); v != 2 {
		t.Fatalf("after setting 2: verbosity %d", v)
	}
	waitFor(t, func() bool { return get() == 0 && level.Level() == slog.LevelInfo }, "the level to revert after its duration")
	for _, bad := range []*masterpb.Call{setLevel(1, 0), setLevel(99, time.Second), {Type: masterpb.Call_SET_LOGGING_LEVEL.Enum()}} {
		operator(t, srv.URL, codec.JSON, bad, http.StatusBadRequest)
	}
}

// GET_OPERATIONS answers (corral tracks no operations to list), and
// GET_FLAGS never shows a secret, whoever filled the flags.
func TestGetOperationsAndFlagsWithoutSecrets(t *testing.T) {
	srv := startMaster(t, func(c *Config) {
		c.Flags = map[string]string{"secret": "s3cret", "zk": "zk://corral:hunter2@127.0.0.1:2181/corral", "work-dir": "/var/lib/corral"}
	})
	resp := operator(t, srv.URL, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_OPERATIONS.Enum()}, http.StatusOK)
	if resp.GetType() != masterpb.Response_GET_OPERATIONS || resp.GetGetOperations() == nil {
		t.Fatalf("GET_OPERATIONS = %v", resp)
	}
	want := map[string]string{"secret": "(redacted)", "zk": "zk://corral:xxxxx@127.0.0.1:2181/corral", "work-dir": "/var/lib/corral"}
	flags := operator(t, srv.URL, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_FLAGS.Enum()}, http.StatusOK).GetGetFlags().GetFlags()
	if len(flags) != len(want) {
		t.Fatalf("flags %v", flags)
	}
	for _, f := range flags {
		if want[f.GetName()] != f.GetValue() {
			t.Errorf("flag %s = %q, want %q", f.GetName(), f.GetValue(), want[f.GetName()])
		}
	}
}
