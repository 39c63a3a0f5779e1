// Command images measures tasks from container images (issue 19) on an
// in-process cluster with one linux agent (--image-providers docker)
// pulling from Debian's docker-registry on loopback, and prints a
// markdown table for docs/PERFORMANCE.md:
//
//   - ACCEPT → TASK_RUNNING of one task from the 2-layer busybox image,
//     cold (each launch an image whose layers the store lacks: pull,
//     unpack, mount, start) and warm (layers cached: a reference and an
//     overlay mount), p50/p99 over -launches, one launch at a time;
//   - the same for a task without an image (filesystem/linux's empty root
//     with the host's /usr and /etc), interleaved with the warm launches;
//   - -burst tasks of one uncached image launched at once: time to all
//     running, and how many pulls that made;
//   - Debian's `runc run` of /bin/true in a bundle unpacked from the same
//     image (skopeo, umoci), create-start-exit-delete, as the peer figure;
//   - the store's size and the pull+unpack time per MB of layer.
//
// Run it as root: `go run ./test/bench/images`.
package main

import (
	"archive/tar"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/images"
	"github.com/corral-sched/corral/internal/testkit/benchkit"
	"github.com/corral-sched/corral/internal/testkit/imagetest"
	"github.com/corral-sched/corral/internal/testkit/registrytest"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		containerizer.Init() // re-executed as a container's init
	}
	launches := flag.Int("launches", 50, "launches for each latency measurement")
	burst := flag.Int("burst", 50, "tasks of one uncached image launched at once")
	flag.Parse()
	if why := containerizer.LinuxAvailable(); why != "" {
		fmt.Fprintln(os.Stderr, "images bench:", why)
		os.Exit(1)
	}
	h := &benchkit.Harness{}
	var err error
	if herr := h.Do(func() { err = run(h, *launches, *burst) }); herr != nil {
		err = herr
	}
	h.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "images bench:", err)
		os.Exit(1)
	}
}

func run(h *benchkit.Harness, launches, burst int) error {
	reg := registrytest.Start(h)
	busybox := imagetest.Busybox(h)
	imagetest.Push(h, busybox, reg.Addr+"/busybox:1")
	// Every cold launch gets an image of its own, both layers unique, so
	// that nothing of it is in the store.
	for i := range launches + 1 {
		imagetest.Push(h, uniqueBusybox(h, fmt.Sprintf("cold-%d", i)), fmt.Sprintf("%s/cold-%d:1", reg.Addr, i))
	}
	imagetest.Push(h, uniqueBusybox(h, "burst"), reg.Addr+"/burst:1")

	metrics := prometheus.NewRegistry()
	dir := h.TempDir()
	cgroupRoot := fmt.Sprintf("/corral-bench-images-%d", time.Now().UnixNano())
	c, err := testcluster.New(testcluster.Options{Agents: 1, WorkDir: dir, AgentResources: "cpus:8;mem:8192;disk:20000;ports:[31000-32000]",
		Agent: func(_ int, cfg *agent.Config) {
			cfg.Isolation, cfg.CgroupsRoot, cfg.ImageProviders, cfg.Registerer = "linux", cgroupRoot, []string{"docker"}, metrics
		}})
	if err != nil {
		return err
	}
	defer removeCgroups(cgroupRoot)
	defer c.Close()
	f, err := startFramework(c.MasterAddr)
	if err != nil {
		return err
	}
	defer f.stop()

	var cold, warm, plain []time.Duration
	for i := range launches + 1 {
		d, err := f.launchOne(fmt.Sprintf("cold-%d", i), fmt.Sprintf("%s/cold-%d:1", reg.Addr, i))
		if err != nil {
			return fmt.Errorf("cold: %w", err)
		}
		if i > 0 { // the first also warms up the agent
			cold = append(cold, d)
		}
	}
	if _, err := f.launchOne("warm-seed", reg.Addr+"/busybox:1"); err != nil {
		return fmt.Errorf("warm: %w", err)
	}
	for i := range launches {
		d, err := f.launchOne(fmt.Sprintf("plain-%d", i), "")
		if err != nil {
			return fmt.Errorf("no image: %w", err)
		}
		plain = append(plain, d)
		if d, err = f.launchOne(fmt.Sprintf("warm-%d", i), reg.Addr+"/busybox:1"); err != nil {
			return fmt.Errorf("warm: %w", err)
		}
		warm = append(warm, d)
	}
	pullsBefore := metric(metrics, "corral_agent_image_pulls_total", "result", "ok")
	burstTime, err := f.launchMany(burst, reg.Addr+"/burst:1")
	if err != nil {
		return fmt.Errorf("burst: %w", err)
	}
	pulls := metric(metrics, "corral_agent_image_pulls_total", "result", "ok") - pullsBefore
	storeBytes, layers := metric(metrics, "corral_agent_image_store_bytes", "", ""), metric(metrics, "corral_agent_image_store_layers", "", "")

	perMB, layerMB, err := pullRate(reg.Addr+"/busybox:1", 10)
	if err != nil {
		return fmt.Errorf("pull rate: %w", err)
	}
	peer, err := runcLatency(h, reg.Addr+"/busybox:1", launches)
	if err != nil {
		return fmt.Errorf("runc: %w", err)
	}

	co, wa, pl, pe := benchkit.Summarize(cold), benchkit.Summarize(warm), benchkit.Summarize(plain), benchkit.Summarize(peer)
	fmt.Printf("corral images, one linux agent, overlay backend, %s, %d cores, %s\n\n", time.Now().Format("2006-01-02"), runtime.NumCPU(), runtime.Version())
	fmt.Printf("| measure (%d launches each, one at a time) | p50 | p99 |\n|---|---|---|\n", launches)
	fmt.Printf("| cold: ACCEPT → TASK_RUNNING, pull + unpack + start | %.1f ms | %.1f ms |\n", co.P50, co.P99)
	fmt.Printf("| warm: ACCEPT → TASK_RUNNING, layers cached | %.1f ms | %.1f ms |\n", wa.P50, wa.P99)
	fmt.Printf("| no image (filesystem/linux, host /usr), interleaved with warm | %.1f ms | %.1f ms |\n", pl.P50, pl.P99)
	fmt.Printf("| peer: `runc run` of /bin/true in the image's bundle (create-start-exit-delete) | %.1f ms | %.1f ms |\n\n", pe.P50, pe.P99)
	fmt.Printf("warm / no image at the p50: %.2f× (target ≤ 1.3×)\n\n", wa.P50/pl.P50)
	fmt.Printf("| measure | value |\n|---|---|\n")
	fmt.Printf("| %d tasks of one uncached image launched at once, to all TASK_RUNNING | %.0f ms (%.0f containers/s) |\n",
		burst, benchkit.Ms(burstTime), float64(burst)/burstTime.Seconds())
	fmt.Printf("| pulls those %d launches made | %.0f |\n", burst, pulls)
	fmt.Printf("| store after the run: %.0f layers | %.1f MB |\n", layers, storeBytes/1e6)
	fmt.Printf("| pull + unpack of the busybox image from the local registry, per MB of layer (%.2f MB), fresh store | %.1f ms/MB |\n", layerMB, perMB)
	return nil
}

// uniqueBusybox is an image shaped as the busybox one (busybox and its
// applet links below, a small upper layer), with a file named tag in each
// layer: layers no other image has.
func uniqueBusybox(h *benchkit.Harness, tag string) v1.Image {
	bin, err := os.ReadFile(imagetest.BusyboxPath)
	if err != nil {
		h.Fatalf("%v", err)
	}
	lower := []imagetest.File{{Name: "bin/", Typeflag: tar.TypeDir}, {Name: "bin/busybox", Body: bin, Mode: 0o755}}
	for _, a := range imagetest.Applets {
		lower = append(lower, imagetest.File{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Link: "busybox", Mode: 0o777})
	}
	lower = append(lower, imagetest.File{Name: "etc/", Typeflag: tar.TypeDir}, imagetest.File{Name: "etc/" + tag, Body: []byte(tag)},
		imagetest.File{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777})
	upper := []imagetest.File{{Name: "etc/", Typeflag: tar.TypeDir}, {Name: "etc/" + tag + "-upper", Body: []byte(tag)}}
	return imagetest.Image(h, imagetest.Config, imagetest.Layer(h, lower...), imagetest.Layer(h, upper...))
}

// pullRate provisions image into fresh stores n times through the image
// library and returns the time per MB of unpacked layer, and that size.
func pullRate(image string, n int) (msPerMB, mb float64, err error) {
	var total time.Duration
	for i := range n {
		dir, err := os.MkdirTemp("", "corral-bench-store-")
		if err != nil {
			return 0, 0, err
		}
		p, err := images.New(images.Options{StoreDir: dir, Registerer: prometheus.NewRegistry(), Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			os.RemoveAll(dir)
			return 0, 0, err
		}
		start := time.Now()
		_, _, err = p.Provision(context.Background(), fmt.Sprintf("c%d", i), image, images.ProvisionOptions{})
		total += time.Since(start)
		mb = float64(p.Store().Size()) / 1e6
		if derr := p.Destroy(fmt.Sprintf("c%d", i)); err == nil {
			err = derr
		}
		os.RemoveAll(dir)
		if err != nil {
			return 0, 0, err
		}
	}
	return benchkit.Ms(total) / float64(n) / mb, mb, nil
}

// runcLatency runs /bin/true with Debian's runc in a bundle unpacked from
// image (skopeo copies it to an OCI layout, umoci unpacks it), without a
// network namespace, as corral's containers on the host network.
func runcLatency(h *benchkit.Harness, image string, n int) ([]time.Duration, error) {
	dir := h.TempDir()
	steps := [][]string{
		{"skopeo", "copy", "--src-tls-verify=false", "docker://" + image, "oci:" + filepath.Join(dir, "oci") + ":1"},
		{"umoci", "unpack", "--image", filepath.Join(dir, "oci") + ":1", filepath.Join(dir, "bundle")},
	}
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%v: %v: %s", s, err, out)
		}
	}
	cfgPath := filepath.Join(dir, "bundle", "config.json")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, err
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, err
	}
	proc := spec["process"].(map[string]any)
	proc["args"], proc["terminal"] = []string{"/bin/true"}, false
	linux := spec["linux"].(map[string]any)
	var ns []any
	for _, x := range linux["namespaces"].([]any) {
		if x.(map[string]any)["type"] != "network" {
			ns = append(ns, x)
		}
	}
	linux["namespaces"] = ns
	if b, err = json.Marshal(spec); err != nil {
		return nil, err
	}
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		return nil, err
	}
	var out []time.Duration
	for i := range n + 1 {
		start := time.Now()
		cmd := exec.Command("runc", "run", "--bundle", filepath.Join(dir, "bundle"), fmt.Sprintf("corral-bench-%d-%d", os.Getpid(), i))
		if o, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("runc run: %v: %s", err, o)
		}
		if i > 0 {
			out = append(out, time.Since(start))
		}
	}
	return out, nil
}

// metric sums the samples of name in reg whose labels include the
// label=value pair (every sample when label is "").
func metric(reg *prometheus.Registry, name, label, value string) float64 {
	families, err := reg.Gather()
	if err != nil {
		return -1
	}
	total := 0.0
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, lp := range m.GetLabel() {
				match = match || (lp.GetName() == label && lp.GetValue() == value)
			}
			if !match {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				total += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				total += m.GetGauge().GetValue()
			}
		}
	}
	return total
}

// removeCgroups removes the empty cgroups the run's containers left.
func removeCgroups(root string) {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + root)
	for _, d := range dirs {
		_ = os.Remove(d)
	}
}
