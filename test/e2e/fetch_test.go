package e2e

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/mesospb"
)

func TestTasksFetchTheirURIs(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/tool":
			_, _ = w.Write([]byte("#!/bin/sh\necho fetched tool\n"))
		case "/tdata.tar.gz":
			http.ServeFile(w, r, filepath.Join("..", "..", "agent", "fetcher", "testdata", "tdata.tar.gz"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c := testcluster.Start(t, testcluster.Options{Agents: 1})
	f := startHealthFramework(t, c.MasterAddr)
	withURIs := func(id, cmd string, uris ...*mesospb.CommandInfo_URI) {
		f.tasks <- func(o *mesospb.Offer) *mesospb.TaskInfo {
			res, _ := sdk.NewSpace(o).Take(0.1, 16, 0, 0)
			ti := sdk.CommandTask(id, id, o, cmd, res)
			ti.Command.Uris = uris
			return ti
		}
	}
	withURIs("fetcher", `./tool && test "$(cat hello/world.txt)" = hi`,
		&mesospb.CommandInfo_URI{Value: proto.String(srv.URL + "/tool"), Executable: proto.Bool(true)},
		&mesospb.CommandInfo_URI{Value: proto.String(srv.URL + "/tdata.tar.gz")})
	st := f.expect(t, "fetcher", "a terminal update", func(st *mesospb.TaskStatus) bool { return mesospb.IsTerminal(st.GetState()) })
	if st.GetState() != mesospb.TaskState_TASK_FINISHED {
		t.Fatalf("fetcher: %s", sdk.Describe(st))
	}
	withURIs("missing", "true", &mesospb.CommandInfo_URI{Value: proto.String(srv.URL + "/nope.tar.gz")})
	st = f.expect(t, "missing", "a terminal update", func(st *mesospb.TaskStatus) bool { return mesospb.IsTerminal(st.GetState()) })
	if st.GetState() != mesospb.TaskState_TASK_FAILED || st.GetReason() != mesospb.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED ||
		!strings.Contains(st.GetMessage(), "/nope.tar.gz") || !strings.Contains(st.GetMessage(), "404") {
		t.Fatalf("missing: %s; want a launch failure naming the URI and the 404", sdk.Describe(st))
	}
}
