package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
	"github.com/corral-sched/corral/store"
)

// The operator commands are clients of the master's operator API
// (POST /api/v1), like the web UI: nothing private.

func addClusterFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.String("master", "127.0.0.1:5050", "host:port of a master (a standby redirects to the leader)")
	f.String("zk", "", "ZooKeeper URL to find the leading master (zk://host:port,.../path)")
	f.StringP("output", "o", "table", "table, json or yaml")
	addClientCredentialFlags(f)
	f.String("tls-ca", "", "PEM CA bundle verifying the master, which is then called over https")
	f.String("tls-cert", "", "PEM client certificate, if the master asks for one")
	f.String("tls-key", "", "PEM key of --tls-cert")
}

type operatorClient struct {
	base   string
	output string
	http   *http.Client
}

func newOperatorClient(cmd *cobra.Command) (*operatorClient, error) {
	master, _ := cmd.Flags().GetString("master")
	zkURL, _ := cmd.Flags().GetString("zk")
	output, _ := cmd.Flags().GetString("output")
	if output != "table" && output != "json" && output != "yaml" {
		return nil, fmt.Errorf("--output %q: use table, json or yaml", output)
	}
	if env := os.Getenv("CORRAL_MASTER"); env != "" && !cmd.Flags().Changed("master") {
		master = env
	}
	if zkURL != "" {
		servers, path, err := store.ParseZKURL(zkURL)
		if err != nil {
			return nil, fmt.Errorf("--zk: %w", err)
		}
		session, err := election.Dial(servers, 10*time.Second, nil)
		if err != nil {
			return nil, err
		}
		defer session.Close()
		ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
		defer cancel()
		if master, err = election.NewDetector(session, path).Leader(ctx); err != nil {
			return nil, fmt.Errorf("no leading master found in %s: %w", zkURL, err)
		}
	}
	tlsCfg, err := tlsFiles(cobraFlags(cmd)).Client()
	if err != nil {
		return nil, err
	}
	var transport http.RoundTripper = &http.Transport{TLSClientConfig: tlsCfg}
	principal, secret, err := clientCredentials(cobraFlags(cmd))
	if err != nil {
		return nil, err
	}
	if principal != "" {
		transport = &auth.Transport{Base: transport, Principal: principal, Secret: secret}
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: transport}
	return &operatorClient{base: auth.Scheme(tlsCfg) + "://" + master, output: output, http: client}, nil
}

func (c *operatorClient) call(call *masterpb.Call) (*masterpb.Response, error) {
	body, err := codec.Protobuf.Marshal(call)
	if err != nil {
		return nil, err
	}
	req, _ := http.NewRequest(http.MethodPost, c.base+"/api/v1", bytes.NewReader(body))
	req.Header.Set("Content-Type", codec.ProtobufMediaType)
	req.Header.Set("Accept", codec.ProtobufMediaType)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the master at %s (is `corral master` or `corral dev` running? set --master or --zk): %w", c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%v: %s: %s", call.GetType(), resp.Status, strings.TrimSpace(string(b)))
	}
	out := &masterpb.Response{}
	if len(b) > 0 {
		if err := codec.Protobuf.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("decoding the master's answer: %w", err)
		}
	}
	return out, nil
}

// show prints resp as JSON, or its table.
func (c *operatorClient) show(cmd *cobra.Command, resp proto.Message, header string, rows [][]string) error {
	out := cmd.OutOrStdout()
	if c.output == "yaml" {
		b, err := codec.JSON.Marshal(resp)
		if err != nil {
			return err
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			return err
		}
		y, err := yaml.Marshal(doc)
		if err != nil {
			return err
		}
		_, err = out.Write(y)
		return err
	}
	if c.output == "json" {
		b, err := codec.JSON.Marshal(resp)
		if err != nil {
			return err
		}
		var pretty bytes.Buffer
		if err := jsonIndent(&pretty, b); err != nil {
			return err
		}
		_, err = fmt.Fprintln(out, pretty.String())
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func usage(used, total resources.Resources, name string) string {
	return fmt.Sprintf("%s/%s", trimFloat(used.ScalarValue(name)), trimFloat(total.ScalarValue(name)))
}

func trimFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func newOperatorCommands() []*cobra.Command {
	agents := &cobra.Command{Use: "agents", Short: "List agents and their resources", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newOperatorClient(cmd)
			if err != nil {
				return err
			}
			resp, err := c.call(&masterpb.Call{Type: masterpb.Call_GET_AGENTS.Enum()})
			if err != nil {
				return err
			}
			var rows [][]string
			for _, a := range resp.GetGetAgents().GetAgents() {
				total, used := resources.Resources(a.GetTotalResources()), resources.Resources(a.GetAllocatedResources()).Unallocate()
				rows = append(rows, []string{a.GetAgentInfo().GetId().GetValue(), a.GetAgentInfo().GetHostname(),
					strconv.FormatBool(a.GetActive()), usage(used, total, "cpus"), usage(used, total, "mem"), usage(used, total, "disk")})
			}
			return c.show(cmd, resp, "ID\tHOSTNAME\tACTIVE\tCPUS\tMEM\tDISK", rows)
		}}
	frameworks := &cobra.Command{Use: "frameworks", Short: "List frameworks", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newOperatorClient(cmd)
			if err != nil {
				return err
			}
			resp, err := c.call(&masterpb.Call{Type: masterpb.Call_GET_FRAMEWORKS.Enum()})
			if err != nil {
				return err
			}
			var rows [][]string
			for _, f := range resp.GetGetFrameworks().GetFrameworks() {
				info := f.GetFrameworkInfo()
				roles := info.GetRoles()
				if len(roles) == 0 {
					roles = []string{info.GetRole()}
				}
				held := resources.Resources(f.GetAllocatedResources())
				rows = append(rows, []string{info.GetId().GetValue(), info.GetName(), strings.Join(roles, ","),
					strconv.FormatBool(f.GetConnected()), trimFloat(held.ScalarValue("cpus")), trimFloat(held.ScalarValue("mem"))})
			}
			return c.show(cmd, resp, "ID\tNAME\tROLES\tCONNECTED\tCPUS\tMEM", rows)
		}}
	tasks := newTasksCommand()
	roles := &cobra.Command{Use: "roles", Short: "List roles with their weights and holdings", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newOperatorClient(cmd)
			if err != nil {
				return err
			}
			resp, err := c.call(&masterpb.Call{Type: masterpb.Call_GET_ROLES.Enum()})
			if err != nil {
				return err
			}
			var rows [][]string
			for _, r := range resp.GetGetRoles().GetRoles() {
				res := resources.Resources(r.GetResources())
				rows = append(rows, []string{r.GetName(), trimFloat(r.GetWeight()), strconv.Itoa(len(r.GetFrameworks())),
					trimFloat(res.ScalarValue("cpus")), trimFloat(res.ScalarValue("mem"))})
			}
			return c.show(cmd, resp, "ROLE\tWEIGHT\tFRAMEWORKS\tCPUS\tMEM", rows)
		}}
	return append(append([]*cobra.Command{agents, frameworks, tasks, roles, newWeightsCommand(), newQuotaCommand(), newMaintenanceCommand()},
		newMoreOperatorCommands()...), newExecCommands()...)
}

func newWeightsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "weights", Short: "Show role weights", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newOperatorClient(cmd)
			if err != nil {
				return err
			}
			resp, err := c.call(&masterpb.Call{Type: masterpb.Call_GET_WEIGHTS.Enum()})
			if err != nil {
				return err
			}
			var rows [][]string
			for _, w := range resp.GetGetWeights().GetWeightInfos() {
				rows = append(rows, []string{w.GetRole(), trimFloat(w.GetWeight())})
			}
			return c.show(cmd, resp, "ROLE\tWEIGHT", rows)
		}}
	cmd.AddCommand(&cobra.Command{Use: "set ROLE=WEIGHT...", Short: "Set role weights", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newOperatorClient(cmd)
			if err != nil {
				return err
			}
			call := &masterpb.Call{Type: masterpb.Call_UPDATE_WEIGHTS.Enum(), UpdateWeights: &masterpb.Call_UpdateWeights{}}
			for _, a := range args {
				role, w, ok := strings.Cut(a, "=")
				weight, err := strconv.ParseFloat(w, 64)
				if !ok || err != nil {
					return fmt.Errorf("%q: write ROLE=WEIGHT, e.g. batch=2", a)
				}
				call.UpdateWeights.WeightInfos = append(call.UpdateWeights.WeightInfos,
					&mesospb.WeightInfo{Role: proto.String(role), Weight: proto.Float64(weight)})
			}
			_, err = c.call(call)
			return err
		}})
	return cmd
}

func newQuotaCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "quota", Short: "Show role quotas", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newOperatorClient(cmd)
			if err != nil {
				return err
			}
			resp, err := c.call(&masterpb.Call{Type: masterpb.Call_GET_QUOTA.Enum()})
			if err != nil {
				return err
			}
			var rows [][]string
			for _, q := range resp.GetGetQuota().GetStatus().GetConfigs() {
				rows = append(rows, []string{q.GetRole(), scalarsText(q.GetGuarantees()), scalarsText(q.GetLimits())})
			}
			return c.show(cmd, resp, "ROLE\tGUARANTEES\tLIMITS", rows)
		}}
	set := &cobra.Command{Use: "set ROLE", Short: "Set a role's quota (replacing it)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newOperatorClient(cmd)
			if err != nil {
				return err
			}
			g, _ := cmd.Flags().GetString("guarantee")
			l, _ := cmd.Flags().GetString("limit")
			if g == "" && l == "" {
				return errors.New("give --guarantee and/or --limit, e.g. --guarantee 'cpus:4;mem:8192'")
			}
			gs, err := scalarsOf(g)
			if err != nil {
				return fmt.Errorf("--guarantee: %w", err)
			}
			ls, err := scalarsOf(l)
			if err != nil {
				return fmt.Errorf("--limit: %w", err)
			}
			_, err = c.call(&masterpb.Call{Type: masterpb.Call_UPDATE_QUOTA.Enum(), UpdateQuota: &masterpb.Call_UpdateQuota{
				QuotaConfigs: []*masterpb.QuotaConfig{{Role: proto.String(args[0]), Guarantees: gs, Limits: ls}}}})
			return err
		}}
	set.Flags().String("guarantee", "", `guaranteed resources, e.g. "cpus:4;mem:8192"`)
	set.Flags().String("limit", "", `resource limits, e.g. "cpus:8"`)
	cmd.AddCommand(set, &cobra.Command{Use: "rm ROLE", Short: "Remove a role's quota", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newOperatorClient(cmd)
			if err != nil {
				return err
			}
			_, err = c.call(&masterpb.Call{Type: masterpb.Call_REMOVE_QUOTA.Enum(), RemoveQuota: &masterpb.Call_RemoveQuota{Role: proto.String(args[0])}})
			return err
		}})
	return cmd
}

func scalarsOf(text string) (map[string]*mesospb.Value_Scalar, error) {
	if text == "" {
		return nil, nil
	}
	r, err := resources.Parse(text, "*")
	if err != nil {
		return nil, err
	}
	out := map[string]*mesospb.Value_Scalar{}
	for name, v := range r.Quantities() {
		out[name] = &mesospb.Value_Scalar{Value: proto.Float64(v)}
	}
	return out, nil
}

func scalarsText(m map[string]*mesospb.Value_Scalar) string {
	if len(m) == 0 {
		return "-"
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + ":" + trimFloat(m[n].GetValue())
	}
	return strings.Join(parts, ";")
}

func jsonIndent(dst *bytes.Buffer, src []byte) error { return json.Indent(dst, src, "", "  ") }
