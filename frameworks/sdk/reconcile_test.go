package sdk

import "testing"

func TestReconcileTaskNamesTheAgentOnlyWhenKnown(t *testing.T) {
	if rt := ReconcileTask("t1", "a1"); rt.GetTaskId().GetValue() != "t1" || rt.GetAgentId().GetValue() != "a1" {
		t.Errorf("with an agent: %v", rt)
	}
	if rt := ReconcileTask("t2", ""); rt.GetTaskId().GetValue() != "t2" || rt.AgentId != nil {
		t.Errorf("without an agent: %v", rt)
	}
}
