package e2e

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"go.yaml.in/yaml/v3"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/frameworks/batch"
	"github.com/corral-sched/corral/frameworks/pets"
	"github.com/corral-sched/corral/frameworks/service"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/store"
)

// scrape fetches a /metrics page.
func scrape(t *testing.T, url string) string {
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

// Every component's /metrics passes the checks `promtool check metrics`
// makes (promlint: help texts, naming, units, counter suffixes), and every
// metric the alert rules in docs/operations.md use exists.
func TestMetricsLintAndTheAlertRulesUseRealMetrics(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 1})
	// One task through its life, so that per-state series exist.
	f := subscribeRaw(t, c.MasterURL, codec.Protobuf, "application/x-protobuf", frameworkInfo("metrics"))
	o := f.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	f.launch(o, 0, shellTask("once", o, "true", "cpus:0.1;mem:16"))
	f.waitState("once", mesospb.TaskState_TASK_FINISHED)
	// A suppressed role is one the allocator reports as not offered; an
	// operator call counts in the operator metrics.
	f.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_SUPPRESS.Enum()})
	body, _ := codec.JSON.Marshal(&masterpb.Call{Type: masterpb.Call_GET_FRAMEWORKS.Enum()})
	resp, err := http.Post(c.MasterURL+"/api/v1", codec.JSONMediaType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fws := &masterpb.Response{}
	if err := codec.JSON.Unmarshal(raw, fws); err != nil {
		t.Fatal(err)
	}
	// Its outstanding offers go back, so that a round runs without it.
	var held []*mesospb.OfferID
	for _, fw := range fws.GetGetFrameworks().GetFrameworks() {
		for _, o := range fw.GetOffers() {
			held = append(held, o.GetId())
		}
	}
	f.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_DECLINE.Enum(), Decline: &schedulerpb.Call_Decline{OfferIds: held}})
	waitFor(t, 10*time.Second, "the suppressed role to be reported", func() bool {
		return strings.Contains(scrape(t, c.MasterURL+"/metrics"), "corral_allocator_unoffered_framework_roles{")
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pages := map[string]string{
		"master": scrape(t, c.MasterURL+"/metrics"),
		"agent":  scrape(t, "http://"+c.Agents[0].Addr()+"/metrics"),
	}
	for name, mk := range map[string]func(store.Store) (http.Handler, func(context.Context) error){
		"service": func(st store.Store) (http.Handler, func(context.Context) error) {
			f, err := service.New(ctx, service.Config{Master: c.MasterAddr, Store: st, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			return f.Handler(prometheus.NewRegistry()), f.Run
		},
		"pets": func(st store.Store) (http.Handler, func(context.Context) error) {
			f, err := pets.New(ctx, pets.Config{Master: c.MasterAddr, Store: st, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			return f.Handler(prometheus.NewRegistry()), f.Run
		},
		"batch": func(st store.Store) (http.Handler, func(context.Context) error) {
			f, err := batch.New(ctx, batch.Config{Master: c.MasterAddr, Store: st, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			return f.Handler(prometheus.NewRegistry()), f.Run
		},
	} {
		st, err := store.OpenLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		h, _ := mk(st)
		srv := httptest.NewServer(h)
		pages[name] = scrape(t, srv.URL+"/metrics")
		srv.Close()
	}
	all := ""
	for name, page := range pages {
		problems, err := promlint.New(strings.NewReader(page)).Lint()
		if err != nil {
			t.Fatalf("%s: parsing /metrics: %v", name, err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s: %s", name, p.Metric, p.Text)
		}
		all += page
	}
	t.Run("promtool", func(t *testing.T) {
		promtool := needPromtool(t)
		for name, page := range pages {
			cmd := exec.Command(promtool, "check", "metrics")
			cmd.Stdin = strings.NewReader(page)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("promtool check metrics on the %s's /metrics: %v\n%s", name, err, out)
			}
		}
	})
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	// The rules block is valid YAML in Prometheus' rule-file shape.
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(doc)
	if block == nil {
		t.Fatal("docs/operations.md has no yaml block of alert rules")
	}
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert, Expr, For string
				Labels           map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(block[1], &rules); err != nil {
		t.Fatalf("alert rules: %v", err)
	}
	if len(rules.Groups) != 1 || len(rules.Groups[0].Rules) < 5 {
		t.Fatalf("alert rules: %+v", rules)
	}
	for _, r := range rules.Groups[0].Rules {
		if r.Alert == "" || r.Expr == "" || r.For == "" || r.Labels["severity"] == "" {
			t.Errorf("alert rule %+v lacks alert, expr, for or a severity", r)
		}
	}
	t.Run("promtool check rules", func(t *testing.T) {
		promtool := needPromtool(t)
		file := filepath.Join(t.TempDir(), "rules.yml")
		if err := os.WriteFile(file, block[1], 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
			t.Fatalf("promtool check rules: %v\n%s", err, out)
		}
	})
	used := regexp.MustCompile(`\b(corral_[a-z_]+)`).FindAllString(string(doc), -1)
	if len(used) < 5 {
		t.Fatalf("docs/operations.md names %d corral metrics; its alert rules should use them", len(used))
	}
	for _, m := range used {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
		if !bytes.Contains([]byte(all), []byte("# TYPE "+base+" ")) {
			t.Errorf("docs/operations.md uses %s, which no component exports", m)
		}
	}
}

// needPromtool finds Debian's promtool (the prometheus package, which
// .ci/run installs); without it the check cannot run, which fails in CI.
func needPromtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("promtool is missing: apt-get install prometheus")
	}
	t.Skip("promtool is missing (apt-get install prometheus); the promlint checks above still ran")
	return ""
}
