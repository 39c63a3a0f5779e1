package master

import (
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/resources"
	"github.com/corral-sched/corral/store"
)

func updateWeights(weights map[string]float64) *masterpb.Call {
	c := &masterpb.Call{Type: masterpb.Call_UPDATE_WEIGHTS.Enum(), UpdateWeights: &masterpb.Call_UpdateWeights{}}
	for role, w := range weights {
		c.UpdateWeights.WeightInfos = append(c.UpdateWeights.WeightInfos, &mesospb.WeightInfo{Role: proto.String(role), Weight: proto.Float64(w)})
	}
	return c
}

func updateQuota(role string, guarantees, limits map[string]float64) *masterpb.Call {
	scalars := func(m map[string]float64) map[string]*mesospb.Value_Scalar {
		out := map[string]*mesospb.Value_Scalar{}
		for k, v := range m {
			out[k] = &mesospb.Value_Scalar{Value: proto.Float64(v)}
		}
		return out
	}
	return &masterpb.Call{Type: masterpb.Call_UPDATE_QUOTA.Enum(), UpdateQuota: &masterpb.Call_UpdateQuota{
		QuotaConfigs: []*masterpb.QuotaConfig{{Role: proto.String(role), Guarantees: scalars(guarantees), Limits: scalars(limits)}}}}
}

func TestWeightsAndQuotaAreValidated(t *testing.T) {
	srv := startMaster(t, nil)
	for name, c := range map[string]*masterpb.Call{
		"zero weight":          updateWeights(map[string]float64{"web": 0}),
		"weight on *":          updateWeights(map[string]float64{"*": 2}),
		"bad role":             updateWeights(map[string]float64{"a//b": 2}),
		"no weights":           updateWeights(nil),
		"unknown resource":     updateQuota("db", map[string]float64{"foo": 1}, nil),
		"negative":             updateQuota("db", map[string]float64{"cpus": -1}, nil),
		"guarantee over limit": updateQuota("db", map[string]float64{"cpus": 4}, map[string]float64{"cpus": 2}),
		"quota on *":           updateQuota("*", map[string]float64{"cpus": 1}, nil),
		"remove missing":       {Type: masterpb.Call_REMOVE_QUOTA.Enum(), RemoveQuota: &masterpb.Call_RemoveQuota{Role: proto.String("none")}},
	} {
		text := post(t, srv.URL+"/api/v1", codec.JSON, "", c, http.StatusBadRequest)
		if strings.TrimSpace(text) == "" {
			t.Errorf("%s: 400 without a message", name)
		}
	}
	// Nothing was applied by the refused calls.
	if w := operator(t, srv.URL, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_WEIGHTS.Enum()}, http.StatusOK).GetGetWeights().GetWeightInfos(); len(w) != 0 {
		t.Fatalf("weights after refused updates: %v", w)
	}
	if q := operator(t, srv.URL, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_QUOTA.Enum()}, http.StatusOK).GetGetQuota().GetStatus().GetConfigs(); len(q) != 0 {
		t.Fatalf("quota after refused updates: %v", q)
	}
}

func TestQuotaLimitShapesOffersAndRescinds(t *testing.T) {
	srv := startMaster(t, nil)
	registerAgent(t, srv.URL, "cpus:4;mem:4096")
	db := subscribe(t, srv.URL, codec.Protobuf, fwInfo(func(i *mesospb.FrameworkInfo) { i.Role = proto.String("db") }))
	o := db.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	if got := resources.Resources(o.GetResources()).ScalarValue("cpus"); got != 4 {
		t.Fatalf("before quota, db was offered %v cpus, want 4", got)
	}
	// A limit below the outstanding offer takes it back, and the next
	// offer fits the limit.
	operator(t, srv.URL, codec.JSON, updateQuota("db", nil, map[string]float64{"cpus": 1.5}), http.StatusOK)
	if id := db.next(schedulerpb.Event_RESCIND).GetRescind().GetOfferId().GetValue(); id != o.GetId().GetValue() {
		t.Fatalf("rescinded %s, want %s", id, o.GetId().GetValue())
	}
	again := db.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	if got := resources.Resources(again.GetResources()).ScalarValue("cpus"); got != 1.5 {
		t.Fatalf("under a 1.5 cpus limit, db was offered %v cpus", got)
	}
	q := operator(t, srv.URL, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_QUOTA.Enum()}, http.StatusOK).GetGetQuota().GetStatus().GetConfigs()
	if len(q) != 1 || q[0].GetRole() != "db" || q[0].GetLimits()["cpus"].GetValue() != 1.5 {
		t.Fatalf("GET_QUOTA = %v", q)
	}
}

func TestWeightsAndQuotaSurviveTheMaster(t *testing.T) {
	st, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	first, stop := startWithStore(t, st, nil)
	operator(t, first.URL, codec.JSON, updateWeights(map[string]float64{"eng/backend": 2.5}), http.StatusOK)
	operator(t, first.URL, codec.JSON, updateQuota("eng", map[string]float64{"cpus": 2}, map[string]float64{"cpus": 8}), http.StatusOK)
	stop()

	second, _ := startWithStore(t, st, nil)
	w := operator(t, second.URL, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_WEIGHTS.Enum()}, http.StatusOK).GetGetWeights().GetWeightInfos()
	if len(w) != 1 || w[0].GetRole() != "eng/backend" || w[0].GetWeight() != 2.5 {
		t.Fatalf("recovered weights %v", w)
	}
	q := operator(t, second.URL, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_QUOTA.Enum()}, http.StatusOK).GetGetQuota().GetStatus().GetConfigs()
	if len(q) != 1 || q[0].GetGuarantees()["cpus"].GetValue() != 2 || q[0].GetLimits()["cpus"].GetValue() != 8 {
		t.Fatalf("recovered quota %v", q)
	}
	operator(t, second.URL, codec.JSON, &masterpb.Call{Type: masterpb.Call_REMOVE_QUOTA.Enum(),
		RemoveQuota: &masterpb.Call_RemoveQuota{Role: proto.String("eng")}}, http.StatusOK)
	if q := operator(t, second.URL, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_QUOTA.Enum()}, http.StatusOK).GetGetQuota().GetStatus().GetConfigs(); len(q) != 0 {
		t.Fatalf("quota after REMOVE_QUOTA: %v", q)
	}
}

func TestMasterSaysWhyAFrameworkIsNotOffered(t *testing.T) {
	srv := startMaster(t, nil)
	registerAgent(t, srv.URL, "cpus:4;mem:4096")
	fw := subscribe(t, srv.URL, codec.Protobuf, fwInfo(nil))
	o := fw.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	fw.call(&schedulerpb.Call{Type: schedulerpb.Call_SUPPRESS.Enum()}, http.StatusAccepted)
	fw.call(&schedulerpb.Call{Type: schedulerpb.Call_DECLINE.Enum(), Decline: &schedulerpb.Call_Decline{
		OfferIds: []*mesospb.OfferID{o.GetId()}, Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(0)}}}, http.StatusAccepted)
	waitFor(t, func() bool {
		fws := operator(t, srv.URL, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_FRAMEWORKS.Enum()}, http.StatusOK).GetGetFrameworks().GetFrameworks()
		for _, u := range fws[0].GetUnoffered() {
			if u.GetReason() == "suppressed" && u.GetRole() == "*" && u.GetAgents() == 1 {
				return strings.Contains(metricsOf(t, srv.URL), `corral_allocator_unoffered_framework_roles{reason="suppressed"} 1`)
			}
		}
		return false
	}, "GET_FRAMEWORKS and the metrics to say the framework is suppressed")
}
