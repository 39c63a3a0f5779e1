package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/master/allocator"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// Weights and quota are operator settings kept in the registry, one key
// per role (role names are path-escaped: they contain slashes).
const (
	registryWeights = "registry/weights"
	registryQuota   = "registry/quota"
)

// quotaConfig is a role's quota by resource name; a name missing from
// Limits has no limit.
type quotaConfig struct {
	Guarantees map[string]float64 `json:"guarantees,omitempty"`
	Limits     map[string]float64 `json:"limits,omitempty"`
}

// allocatorRoles is the roles' configuration as the allocator takes it.
func (s *state) allocatorRoles() map[string]allocator.Role {
	out := make(map[string]allocator.Role, len(s.weights)+len(s.quota))
	for role, w := range s.weights {
		r := out[role]
		r.Weight = w
		out[role] = r
	}
	for role, q := range s.quota {
		r := out[role]
		r.Guarantees, r.Limits = q.Guarantees, q.Limits
		out[role] = r
	}
	return out
}

func (s *state) weight(role string) float64 {
	if w, ok := s.weights[role]; ok {
		return w
	}
	return 1
}

func roleKey(prefix, role string) string { return prefix + "/" + url.PathEscape(role) }

func roleFromKey(key string) (string, error) { return url.PathUnescape(lastComponent(key)) }

func (m *Core) getWeights(s *state) *masterpb.Response {
	out := &masterpb.Response_GetWeights{}
	for _, role := range sortedKeys(s.weights) {
		out.WeightInfos = append(out.WeightInfos, &mesospb.WeightInfo{Role: proto.String(role), Weight: proto.Float64(s.weights[role])})
	}
	return &masterpb.Response{Type: masterpb.Response_GET_WEIGHTS.Enum(), GetWeights: out}
}

// updateWeights validates every weight first, then records them all: a
// bad entry changes nothing.
func (m *Core) updateWeights(s *state, infos []*mesospb.WeightInfo) Result {
	if len(infos) == 0 {
		return badRequest("Expecting 'update_weights.weight_infos' to hold at least one weight")
	}
	for _, wi := range infos {
		if err := resources.ValidateRole(wi.GetRole()); err != nil || wi.GetRole() == "*" {
			return badRequest("Invalid role %q for a weight: %v", wi.GetRole(), errOrStar(err, "the default role '*' has no weight of its own"))
		}
		if w := wi.GetWeight(); wi.Weight == nil || !(w > 0) || math.IsInf(w, 0) {
			return badRequest("Invalid weight %v for role %q: weights must be positive numbers", wi.GetWeight(), wi.GetRole())
		}
	}
	for _, wi := range infos {
		b, _ := json.Marshal(wi.GetWeight())
		if err := m.registryPut(roleKey(registryWeights, wi.GetRole()), b); err != nil {
			return Result{Code: Unavailable, Msg: "Could not record the weights: " + err.Error()}
		}
		s.weights[wi.GetRole()] = wi.GetWeight()
	}
	s.requestFullRound()
	return Result{}
}

// errOrStar is why a role was refused: err, or (a valid role, so '*')
// star.
func errOrStar(err error, star string) error {
	if err != nil {
		return err
	}
	return errors.New(star)
}

func (m *Core) getQuota(s *state) *masterpb.Response {
	status := &masterpb.QuotaStatus{}
	for _, role := range sortedKeys(s.quota) {
		q := s.quota[role]
		cfg := &masterpb.QuotaConfig{Role: proto.String(role),
			Guarantees: scalarMap(q.Guarantees), Limits: scalarMap(q.Limits)}
		status.Configs = append(status.Configs, cfg)
		info := &masterpb.QuotaInfo{Role: proto.String(role)}
		for _, name := range sortedKeys(q.Guarantees) {
			info.Guarantee = append(info.Guarantee, resources.Scalar(name, q.Guarantees[name]))
		}
		status.Infos = append(status.Infos, info)
	}
	return &masterpb.Response{Type: masterpb.Response_GET_QUOTA.Enum(), GetQuota: &masterpb.Response_GetQuota{Status: status}}
}

func scalarMap(m map[string]float64) map[string]*mesospb.Value_Scalar {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]*mesospb.Value_Scalar, len(m))
	for k, v := range m {
		out[k] = &mesospb.Value_Scalar{Value: proto.Float64(v)}
	}
	return out
}

// quotaKinds are the resources quota can be set on.
var quotaKinds = allocator.Kinds[:]

func quotaValues(what, role string, in map[string]*mesospb.Value_Scalar) (map[string]float64, string) {
	out := make(map[string]float64, len(in))
	for name, v := range in {
		if !slices.Contains(quotaKinds, name) {
			return nil, fmt.Sprintf("Invalid %s for role %q: %q is not one of %v", what, role, name, quotaKinds)
		}
		x := v.GetValue()
		if v == nil || x < 0 || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Sprintf("Invalid %s for role %q: %s must be a non-negative number", what, role, name)
		}
		out[name] = x
	}
	return out, ""
}

// updateQuota sets whole quota configs (UPDATE_QUOTA): all are checked
// before any is applied. A config with neither guarantees nor limits
// removes the role's quota. Outstanding offers are rescinded so that the
// next round honours the new quota.
func (m *Core) updateQuota(s *state, configs []*masterpb.QuotaConfig) Result {
	if len(configs) == 0 {
		return badRequest("Expecting 'update_quota.quota_configs' to hold at least one config")
	}
	next := make(map[string]quotaConfig, len(configs))
	for _, c := range configs {
		role := c.GetRole()
		if err := resources.ValidateRole(role); err != nil || role == "*" {
			return badRequest("Invalid role %q for quota: %v", role, errOrStar(err, "quota cannot be set on the default role '*'"))
		}
		if _, dup := next[role]; dup {
			return badRequest("Role %q appears twice in 'quota_configs'", role)
		}
		g, msg := quotaValues("guarantee", role, c.GetGuarantees())
		if msg != "" {
			return badRequest("%s", msg)
		}
		l, msg := quotaValues("limit", role, c.GetLimits())
		if msg != "" {
			return badRequest("%s", msg)
		}
		for name, gv := range g {
			if lv, ok := l[name]; ok && lv < gv {
				return badRequest("Invalid quota for role %q: the %s guarantee %v exceeds its limit %v", role, name, gv, lv)
			}
		}
		next[role] = quotaConfig{Guarantees: g, Limits: l}
	}
	for _, role := range sortedKeys(next) {
		q := next[role]
		if len(q.Guarantees) == 0 && len(q.Limits) == 0 {
			if err := m.registryDelete(roleKey(registryQuota, role)); err != nil {
				return Result{Code: Unavailable, Msg: "Could not record the quota: " + err.Error()}
			}
			delete(s.quota, role)
			continue
		}
		b, _ := json.Marshal(q)
		if err := m.registryPut(roleKey(registryQuota, role), b); err != nil {
			return Result{Code: Unavailable, Msg: "Could not record the quota: " + err.Error()}
		}
		s.quota[role] = q
	}
	for _, o := range s.offers {
		m.removeOffer(s, o, true)
	}
	s.requestFullRound()
	return Result{}
}

// setQuota is the pre-1.9 SET_QUOTA: a guarantee that is also the limit.
func (m *Core) setQuota(s *state, req *masterpb.QuotaRequest) Result {
	if _, exists := s.quota[req.GetRole()]; exists {
		return badRequest("Quota for role %q already exists; remove it first or use UPDATE_QUOTA", req.GetRole())
	}
	g := make(map[string]*mesospb.Value_Scalar)
	for _, r := range req.GetGuarantee() {
		if r.GetType() != mesospb.Value_SCALAR {
			return badRequest("Invalid quota request: %q is not a scalar resource", r.GetName())
		}
		g[r.GetName()] = &mesospb.Value_Scalar{Value: proto.Float64(g[r.GetName()].GetValue() + r.GetScalar().GetValue())}
	}
	if len(g) == 0 {
		return badRequest("Invalid quota request: 'guarantee' is empty")
	}
	return m.updateQuota(s, []*masterpb.QuotaConfig{{Role: req.Role, Guarantees: g, Limits: g}})
}

func (m *Core) removeQuota(s *state, role string) Result {
	if _, ok := s.quota[role]; !ok {
		return badRequest("Role %q has no quota to remove", role)
	}
	return m.updateQuota(s, []*masterpb.QuotaConfig{{Role: proto.String(role)}})
}
