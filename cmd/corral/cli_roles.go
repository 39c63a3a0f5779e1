package main

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// Frameworks and roles: who holds what, and the weights and quotas that
// decide it.

func frameworksTable(_ *cobra.Command, resp *masterpb.Response) *table {
	t := newTable("ID", "NAME", "ROLES", "CONNECTED", "CPUS", "MEM")
	for _, f := range resp.GetGetFrameworks().GetFrameworks() {
		info := f.GetFrameworkInfo()
		roles := info.GetRoles()
		if len(roles) == 0 {
			roles = []string{info.GetRole()}
		}
		held := resources.Resources(f.GetAllocatedResources())
		t.add(info.GetId().GetValue(), info.GetName(), strings.Join(roles, ","), f.GetConnected(),
			trimFloat(held.ScalarValue("cpus")), trimFloat(held.ScalarValue("mem")))
	}
	return t
}

func rolesTable(_ *cobra.Command, resp *masterpb.Response) *table {
	t := newTable("ROLE", "WEIGHT", "FRAMEWORKS", "CPUS", "MEM")
	for _, r := range resp.GetGetRoles().GetRoles() {
		res := resources.Resources(r.GetResources())
		t.add(r.GetName(), trimFloat(r.GetWeight()), len(r.GetFrameworks()),
			trimFloat(res.ScalarValue("cpus")), trimFloat(res.ScalarValue("mem")))
	}
	return t
}

func weightsTable(_ *cobra.Command, resp *masterpb.Response) *table {
	t := newTable("ROLE", "WEIGHT")
	for _, w := range resp.GetGetWeights().GetWeightInfos() {
		t.add(w.GetRole(), trimFloat(w.GetWeight()))
	}
	return t
}

// weightsCall sets the weights of ROLE=WEIGHT arguments.
func weightsCall(_ *cobra.Command, args []string) (*masterpb.Call, error) {
	call := &masterpb.Call{Type: masterpb.Call_UPDATE_WEIGHTS.Enum(), UpdateWeights: &masterpb.Call_UpdateWeights{}}
	for _, a := range args {
		role, w, ok := strings.Cut(a, "=")
		weight, err := strconv.ParseFloat(w, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("%q: write ROLE=WEIGHT, e.g. batch=2", a)
		}
		call.UpdateWeights.WeightInfos = append(call.UpdateWeights.WeightInfos,
			&mesospb.WeightInfo{Role: proto.String(role), Weight: proto.Float64(weight)})
	}
	return call, nil
}

func quotaTable(_ *cobra.Command, resp *masterpb.Response) *table {
	t := newTable("ROLE", "GUARANTEES", "LIMITS")
	for _, q := range resp.GetGetQuota().GetStatus().GetConfigs() {
		t.add(q.GetRole(), scalarsText(q.GetGuarantees()), scalarsText(q.GetLimits()))
	}
	return t
}

// quotaCall sets ROLE's quota to --guarantee and --limit.
func quotaCall(cmd *cobra.Command, args []string) (*masterpb.Call, error) {
	g, _ := cmd.Flags().GetString("guarantee")
	l, _ := cmd.Flags().GetString("limit")
	if g == "" && l == "" {
		return nil, errors.New("give --guarantee and/or --limit, e.g. --guarantee 'cpus:4;mem:8192'")
	}
	gs, err := scalarsOf(g)
	if err != nil {
		return nil, fmt.Errorf("--guarantee: %w", err)
	}
	ls, err := scalarsOf(l)
	if err != nil {
		return nil, fmt.Errorf("--limit: %w", err)
	}
	return &masterpb.Call{Type: masterpb.Call_UPDATE_QUOTA.Enum(), UpdateQuota: &masterpb.Call_UpdateQuota{
		QuotaConfigs: []*masterpb.QuotaConfig{{Role: proto.String(args[0]), Guarantees: gs, Limits: ls}}}}, nil
}

func removeQuotaCall(_ *cobra.Command, args []string) (*masterpb.Call, error) {
	return &masterpb.Call{Type: masterpb.Call_REMOVE_QUOTA.Enum(), RemoveQuota: &masterpb.Call_RemoveQuota{Role: proto.String(args[0])}}, nil
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

func trimFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
