package guide

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/store"
)

// RunHA runs the framework as one of several instances for a cluster
// whose masters are under ZooKeeper (zkURL as their --zk gives it, e.g.
// zk://10.0.0.1:2181,10.0.0.2:2181/corral): the leading master is found
// there, the framework's state lives there, and one instance at a time,
// elected there, schedules. Every instance returns once the jobs are over.
func RunHA(ctx context.Context, zkURL, instance string, jobs map[string]string, log *slog.Logger) error {
	servers, mastersPath, err := store.ParseZKURL(zkURL)
	if err != nil {
		return err
	}
	session, err := election.Dial(servers, 10*time.Second, log)
	if err != nil {
		return err
	}
	defer session.Close()
	state, err := store.DialZooKeeper(servers, "/guide", "", 10*time.Second, log)
	if err != nil {
		return err
	}
	defer state.Close()

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var over bool
	var result error
	// Instances contend as masters do; the znode's MasterInfo names us.
	me := &mesospb.MasterInfo{Id: proto.String(instance), Ip: proto.Uint32(0), Port: proto.Uint32(0), Hostname: proto.String(instance)}
	err = election.Contend(ctx, session, "/guide-leader", me, func(leading context.Context) {
		f, err := New(leading, Config{Detector: election.NewDetector(session, mastersPath), Store: state, Jobs: jobs, Logger: log})
		if err == nil {
			err = f.Run(leading)
		}
		if leading.Err() == nil { // the jobs are over; we were not deposed
			over, result = true, err
			stop()
		}
	})
	if over {
		return result
	}
	if err != nil {
		return err
	}
	return ctx.Err()
}
