// Package zktxn reads ZooKeeper's transaction logs (dataDir/version-2/
// log.*): every change ZooKeeper applied, in order, with the session that
// asked for it and the server's time. Fault tests read them after a run to
// learn, from the one authority corral's masters agree on, who led when
// and which registry writes landed, instead of trusting what a master
// says about itself.
//
// The format is ZooKeeper's jute serialization (big-endian ints and longs,
// length-prefixed strings and buffers): a file header, then entries of a
// checksum, a length-prefixed transaction and an end-of-record byte. Files
// are preallocated with zeros; a zero length ends the log.
package zktxn

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/adler32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ZooKeeper's operation codes that the log holds.
const (
	OpError           int32 = -1
	OpCreate          int32 = 1
	OpDelete          int32 = 2
	OpSetData         int32 = 5
	OpSetACL          int32 = 7
	OpCheck           int32 = 13
	OpMulti           int32 = 14
	OpCreate2         int32 = 15
	OpReconfig        int32 = 16
	OpCreateContainer int32 = 19
	OpDeleteContainer int32 = 20
	OpCreateTTL       int32 = 21
	OpCreateSession   int32 = -10
	OpCloseSession    int32 = -11
)

const (
	fileMagic   = 0x5A4B4C47 // "ZKLG"
	endOfRecord = 0x42
	// maxEntry bounds one entry: ZooKeeper's jute.maxbuffer default is
	// 1 MiB, and a multi holds a few of them at most.
	maxEntry = 64 << 20
)

// Op is one change: a transaction's only one, or one of a multi's.
type Op struct {
	Type      int32
	Path      string
	Data      []byte
	Ephemeral bool
	// Version is the version a check expects, or the version a setData
	// leaves the znode at.
	Version int32
}

// Txn is one transaction ZooKeeper applied.
type Txn struct {
	Session int64
	Cxid    int32
	Zxid    int64
	Time    time.Time
	Type    int32
	// Ops holds the changes; a multi that failed holds none (Failed).
	Ops    []Op
	Failed bool
}

// Decode reads one log file's transactions.
func Decode(r io.Reader) ([]Txn, error) {
	br := bufio.NewReader(r)
	var hdr struct {
		Magic, Version int32
		DBID           int64
	}
	if err := binary.Read(br, binary.BigEndian, &hdr); err != nil {
		return nil, fmt.Errorf("zktxn: reading the file header: %w", err)
	}
	if hdr.Magic != fileMagic {
		return nil, fmt.Errorf("zktxn: not a transaction log (magic %#x)", hdr.Magic)
	}
	var out []Txn
	for {
		var head struct {
			CRC int64
			Len int32
		}
		if err := binary.Read(br, binary.BigEndian, &head); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return out, nil
			}
			return out, fmt.Errorf("zktxn: entry %d: %w", len(out)+1, err)
		}
		if head.Len <= 0 {
			return out, nil // the preallocated rest of the file
		}
		if head.Len > maxEntry {
			return out, fmt.Errorf("zktxn: entry %d claims %d bytes", len(out)+1, head.Len)
		}
		// Grown as the bytes arrive: a torn length costs what is there.
		var entry bytes.Buffer
		if n, _ := io.CopyN(&entry, br, int64(head.Len)); n != int64(head.Len) {
			return out, nil // torn at the end: ZooKeeper stops there too
		}
		buf := entry.Bytes()
		if int64(adler32.Checksum(buf)) != head.CRC {
			return out, nil
		}
		if eor, err := br.ReadByte(); err != nil || eor != endOfRecord {
			return out, nil
		}
		t, err := decodeTxn(buf)
		if err != nil {
			return out, fmt.Errorf("zktxn: entry %d: %w", len(out)+1, err)
		}
		out = append(out, t)
	}
}

func decodeTxn(buf []byte) (Txn, error) {
	d := &decoder{b: buf}
	t := Txn{Session: d.long(), Cxid: d.int(), Zxid: d.long()}
	t.Time = time.UnixMilli(d.long())
	t.Type = d.int()
	if d.err != nil {
		return t, fmt.Errorf("header: %w", d.err)
	}
	if t.Type == OpMulti {
		n := d.int()
		for range max(n, 0) {
			typ := d.int()
			body := d.buffer()
			if d.err != nil {
				break
			}
			if typ == OpError {
				t.Failed = true
				continue
			}
			op, ok := decodeOp(typ, &decoder{b: body})
			if ok {
				t.Ops = append(t.Ops, op)
			}
		}
		if t.Failed {
			t.Ops = nil
		}
		return t, d.err
	}
	if op, ok := decodeOp(t.Type, d); ok {
		t.Ops = []Op{op}
	}
	return t, d.err
}

// decodeOp reads the body of a change; ok is false for transactions that
// change no znode (sessions, errors).
func decodeOp(typ int32, d *decoder) (Op, bool) {
	op := Op{Type: typ}
	switch typ {
	case OpCreate, OpCreate2, OpCreateContainer, OpCreateTTL:
		op.Path, op.Data = d.str(), d.buffer()
		d.acl()
		if typ == OpCreate || typ == OpCreate2 {
			op.Ephemeral = d.bool()
		}
	case OpDelete, OpDeleteContainer:
		op.Path = d.str()
	case OpSetData, OpReconfig:
		op.Path, op.Data, op.Version = d.str(), d.buffer(), d.int()
	case OpSetACL:
		op.Path = d.str()
	case OpCheck:
		op.Path, op.Version = d.str(), d.int()
	default:
		return op, false
	}
	return op, d.err == nil
}

// decoder reads jute's binary encoding; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = fmt.Errorf("%d bytes wanted, %d left", n, len(d.b))
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) int() int32 {
	b := d.take(4)
	if b == nil {
		return 0
	}
	return int32(binary.BigEndian.Uint32(b))
}

func (d *decoder) long() int64 {
	b := d.take(8)
	if b == nil {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

func (d *decoder) bool() bool {
	b := d.take(1)
	return b != nil && b[0] != 0
}

// buffer reads a length-prefixed byte string; -1 is null.
func (d *decoder) buffer() []byte {
	n := d.int()
	if n < 0 {
		return nil
	}
	return append([]byte(nil), d.take(int(n))...)
}

func (d *decoder) str() string { return string(d.buffer()) }

// acl skips a vector of ACLs: perms, then the id's scheme and id.
func (d *decoder) acl() {
	n := d.int()
	for range max(n, 0) {
		d.int()
		d.str()
		d.str()
	}
}

// ReadDir reads every log under the given data directories (each
// server's dataDir) and returns their transactions once each, in zxid
// order. An ensemble's servers each log what the quorum committed; one
// that was down logs less, so all are read.
func ReadDir(dataDirs ...string) ([]Txn, error) {
	byZxid := map[int64]Txn{}
	for _, dir := range dataDirs {
		files, err := filepath.Glob(filepath.Join(dir, "version-2", "log.*"))
		if err != nil {
			return nil, fmt.Errorf("zktxn: %w", err)
		}
		for _, name := range files {
			if _, err := strconv.ParseInt(strings.TrimPrefix(filepath.Ext(name), "."), 16, 64); err != nil {
				continue
			}
			f, err := os.Open(name)
			if err != nil {
				return nil, fmt.Errorf("zktxn: %w", err)
			}
			txns, err := Decode(f)
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("zktxn: %s: %w", name, err)
			}
			for _, t := range txns {
				if _, ok := byZxid[t.Zxid]; !ok {
					byZxid[t.Zxid] = t
				}
			}
		}
	}
	out := make([]Txn, 0, len(byZxid))
	for _, t := range byZxid {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Zxid < out[j].Zxid })
	return out, nil
}
