package zktxn

import (
	"bytes"
	"encoding/binary"
	"hash/adler32"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/corral-sched/corral/test/cluster/history"
)

// testdata/log.1 is a log ZooKeeper 3.8 wrote while one corral master was
// elected, took the fence, set a weight (a failed guarded set, then a
// guarded create under an unguarded parent) and shut down; trimmed of its
// preallocated zeros.
func TestDecodeReadsALogZooKeeperWrote(t *testing.T) {
	f, err := os.Open("testdata/log.1")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	txns, err := Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	var types []int32
	for _, txn := range txns {
		types = append(types, txn.Type)
	}
	want := []int32{OpCreateSession, OpCreateSession, OpCreate, OpCreate, OpError, OpCreate, OpCreate, OpMulti, OpCreate, OpMulti, OpDelete, OpCloseSession, OpCloseSession}
	if !slices.Equal(types, want) {
		t.Fatalf("types %v, want %v", types, want)
	}
	if txns[7].Failed == false || len(txns[7].Ops) != 0 {
		t.Fatalf("the failed multi decoded as %+v", txns[7])
	}
	if ops := txns[9].Ops; len(ops) != 2 || ops[0].Type != OpCheck || ops[0].Path != "/corral/registry/epoch" || ops[1].Path != "/corral/registry/weights/web" {
		t.Fatalf("the guarded create decoded as %+v", txns[9])
	}
	for i, txn := range txns {
		if txn.Zxid != int64(i+1) {
			t.Fatalf("txn %d has zxid %d", i, txn.Zxid)
		}
	}

	events := Events(txns, "/corral")
	var got []string
	for _, e := range events {
		got = append(got, e.String())
	}
	master := "127.0.0.1:25050"
	if len(events) != 5 || events[0].Kind != history.Contender || events[0].Node != master ||
		events[1].Kind != history.Fence || events[1].Node != master || events[1].Version != 0 ||
		events[2].Kind != history.Write || events[2].Detail != history.Mkdir || events[2].Version != -1 ||
		events[3].Kind != history.Write || events[3].Path != "/corral/registry/weights/web" || events[3].Version != 0 ||
		events[4].Kind != history.Withdrawn || events[4].Path != events[0].Path {
		t.Fatalf("events:\n%v", got)
	}
	if r := history.Check(events); !r.OK() {
		t.Fatalf("a clean run has anomalies:\n%s", r)
	}
}

// logWriter writes a transaction log as ZooKeeper does, for cases the
// recorded one lacks.
type logWriter struct {
	buf  bytes.Buffer
	zxid int64
}

func newLog() *logWriter {
	w := &logWriter{}
	binary.Write(&w.buf, binary.BigEndian, struct {
		Magic, Version int32
		DBID           int64
	}{fileMagic, 2, 0})
	return w
}

type jute struct{ bytes.Buffer }

func (j *jute) int(v int32)    { binary.Write(j, binary.BigEndian, v) }
func (j *jute) long(v int64)   { binary.Write(j, binary.BigEndian, v) }
func (j *jute) str(s string)   { j.int(int32(len(s))); j.WriteString(s) }
func (j *jute) buf(b []byte)   { j.int(int32(len(b))); j.Write(b) }
func (j *jute) boolean(b bool) { j.WriteByte(map[bool]byte{false: 0, true: 1}[b]) }

func createBody(path string, data []byte, ephemeral bool) []byte {
	j := &jute{}
	j.str(path)
	j.buf(data)
	j.int(1) // one ACL: world:anyone
	j.int(31)
	j.str("world")
	j.str("anyone")
	j.boolean(ephemeral)
	j.int(1)
	return j.Bytes()
}

func checkBody(path string, version int32) []byte {
	j := &jute{}
	j.str(path)
	j.int(version)
	return j.Bytes()
}

func setBody(path string, data []byte, version int32) []byte {
	j := &jute{}
	j.str(path)
	j.buf(data)
	j.int(version)
	return j.Bytes()
}

func (w *logWriter) txn(session int64, typ int32, body []byte) {
	w.zxid++
	j := &jute{}
	j.long(session)
	j.int(1)
	j.long(w.zxid)
	j.long(1_700_000_000_000 + w.zxid)
	j.int(typ)
	j.Write(body)
	binary.Write(&w.buf, binary.BigEndian, int64(adler32.Checksum(j.Bytes())))
	binary.Write(&w.buf, binary.BigEndian, int32(j.Len()))
	w.buf.Write(j.Bytes())
	w.buf.WriteByte(endOfRecord)
}

func (w *logWriter) multi(session int64, ops ...[2]any) {
	j := &jute{}
	j.int(int32(len(ops)))
	for _, op := range ops {
		j.int(op[0].(int32))
		j.buf(op[1].([]byte))
	}
	w.txn(session, OpMulti, j.Bytes())
}

func TestEventsFollowSessionsFencesAndGuards(t *testing.T) {
	w := newLog()
	const m1, m2, store1 = 0x11, 0x22, 0x33
	w.txn(m1, OpCreate, createBody("/corral/json.info_0000000001", []byte(`{"id":"a","address":{"ip":"198.18.0.11","port":5050}}`), true))
	w.txn(m2, OpCreate, createBody("/corral/json.info_0000000002", []byte(`{"id":"b","address":{"ip":"198.18.0.12","port":5050}}`), true))
	w.txn(store1, OpSetData, setBody("/corral/registry/epoch", []byte(`{"id":"a","address":"198.18.0.11:5050"}`), 4))
	w.multi(store1, [2]any{OpCheck, checkBody("/corral/registry/epoch", 5)}, [2]any{OpSetData, setBody("/corral/registry/weights/web", []byte("2"), 1)})
	w.txn(m1, OpCloseSession, nil) // m1's session expires: its znode goes
	// m1's store session writes before m2 takes the fence: the guard
	// still holds, but m1 no longer leads.
	w.multi(store1, [2]any{OpCheck, checkBody("/corral/registry/epoch", 5)}, [2]any{OpSetData, setBody("/corral/registry/weights/web", []byte("9"), 2)})
	w.multi(store1, [2]any{OpCheck, checkBody("/corral/registry/epoch", 5)}, [2]any{OpError, []byte{0, 0, 0, 0}})
	w.txn(0x44, OpSetData, setBody("/corral/registry/epoch", []byte(`{"id":"b","address":"198.18.0.12:5050"}`), 5))
	w.buf.Write(make([]byte, 64)) // preallocated

	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "version-2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "version-2", "log.1"), w.buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	// A second server's copy of the same log: read once.
	other := t.TempDir()
	os.MkdirAll(filepath.Join(other, "version-2"), 0o755)
	os.WriteFile(filepath.Join(other, "version-2", "log.1"), w.buf.Bytes(), 0o644)
	txns, err := ReadDir(dir, other)
	if err != nil {
		t.Fatal(err)
	}
	if len(txns) != 8 {
		t.Fatalf("%d transactions, want 8", len(txns))
	}
	events := Events(txns, "/corral/")
	var kinds []history.Kind
	for _, e := range events {
		kinds = append(kinds, e.Kind)
	}
	want := []history.Kind{history.Contender, history.Contender, history.Fence, history.Write, history.Withdrawn, history.Write, history.Fence}
	if !slices.Equal(kinds, want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
	if events[4].Node != "198.18.0.11:5050" || events[2].Version != 4 || events[5].Version != 4 || events[6].Version != 5 {
		t.Fatalf("events %v", events)
	}
	r := history.Check(events)
	if len(r.Anomalies) != 1 || r.Anomalies[0].Invariant != history.Fencing {
		t.Fatalf("want the deposed master's write as the one anomaly:\n%s", r)
	}
}

func TestDecodeRejectsWhatIsNotALog(t *testing.T) {
	if _, err := Decode(bytes.NewReader([]byte("snapshot, not a log"))); err == nil {
		t.Fatal("decoded garbage")
	}
}
