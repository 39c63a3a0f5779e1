package zktxn

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/corral-sched/corral/test/cluster/history"
)

// contenderName is an election znode's name (election.Prefix and ten
// digits).
var contenderName = regexp.MustCompile(`^json\.info_[0-9]{10}$`)

// Events turns the transactions into the history events of corral's
// election and registry under root (the --zk path): contenders appearing
// and going (deleted, or with their session), fences taken, and registry
// writes with the fence version they were guarded by (ZooKeeper's own
// znode versions: a fence created is at 0). Every event is stamped with
// ZooKeeper's time and zxid.
func Events(txns []Txn, root string) []history.Event {
	root = strings.TrimSuffix(root, "/")
	registry := root + "/registry/"
	epoch := registry + "epoch"
	ephemerals := map[int64]map[string]bool{} // session → its ephemeral znodes
	contenders := map[string]history.Event{}
	var out []history.Event
	withdraw := func(t Txn, p string) {
		if c, ok := contenders[p]; ok {
			delete(contenders, p)
			out = append(out, history.Event{Kind: history.Withdrawn, Time: t.Time, Zxid: t.Zxid, Node: c.Node, Path: p, Detail: c.Detail})
		}
	}
	for _, t := range txns {
		if t.Type == OpCloseSession {
			for p := range ephemerals[t.Session] {
				withdraw(t, p)
			}
			delete(ephemerals, t.Session)
			continue
		}
		guard := int64(-1)
		for _, op := range t.Ops {
			if op.Type == OpCheck && op.Path == epoch {
				// ZooKeeper logs a check with the version it expected plus
				// one (as if it were a write).
				guard = int64(op.Version) - 1
			}
		}
		for _, op := range t.Ops {
			switch op.Type {
			case OpCreate, OpCreate2, OpCreateContainer, OpCreateTTL:
				if op.Ephemeral {
					if ephemerals[t.Session] == nil {
						ephemerals[t.Session] = map[string]bool{}
					}
					ephemerals[t.Session][op.Path] = true
				}
				if path.Dir(op.Path) == root && contenderName.MatchString(path.Base(op.Path)) {
					e := history.Event{Kind: history.Contender, Time: t.Time, Zxid: t.Zxid, Path: op.Path}
					e.Node, e.Detail = masterOf(op.Data)
					contenders[op.Path] = e
					out = append(out, e)
				}
			case OpDelete, OpDeleteContainer:
				for _, owned := range ephemerals {
					delete(owned, op.Path)
				}
				withdraw(t, op.Path)
			}
			switch {
			case op.Path == epoch && (op.Type == OpSetData || isCreate(op.Type)):
				e := history.Event{Kind: history.Fence, Time: t.Time, Zxid: t.Zxid, Path: op.Path, Version: int64(op.Version)}
				e.Node, e.Detail = holderOf(op.Data)
				out = append(out, e)
			case strings.HasPrefix(op.Path, registry) && op.Type != OpCheck && op.Type != OpSetACL:
				e := history.Event{Kind: history.Write, Time: t.Time, Zxid: t.Zxid, Path: op.Path, Version: guard, Detail: opName(op)}
				if guard < 0 && isCreate(op.Type) && len(op.Data) == 0 {
					e.Detail = history.Mkdir
				}
				out = append(out, e)
			}
		}
	}
	return out
}

func isCreate(typ int32) bool {
	return typ == OpCreate || typ == OpCreate2 || typ == OpCreateContainer || typ == OpCreateTTL
}

func opName(op Op) string {
	switch {
	case isCreate(op.Type):
		return "create"
	case op.Type == OpSetData:
		return "set"
	case op.Type == OpDelete || op.Type == OpDeleteContainer:
		return "delete"
	}
	return fmt.Sprintf("op %d", op.Type)
}

// masterOf reads a contender's MasterInfo (Mesos' JSON layout): its
// address as host:port, and its ID.
func masterOf(data []byte) (addr, id string) {
	var info struct {
		ID      string `json:"id"`
		Address struct {
			IP       string `json:"ip"`
			Hostname string `json:"hostname"`
			Port     int    `json:"port"`
		} `json:"address"`
	}
	if json.Unmarshal(data, &info) != nil {
		return "", ""
	}
	host := info.Address.IP
	if host == "" {
		host = info.Address.Hostname
	}
	return fmt.Sprintf("%s:%d", host, info.Address.Port), info.ID
}

// holderOf reads who took the fence (master.FenceKey's JSON): its
// address, and its ID and term.
func holderOf(data []byte) (addr, detail string) {
	var holder struct {
		ID      string `json:"id"`
		Term    string `json:"term"`
		Address string `json:"address"`
	}
	if json.Unmarshal(data, &holder) != nil {
		return "", ""
	}
	return holder.Address, "id " + holder.ID + " term " + holder.Term
}
