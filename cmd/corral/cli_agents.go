package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// Agents and what they hold: their resources, reservations and
// persistent volumes.

func agentsTable(_ *cobra.Command, resp *masterpb.Response) *table {
	t := newTable("ID", "HOSTNAME", "ACTIVE", "CPUS", "MEM", "DISK")
	for _, a := range resp.GetGetAgents().GetAgents() {
		total, used := resources.Resources(a.GetTotalResources()), resources.Resources(a.GetAllocatedResources()).Unallocate()
		t.add(a.GetAgentInfo().GetId().GetValue(), a.GetAgentInfo().GetHostname(), a.GetActive(),
			usage(used, total, "cpus"), usage(used, total, "mem"), usage(used, total, "disk"))
	}
	return t
}

func volumesTable(_ *cobra.Command, resp *masterpb.Response) *table {
	t := newTable("AGENT", "ROLE", "ID", "SIZE (MB)", "CONTAINER PATH", "PRINCIPAL")
	for _, a := range resp.GetGetAgents().GetAgents() {
		for _, r := range a.GetTotalResources() {
			if !resources.IsVolume(r) {
				continue
			}
			t.add(a.GetAgentInfo().GetHostname(), resources.ReservedRole(r), r.GetDisk().GetPersistence().GetId(),
				trimFloat(r.GetScalar().GetValue()), r.GetDisk().GetVolume().GetContainerPath(), r.GetDisk().GetPersistence().GetPrincipal())
		}
	}
	return t
}

func usage(used, total resources.Resources, name string) string {
	return fmt.Sprintf("%s/%s", trimFloat(used.ScalarValue(name)), trimFloat(total.ScalarValue(name)))
}

// findAgent resolves an agent given by ID or hostname.
func findAgent(c *operatorClient, which string) (*masterpb.Response_GetAgents_Agent, error) {
	resp, err := c.get(masterpb.Call_GET_AGENTS)
	if err != nil {
		return nil, err
	}
	var found []*masterpb.Response_GetAgents_Agent
	for _, a := range resp.GetGetAgents().GetAgents() {
		if a.GetAgentInfo().GetId().GetValue() == which || a.GetAgentInfo().GetHostname() == which {
			found = append(found, a)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no agent with ID or hostname %q (see `corral agents`)", which)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("%d agents have hostname %q: give the agent ID", len(found), which)
}

// reservation reserves (or unreserves) resources on an agent for --role.
func reservation(reserve bool) func(cmd *cobra.Command, c *operatorClient, args []string) error {
	return func(cmd *cobra.Command, c *operatorClient, args []string) error {
		role, _ := cmd.Flags().GetString("role")
		if err := resources.ValidateRole(role); err != nil || role == "*" {
			return fmt.Errorf("--role %q: give a role to reserve for (not \"*\")", role)
		}
		res, err := resources.Parse(args[1], "*")
		if err != nil {
			return fmt.Errorf("resources %q: %w (e.g. 'cpus:2;mem:1024')", args[1], err)
		}
		a, err := findAgent(c, args[0])
		if err != nil {
			return err
		}
		principal, _, _ := clientCredentials(cobraFlags(cmd))
		for _, r := range res {
			info := &mesospb.Resource_ReservationInfo{Type: mesospb.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String(role)}
			if principal != "" {
				info.Principal = proto.String(principal)
			}
			r.Role, r.Reservation = nil, nil
			r.Reservations = []*mesospb.Resource_ReservationInfo{info}
		}
		call := &masterpb.Call{Type: masterpb.Call_RESERVE_RESOURCES.Enum(),
			ReserveResources: &masterpb.Call_ReserveResources{AgentId: a.GetAgentInfo().GetId(), Resources: res}}
		verb := "reserved"
		if !reserve {
			call = &masterpb.Call{Type: masterpb.Call_UNRESERVE_RESOURCES.Enum(),
				UnreserveResources: &masterpb.Call_UnreserveResources{AgentId: a.GetAgentInfo().GetId(), Resources: res}}
			verb = "unreserved"
		}
		if _, err := c.call(call); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s %s for %s on %s\n", verb, resources.Resources(res).Unallocate(), role, a.GetAgentInfo().GetHostname())
		return nil
	}
}
