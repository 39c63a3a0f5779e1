package agent

import (
	"context"
	"strings"
	"testing"

	"github.com/corral-sched/corral/proto/mesospb"
)

// A framework's COMMAND check without a command fails as a check, rather
// than dereferencing the missing command on the agent.
func TestACommandCheckWithoutACommandFails(t *testing.T) {
	hc := &mesospb.HealthCheck{Type: mesospb.HealthCheck_COMMAND.Enum()}
	err := runCheck(context.Background(), hc, nil, t.TempDir(), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "without a command") {
		t.Fatalf("check without a command: %v, want it to fail saying so", err)
	}
}
