package kit

import (
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
)

// NewScheduler connects a framework's handler to the SDK, with its
// framework ID kept under idKey in the framework's store, so that it fails
// over to the same framework wherever it restarts. Updates are not
// acknowledged by the SDK: the framework acknowledges an update once what
// it says is durable (after a Durable flush, see Outbox), so that an
// update whose effect was lost in a crash is sent again. Call it after
// Fill.
func (s Settings) NewScheduler(info *mesospb.FrameworkInfo, idKey string, h sdk.Handler) (*sdk.Scheduler, error) {
	return sdk.New(sdk.Config{
		Master: s.Master, Detector: s.Detector, Framework: info, Logger: *s.Logger,
		Principal: s.Principal, Secret: s.Secret, TLS: s.TLS,
		IDStore:        sdk.StoreIDStore{Store: s.Store, Key: idKey},
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
