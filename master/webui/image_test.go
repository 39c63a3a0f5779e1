package webui_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// A task's page names the image it runs from. The task is held in
// TASK_STARTING by a registry that never answers, so that the page shows
// it live, with the pull under way.
func TestTaskPageShowsItsImage(t *testing.T) {
	if why := containerizer.LinuxAvailable(); why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("images need linux isolation: %s", why)
		}
		t.Skip(why)
	}
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })
	cgroupRoot := fmt.Sprintf("/corral-webui-images-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + cgroupRoot)
		for _, d := range dirs {
			_ = os.Remove(d)
		}
	})
	u := startUIWith(t, "#/", uiOptions{agent: func(_ int, cfg *agent.Config) {
		cfg.Isolation, cfg.CgroupsRoot, cfg.ImageProviders = "linux", cgroupRoot, []string{"docker"}
	}})
	image := strings.TrimPrefix(hang.URL, "http://") + "/web:1"
	var s *sdk.Scheduler
	launched := false // only touched by the framework's event handler
	s, err := sdk.New(sdk.Config{Master: u.cluster.MasterAddr, Logger: slog.New(slog.DiscardHandler),
		Framework: &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("images")}},
		sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error {
			for _, o := range ev.GetOffers().GetOffers() {
				res, ok := sdk.NewSpace(o).Take(0.1, 32, 0, 0)
				if launched || !ok {
					if err := s.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 60); err != nil {
						return err
					}
					continue
				}
				launched = true
				ti := sdk.CommandTask("from-image", "from-image", o, "", res)
				sdk.WithImage(ti, image, false)
				if err := s.Launch(ctx, o, 60, ti); err != nil {
					return err
				}
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(testkit.RunInBackground(s.Run))
	waitID := time.Now().Add(20 * time.Second)
	for s.FrameworkID() == "" {
		if time.Now().After(waitID) {
			t.Fatal("the framework did not subscribe within 20s")
		}
		time.Sleep(10 * time.Millisecond) // polling for the subscription
	}
	u.visit("#/tasks/" + s.FrameworkID() + "/from-image")
	u.waitFor("the task's image on its page", fmt.Sprintf(`document.getElementById('task-image')?.textContent === %q`, image))
	u.waitFor("the pull's progress in its status updates", `document.getElementById('task-statuses')?.textContent.includes('pulling ')`)
	u.screenshot("task-image")
}
