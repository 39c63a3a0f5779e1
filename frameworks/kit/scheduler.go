package kit

import (
	"crypto/tls"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/store"
)

// SchedulerConfig is what a bundled framework tells the SDK.
type SchedulerConfig struct {
	Master            string
	Detector          sdk.Detector
	Principal, Secret string
	TLS               *tls.Config
	Logger            *slog.Logger
	// Framework describes the framework (see FrameworkInfo).
	Framework *mesospb.FrameworkInfo
	// Store and IDKey keep the framework ID beside the framework's state,
	// so that it fails over to the same framework wherever it restarts.
	Store store.Store
	IDKey string
}

// NewScheduler connects a framework's handler to the SDK. Updates are not
// acknowledged by the SDK: the framework acknowledges an update once what
// it says is durable (after a Durable flush), so that an update whose
// effect was lost in a crash is sent again.
func NewScheduler(c SchedulerConfig, h sdk.Handler) (*sdk.Scheduler, error) {
	return sdk.New(sdk.Config{
		Master: c.Master, Detector: c.Detector, Framework: c.Framework, Logger: c.Logger,
		Principal: c.Principal, Secret: c.Secret, TLS: c.TLS,
		IDStore:        sdk.StoreIDStore{Store: c.Store, Key: c.IDKey},
		DisableAutoAck: true,
	}, h)
}

// FrameworkInfo describes a framework with the capabilities given.
func FrameworkInfo(user, name string, roles []string, failoverTimeout time.Duration, caps ...mesospb.FrameworkInfo_Capability_Type) *mesospb.FrameworkInfo {
	info := &mesospb.FrameworkInfo{
		User: proto.String(user), Name: proto.String(name), Roles: roles,
		FailoverTimeout: proto.Float64(failoverTimeout.Seconds()),
	}
	for _, c := range caps {
		info.Capabilities = append(info.Capabilities, &mesospb.FrameworkInfo_Capability{Type: c.Enum()})
	}
	return info
}
