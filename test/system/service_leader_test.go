package system

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// DELETE /v2/leader under ZooKeeper: the leading service instance steps
// down and the other leads, as Marathon's leader abdication does; the
// instance that stepped down stands by and redirects.
func TestServiceLeaderAbdicatesToTheStandby(t *testing.T) {
	c := startHACluster(t, 1, 1)
	url := c.zk.URL("/corral")
	var services []*serviceProc
	for i := range 2 {
		addr := freeAddr(t)
		services = append(services, &serviceProc{url: "http://" + addr, p: startProc(t, fmt.Sprintf("service-%d", i), "service",
			"--listen", addr, "--zk", url, "--zk-session-timeout", zkSessionTimeout)})
	}
	var leader, standby *serviceProc
	waitFor(t, 60*time.Second, "a leading service instance and a standby", func() bool {
		for i, s := range services {
			if s.leads() && services[1-i].answers() {
				leader, standby = s, services[1-i]
				return true
			}
		}
		return false
	})
	var got struct{ Leader string }
	resp, err := http.Get(leader.url + "/v2/leader")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if "http://"+got.Leader != leader.url {
		t.Fatalf("GET /v2/leader = %q, want %s", got.Leader, leader.url)
	}
	req, _ := http.NewRequest(http.MethodDelete, leader.url+"/v2/leader", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "Leadership abdicated") {
		t.Fatalf("DELETE /v2/leader: %s %s", resp.Status, b)
	}
	waitFor(t, 60*time.Second, "the standby to lead and the old leader to stand by", func() bool {
		return standby.leads() && !leader.leads() && leader.answers()
	})
}
