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

// newMaintenanceCommand: corral maintenance [schedule|start|stop].
func newMaintenanceCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "maintenance", Short: "Show machines draining or down for maintenance", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newOperatorClient(cmd)
			if err != nil {
				return err
			}
			sched, err := c.call(&masterpb.Call{Type: masterpb.Call_GET_MAINTENANCE_SCHEDULE.Enum()})
			if err != nil {
				return err
			}
			resp, err := c.call(&masterpb.Call{Type: masterpb.Call_GET_MAINTENANCE_STATUS.Enum()})
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
			var rows [][]string
			for _, dm := range st.GetDrainingMachines() {
				var answers []string
				for _, s := range dm.GetStatuses() {
					answers = append(answers, s.GetFrameworkId().GetValue()+"="+s.GetStatus().String())
				}
				rows = append(rows, []string{machineName(dm.GetId()), "DRAINING", windowText(windows[machineName(dm.GetId())]), strings.Join(answers, ", ")})
			}
			for _, id := range st.GetDownMachines() {
				rows = append(rows, []string{machineName(id), "DOWN", windowText(windows[machineName(id)]), ""})
			}
			return c.show(cmd, resp, "MACHINE\tSTATE\tWINDOW\tFRAMEWORKS' ANSWERS", rows)
		}}
	schedule := &cobra.Command{Use: "schedule HOST...", Short: "Schedule machines for maintenance (they start draining)", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newOperatorClient(cmd)
			if err != nil {
				return err
			}
			startText, _ := cmd.Flags().GetString("start")
			start := time.Now()
			if startText != "" {
				if start, err = time.Parse(time.RFC3339, startText); err != nil {
					return fmt.Errorf("--start %q: use RFC 3339, e.g. 2026-12-01T02:00:00Z", startText)
				}
			}
			duration, _ := cmd.Flags().GetDuration("duration")
			if duration <= 0 {
				return errors.New("--duration must be positive")
			}
			// The new window joins the existing schedule.
			cur, err := c.call(&masterpb.Call{Type: masterpb.Call_GET_MAINTENANCE_SCHEDULE.Enum()})
			if err != nil {
				return err
			}
			sched := cur.GetGetMaintenanceSchedule().GetSchedule()
			if sched == nil {
				sched = &masterpb.Schedule{}
			}
			sched.Windows = append(sched.Windows, &masterpb.Window{MachineIds: machineIDs(args),
				Unavailability: &mesospb.Unavailability{Start: &mesospb.TimeInfo{Nanoseconds: proto.Int64(start.UnixNano())},
					Duration: &mesospb.DurationInfo{Nanoseconds: proto.Int64(int64(duration))}}})
			_, err = c.call(&masterpb.Call{Type: masterpb.Call_UPDATE_MAINTENANCE_SCHEDULE.Enum(),
				UpdateMaintenanceSchedule: &masterpb.Call_UpdateMaintenanceSchedule{Schedule: sched}})
			return err
		}}
	schedule.Flags().String("start", "", "when the window starts (RFC 3339; default now)")
	schedule.Flags().Duration("duration", time.Hour, "how long the machines are unavailable")
	start := &cobra.Command{Use: "start HOST...", Short: "Take scheduled machines down: their agents stop, their tasks are gone", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newOperatorClient(cmd)
			if err != nil {
				return err
			}
			_, err = c.call(&masterpb.Call{Type: masterpb.Call_START_MAINTENANCE.Enum(),
				StartMaintenance: &masterpb.Call_StartMaintenance{Machines: machineIDs(args)}})
			return err
		}}
	stop := &cobra.Command{Use: "stop HOST...", Short: "Bring machines back up (and out of the schedule)", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newOperatorClient(cmd)
			if err != nil {
				return err
			}
			_, err = c.call(&masterpb.Call{Type: masterpb.Call_STOP_MAINTENANCE.Enum(),
				StopMaintenance: &masterpb.Call_StopMaintenance{Machines: machineIDs(args)}})
			return err
		}}
	cmd.AddCommand(schedule, start, stop)
	return cmd
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
