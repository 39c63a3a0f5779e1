package agent

import (
	"os"
	"strings"
	"testing"

	"github.com/corral-sched/corral/agent/containerizer"
)

// CNI settings: a configuration directory brings network/cni in, and
// what cannot work is refused naming the setting.
func TestCNISettings(t *testing.T) {
	base := func(isolation string) Config {
		return Config{Master: "m:1", Addr: "127.0.0.1:1", WorkDir: t.TempDir(), Isolation: isolation}
	}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{func() Config { c := base("posix"); c.NetworkCNIConfigDir = "/etc/cni"; return c }(), "network/cni need filesystem/linux"},
		{func() Config { c := base("sim"); c.NetworkCNIConfigDir = "/etc/cni"; return c }(), "simulated agents"},
		{base("filesystem/linux,network/cni"), "needs NetworkCNIConfigDir (--network-cni-config-dir)"},
		{func() Config { c := base("posix"); c.DNS = []string{"198.18.0.1"}; return c }(), "DNS (--dns) is for containers on CNI networks"},
		{func() Config {
			c := base("posix")
			c.NetworkCNIConfigDir = "/etc/cni"
			c.DNS = []string{"corral-dns"}
			return c
		}(),
			`DNS "corral-dns": a nameserver is an IP address`},
	} {
		err := c.cfg.setDefaults()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error saying %q", c.cfg, err, c.want)
		}
	}
	if why := containerizer.LinuxAvailable(); why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the rest needs linux isolation: %s", why)
		}
		t.Skip("the rest needs linux isolation: " + why)
	}
	c := base("linux")
	c.NetworkCNIConfigDir = "/etc/cni"
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if !c.isolation.Has("network/cni") || !c.isolation.Has("cgroups/mem") || len(c.NetworkCNIPluginsDirs) != 1 || c.NetworkCNIPluginsDirs[0] != "/usr/lib/cni" {
		t.Errorf("isolation %s, plugins %v: want linux with network/cni, plugins in /usr/lib/cni", c.isolation, c.NetworkCNIPluginsDirs)
	}
}
