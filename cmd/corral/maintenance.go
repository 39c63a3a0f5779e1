package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Maintenance: machines scheduled to drain, taken down and brought back.

func runMaintenanceStatus(cmd *cobra.Command, c *operatorClient, _ []string) error {
	sched, resp, err := c.getBoth(masterpb.Call_GET_MAINTENANCE_SCHEDULE, masterpb.Call_GET_MAINTENANCE_STATUS)
	if err != nil {
		return err
	}
	windows := make(map[string]*mesospb.Unavailability)
	for _, w := range sched.GetGetMaintenanceSchedule().GetSchedule().GetWindows() {
		for _, id := range w.GetMachineIds() {
			windows[machineName(id)] = w.GetUnavailability()
		}
	}
	st := resp.GetGetMaintenanceStatus().GetStatus()
	t := newTable("MACHINE", "STATE", "WINDOW", "FRAMEWORKS' ANSWERS")
	for _, dm := range st.GetDrainingMachines() {
		var answers []string
		for _, s := range dm.GetStatuses() {
			answers = append(answers, s.GetFrameworkId().GetValue()+"="+s.GetStatus().String())
		}
		t.add(machineName(dm.GetId()), "DRAINING", windowText(windows[machineName(dm.GetId())]), strings.Join(answers, ", "))
	}
	for _, id := range st.GetDownMachines() {
		t.add(machineName(id), "DOWN", windowText(windows[machineName(id)]), "")
	}
	return c.show(cmd, resp, t)
}

// runMaintenanceSchedule adds a window for the hosts to the schedule.
func runMaintenanceSchedule(cmd *cobra.Command, c *operatorClient, hosts []string) error {
	startText, _ := cmd.Flags().GetString("start")
	start := time.Now()
	if startText != "" {
		var err error
		if start, err = time.Parse(time.RFC3339, startText); err != nil {
			return fmt.Errorf("--start %q: use RFC 3339, e.g. 2026-12-01T02:00:00Z", startText)
		}
	}
	duration, _ := cmd.Flags().GetDuration("duration")
	if duration <= 0 {
		return errors.New("--duration must be positive")
	}
	// The new window joins the existing schedule.
	cur, err := c.get(masterpb.Call_GET_MAINTENANCE_SCHEDULE)
	if err != nil {
		return err
	}
	sched := cur.GetGetMaintenanceSchedule().GetSchedule()
	if sched == nil {
		sched = &masterpb.Schedule{}
	}
	sched.Windows = append(sched.Windows, &masterpb.Window{MachineIds: machineIDs(hosts),
		Unavailability: &mesospb.Unavailability{Start: &mesospb.TimeInfo{Nanoseconds: proto.Int64(start.UnixNano())},
			Duration: &mesospb.DurationInfo{Nanoseconds: proto.Int64(int64(duration))}}})
	_, err = c.call(&masterpb.Call{Type: masterpb.Call_UPDATE_MAINTENANCE_SCHEDULE.Enum(),
		UpdateMaintenanceSchedule: &masterpb.Call_UpdateMaintenanceSchedule{Schedule: sched}})
	return err
}

func startMaintenanceCall(_ *cobra.Command, hosts []string) (*masterpb.Call, error) {
	return &masterpb.Call{Type: masterpb.Call_START_MAINTENANCE.Enum(),
		StartMaintenance: &masterpb.Call_StartMaintenance{Machines: machineIDs(hosts)}}, nil
}

func stopMaintenanceCall(_ *cobra.Command, hosts []string) (*masterpb.Call, error) {
	return &masterpb.Call{Type: masterpb.Call_STOP_MAINTENANCE.Enum(),
		StopMaintenance: &masterpb.Call_StopMaintenance{Machines: machineIDs(hosts)}}, nil
}

func machineIDs(hosts []string) []*mesospb.MachineID {
	var out []*mesospb.MachineID
	for _, h := range hosts {
		out = append(out, &mesospb.MachineID{Hostname: proto.String(h)})
	}
	return out
}

func machineName(id *mesospb.MachineID) string {
	if id.GetHostname() != "" {
		return id.GetHostname()
	}
	return id.GetIp()
}

func windowText(u *mesospb.Unavailability) string {
	if u == nil {
		return ""
	}
	start := time.Unix(0, u.GetStart().GetNanoseconds()).UTC().Format(time.RFC3339)
	if u.GetDuration() == nil {
		return "from " + start
	}
	return start + " for " + time.Duration(u.GetDuration().GetNanoseconds()).String()
}
