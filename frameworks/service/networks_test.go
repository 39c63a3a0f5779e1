package service

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

func decodeNormalized(t *testing.T, body string) (*App, error) {
	t.Helper()
	app, err := DecodeApp(strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	return app, app.Normalize()
}

// Marathon's network declarations: what is wrong names the field.
func TestAppNetworksAreValidatedNamingTheField(t *testing.T) {
	const cmd = `"id": "/n", "cmd": "sleep 1"`
	for _, c := range []struct{ body, want string }{
		{`{` + cmd + `, "networks": [{"mode": "overlay"}]}`, `/networks/0/mode: must be host, container or container/bridge, got "overlay"`},
		{`{` + cmd + `, "networks": [{"mode": "container"}]}`, "/networks/0/name: container networking needs the name of a CNI network"},
		{`{` + cmd + `, "networks": [{"mode": "container", "name": "../x"}]}`, `/networks/0/name: "../x"`},
		{`{` + cmd + `, "networks": [{"mode": "host", "name": "x"}]}`, "/networks/0/name: host networking takes no name"},
		{`{` + cmd + `, "networks": [{"mode": "host"}, {"mode": "container", "name": "a"}]}`, "/networks: host networking cannot be combined"},
		{`{` + cmd + `, "container": {"portMappings": [{"containerPort": 80}]}}`, "/container/portMappings: port mappings need container networking"},
		{`{` + cmd + `, "networks": [{"mode": "container", "name": "a"}], "portDefinitions": [{"port": 0}]}`, "/portDefinitions: with container networking"},
		{`{` + cmd + `, "networks": [{"mode": "container", "name": "a"}], "container": {"portMappings": [{"containerPort": 80, "hostPort": 0}, {"containerPort": 80, "hostPort": 0}]}}`,
			"/container/portMappings/1/containerPort: 80/tcp is already mapped by portMappings/0"},
		{`{` + cmd + `, "networks": [{"mode": "container", "name": "a"}], "container": {"portMappings": [{"containerPort": 0}]}}`,
			"/container/portMappings/0/containerPort: must be between 1 and 65535"},
		{`{` + cmd + `, "networks": [{"mode": "container", "name": "a"}], "container": {"portMappings": [{"containerPort": 80, "protocol": "udp,tcp"}]}}`,
			"/container/portMappings/0/protocol: must be tcp or udp"},
		{`{` + cmd + `, "networks": [{"mode": "container", "name": "a"}], "container": {"portMappings": [{"containerPort": 80, "servicePort": 10000}]}}`,
			"/container/portMappings/0/servicePort: service ports are for Marathon's load balancers"},
		{`{` + cmd + `, "networks": [{"mode": "container", "name": "a"}], "container": {"portMappings": [{"containerPort": 80, "networkNames": ["b"]}]}}`,
			"/container/portMappings/0/networkNames"},
		{`{` + cmd + `, "networks": [{"mode": "container", "name": "a"}], "healthChecks": [{"protocol": "MESOS_TCP", "portIndex": 0}]}`,
			"/healthChecks/0/portIndex: 0 does not name one of the app's 0 ports"},
	} {
		_, err := decodeNormalized(t, c.body)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n  error %v\n  want it to contain %q", c.body, err, c.want)
		}
	}
}

// An instance on a container network: its ContainerInfo names the
// network with the mappings of the host ports it was given, PORT0 is that
// host port (as Marathon sets it), its health check reaches the
// container port, and container/bridge defaults every mapping's hostPort
// to any.
func TestContainerNetworkTaskInfo(t *testing.T) {
	app, err := decodeNormalized(t, `{"id": "/web", "cmd": "serve", "instances": 1,
	  "networks": [{"mode": "container", "name": "corral-net"}],
	  "container": {"portMappings": [{"containerPort": 8080, "hostPort": 0, "name": "http"}, {"containerPort": 9090, "protocol": "udp"}]},
	  "healthChecks": [{"protocol": "MESOS_HTTP", "portIndex": 0}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := app.hostPorts(); len(got) != 1 || got[0] != 0 {
		t.Fatalf("host ports asked for: %v, want one, any", got)
	}
	f := &Framework{cfg: Config{BridgeNetwork: DefaultBridgeNetwork}}
	in := &Instance{ID: "web.1", AppID: "/web", Host: "agent-0", Ports: []int{31005}}
	o := &mesospb.Offer{AgentId: &mesospb.AgentID{Value: proto.String("a1")}, Hostname: proto.String("agent-0")}
	ti := f.taskInfo(app, in, o, resources.Resources{resources.Scalar("cpus", 1), resources.Range("ports", 31005, 31005)})
	infos := ti.GetContainer().GetNetworkInfos()
	if len(infos) != 1 || infos[0].GetName() != "corral-net" {
		t.Fatalf("network infos %v, want corral-net", infos)
	}
	pm := infos[0].GetPortMappings()
	if len(pm) != 1 || pm[0].GetHostPort() != 31005 || pm[0].GetContainerPort() != 8080 || pm[0].GetProtocol() != "tcp" {
		t.Errorf("port mappings %v, want 31005 -> 8080/tcp only", pm)
	}
	env := map[string]string{}
	for _, v := range ti.GetCommand().GetEnvironment().GetVariables() {
		env[v.GetName()] = v.GetValue()
	}
	if env["PORT0"] != "31005" || env["PORT_HTTP"] != "31005" || env["PORTS"] != "31005" {
		t.Errorf("PORT0=%q PORT_HTTP=%q PORTS=%q, want the host port", env["PORT0"], env["PORT_HTTP"], env["PORTS"])
	}
	if p := ti.GetHealthCheck().GetHttp().GetPort(); p != 8080 {
		t.Errorf("the health check reaches port %d, want the container port 8080", p)
	}

	bridge, err := decodeNormalized(t, `{"id": "/b", "cmd": "serve", "networks": [{"mode": "container/bridge"}],
	  "container": {"portMappings": [{"containerPort": 80}]}}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := bridge.hostPorts(); len(got) != 1 {
		t.Fatalf("container/bridge asks for host ports %v, want one", got)
	}
	ti = f.taskInfo(bridge, &Instance{ID: "b.1", AppID: "/b", Ports: []int{31006}}, o, nil)
	if infos := ti.GetContainer().GetNetworkInfos(); len(infos) != 1 || infos[0].GetName() != DefaultBridgeNetwork ||
		len(infos[0].GetPortMappings()) != 1 || infos[0].GetPortMappings()[0].GetHostPort() != 31006 {
		t.Errorf("container/bridge network infos %v, want %s with 31006 -> 80", infos, DefaultBridgeNetwork)
	}
}

// The task JSON's ipAddresses are the instance's own on a container
// network (from its status updates), else its agent's.
func TestInstanceIPAddresses(t *testing.T) {
	in := &Instance{IP: "10.0.0.5"}
	if got := in.ipAddresses(); len(got) != 1 || got[0]["ipAddress"] != "10.0.0.5" {
		t.Fatalf("host network: %v", got)
	}
	st := &mesospb.TaskStatus{ContainerStatus: &mesospb.ContainerStatus{NetworkInfos: []*mesospb.NetworkInfo{{
		Name: proto.String("corral-net"), IpAddresses: []*mesospb.NetworkInfo_IPAddress{
			{IpAddress: proto.String("198.18.0.7")}, {IpAddress: proto.String("fd00::7")}}}}}}
	in.ContainerIPs = statusIPs(st)
	got := in.ipAddresses()
	if len(got) != 2 || got[0]["ipAddress"] != "198.18.0.7" || got[0]["protocol"] != "IPv4" || got[1]["protocol"] != "IPv6" {
		t.Fatalf("container network: %v", got)
	}
}
