package system

import (
	"bufio"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/corral-sched/corral/proto/masterpb"
)

// In `corral dev` every server's /metrics holds its own metrics and the
// Go and process collectors, as in a process of its own; each page passes
// `promtool check metrics`; and the metrics table of docs/operations.md
// names metrics and labels that the servers really export.
func TestDevServesCompleteMetricsThatTheOperationsDocNames(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is missing: apt-get install prometheus")
		}
		t.Skip("promtool is missing (apt-get install prometheus)")
	}
	root := t.TempDir()
	t.Cleanup(func() { killSandboxTasks(root) })
	addrs := map[string]string{"master": freeAddr(t), "service": freeAddr(t), "pets": freeAddr(t), "batch": freeAddr(t)}
	dev := startProc(t, "dev", "dev", "--master-listen", addrs["master"], "--agent-base-port", "0", "--agents", "2", "--work-dir", root,
		"--service-listen", addrs["service"], "--pets-listen", addrs["pets"], "--batch-listen", addrs["batch"], "--dns-listen", "127.0.0.1:0")
	waitFor(t, 60*time.Second, "corral dev to be ready", func() bool { return strings.Contains(tail(dev.log, 100), "corral dev: ready") })
	log, _ := os.ReadFile(dev.log)
	for _, m := range regexp.MustCompile(`(?m)^(agent-\d+)\s+http://(\S+)`).FindAllStringSubmatch(string(log), -1) {
		addrs[m[1]] = m[2]
	}
	if addrs["agent-1"] == "" {
		t.Fatalf("no agent addresses in corral dev's output:\n%s", tail(dev.log, 20))
	}

	// Something in every framework, so that the per-state series exist.
	for _, req := range [][2]string{
		{"http://" + addrs["service"] + "/v2/apps", `{"id":"/m","cmd":"exec sleep 100000","cpus":0.05,"mem":16}`},
		{"http://" + addrs["pets"] + "/v1/petsets", `{"id":"m","instances":1,"cmd":"exec sleep 100000","cpus":0.05,"mem":16,"volumes":[{"containerPath":"data","size":1}]}`},
		{"http://" + addrs["batch"] + "/v1/jobs", `{"id":"m","cmd":"true","cpus":0.05,"mem":16}`},
		{"http://" + addrs["batch"] + "/v1/jobs/m/trigger", ``},
	} {
		url, body := req[0], req[1]
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST %s: %s %s", url, resp.Status, b)
		}
	}
	if status, _, err := operator(addrs["master"], call(masterpb.Call_GET_FLAGS)); err != nil || status != http.StatusOK {
		t.Fatalf("GET_FLAGS: %d %v", status, err)
	}

	own := map[string]string{"master": "corral_master_", "agent-0": "corral_agent_", "agent-1": "corral_agent_",
		"service": "corral_service_", "pets": "corral_pets_", "batch": "corral_batch_"}
	pages := map[string]string{}
	waitFor(t, 60*time.Second, "every framework's work to show in its metrics", func() bool {
		for name := range own {
			pages[name] = get(t, "http://"+addrs[name]+"/metrics")
		}
		return strings.Contains(pages["service"], `corral_service_instances{state="TASK_RUNNING"}`) &&
			strings.Contains(pages["pets"], `corral_pets_pets{state=`) && strings.Contains(pages["batch"], `corral_batch_runs{status=`)
	})
	for name, prefix := range own {
		page := pages[name]
		for _, want := range []string{"# TYPE " + prefix, "# TYPE go_goroutines gauge", "# TYPE process_cpu_seconds_total counter"} {
			if !strings.Contains(page, want) {
				t.Errorf("%s's /metrics lacks %q", name, want)
			}
		}
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(page)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics on %s's /metrics: %v\n%s", name, err, out)
		}
	}
	all := strings.Join(slices.Collect(maps.Values(pages)), "\n")
	exported := labelsOf(all)
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := regexp.MustCompile("`(corral_[a-z_]+)(?:\\{([a-z_,]*)\\})?`").FindAllStringSubmatch(string(doc), -1)
	if len(documented) < 20 {
		t.Fatalf("docs/operations.md names %d metrics; its table should name every one that matters", len(documented))
	}
	for _, m := range documented {
		name, labels := m[1], m[2]
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		got, ok := exported[base]
		if !ok {
			t.Errorf("docs/operations.md names %s, which no server exports", name)
			continue
		}
		var want []string
		if labels != "" {
			want = strings.Split(labels, ",")
			slices.Sort(want)
		}
		if !slices.Equal(want, got) {
			t.Errorf("docs/operations.md gives %s the labels %v; the servers export %v", name, want, got)
		}
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(b)
}

// labelsOf reads the label names of every metric family in an exposition
// (histograms' "le" left out), sorted; a family with no series has none.
func labelsOf(page string) map[string][]string {
	out := map[string][]string{}
	sample := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\}`)
	label := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`)
	sc := bufio.NewScanner(strings.NewReader(page))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			if _, ok := out[f[2]]; !ok {
				out[f[2]] = nil
			}
			continue
		}
		m := sample.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m[1], "_bucket"), "_sum"), "_count")
		var names []string
		for _, l := range label.FindAllStringSubmatch(m[2], -1) {
			if l[1] != "le" {
				names = append(names, l[1])
			}
		}
		slices.Sort(names)
		out[name] = names
	}
	return out
}
