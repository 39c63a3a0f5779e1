package e2e

import (
	"os"
	"os/exec"
	"regexp"
	"testing"
)

const alertRules = "../../docs/prometheus/corral-alerts.yml"

// docs/operations.md quotes the alert rules file word for word: operators
// copy from either.
func TestAlertRulesFileMatchesOperationsDoc(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := os.ReadFile(alertRules)
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(doc)
	if block == nil {
		t.Fatal("docs/operations.md has no yaml block of alert rules")
	}
	if string(block[1]) != string(rules) {
		t.Fatalf("docs/operations.md's alert rules differ from %s: quote the file as it is", alertRules)
	}
}

// The rules' unit tests (docs/prometheus/corral-alerts.test.yml): an agent
// lost with its tasks fires CorralTasksLostRising, tasks that only start
// and finish do not.
func TestAlertRulesUnitTests(t *testing.T) {
	promtool := needPromtool(t)
	cmd := exec.Command(promtool, "test", "rules", "corral-alerts.test.yml")
	cmd.Dir = "../../docs/prometheus"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}
