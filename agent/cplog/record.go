package cplog

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
)

const (
	headerSize = 12
	// maxBody bounds a record: a length beyond it is damage, not a record.
	maxBody = 64 << 20
	// maxKey bounds a key (its length is a uvarint of at most 3 bytes).
	maxKey = 1 << 16

	opPut    byte = 1
	opDelete byte = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encode frames one record.
func encode(op byte, key string, value []byte) []byte {
	var klen [binary.MaxVarintLen64]byte
	kn := binary.PutUvarint(klen[:], uint64(len(key)))
	body := 1 + kn + len(key) + len(value)
	rec := make([]byte, headerSize+body)
	b := rec[headerSize:]
	b[0] = op
	copy(b[1:], klen[:kn])
	copy(b[1+kn:], key)
	copy(b[1+kn+len(key):], value)
	binary.LittleEndian.PutUint32(rec[0:4], uint32(body))
	binary.LittleEndian.PutUint32(rec[4:8], crc32.Checksum(b, castagnoli))
	binary.LittleEndian.PutUint32(rec[8:12], crc32.Checksum(rec[0:8], castagnoli))
	return rec
}

// record is a decoded record; value aliases the data it was read from.
type record struct {
	op    byte
	key   string
	value []byte
}

// verdict is what decode makes of the bytes at an offset.
type verdict int

const (
	whole verdict = iota // a valid record
	short                // a record cut off by the end of the data
	bad                  // not a record
)

// decode reads the record at the start of data, returning it and its
// size.
func decode(data []byte) (record, int, verdict) {
	if len(data) < headerSize {
		return record{}, 0, short
	}
	if crc32.Checksum(data[0:8], castagnoli) != binary.LittleEndian.Uint32(data[8:12]) {
		return record{}, 0, bad
	}
	n := binary.LittleEndian.Uint32(data[0:4])
	if n < 2 || n > maxBody {
		return record{}, 0, bad
	}
	if uint64(len(data)-headerSize) < uint64(n) {
		// The header is checked: this length was written, the rest was not.
		return record{}, 0, short
	}
	b := data[headerSize : headerSize+int(n)]
	if crc32.Checksum(b, castagnoli) != binary.LittleEndian.Uint32(data[4:8]) {
		return record{}, 0, bad
	}
	op := b[0]
	klen, kn := binary.Uvarint(b[1:])
	if kn <= 0 || klen == 0 || klen > maxKey || klen > uint64(len(b)-1-kn) {
		return record{}, 0, bad
	}
	r := record{op: op, key: string(b[1+kn : 1+kn+int(klen)]), value: b[1+kn+int(klen):]}
	switch {
	case op == opPut:
	case op == opDelete && len(r.value) == 0:
	default:
		return record{}, 0, bad
	}
	return r, headerSize + int(n), whole
}

// damage says how a log's bytes end.
type damage int

const (
	clean   damage = iota
	torn           // the tail is what an interrupted append leaves
	corrupt        // valid records follow a damaged one
)

// replayed is the state read from a log.
type replayed struct {
	live map[string][]byte // key → its put record, as framed
	size int64             // the bytes of live's records
	end  int64             // where the valid records end
	how  damage
}

// replay folds the records of data, stopping at the first that is not
// valid.
func replay(data []byte) replayed {
	r := replayed{live: make(map[string][]byte)}
	off := 0
	for off < len(data) {
		rec, n, v := decode(data[off:])
		if v != whole {
			// Even a record cut short by the end of the file is damage
			// in the middle if valid records follow it: an append only
			// ever tears the last one.
			r.how = torn
			if validAfter(data, off+1) {
				r.how = corrupt
			}
			break
		}
		if old, ok := r.live[rec.key]; ok {
			r.size -= int64(len(old))
			delete(r.live, rec.key)
		}
		if rec.op == opPut {
			r.live[rec.key] = bytes.Clone(data[off : off+n]) // not pinning the whole file
			r.size += int64(n)
		}
		off += n
	}
	r.end = int64(off)
	return r
}

// validAfter reports whether a valid record starts anywhere from offset
// from on: if one does, the damage before it is not a torn tail. The
// header's checksum makes the search cheap.
func validAfter(data []byte, from int) bool {
	for p := from; p+headerSize <= len(data); p++ {
		if _, _, v := decode(data[p:]); v == whole {
			return true
		}
	}
	return false
}
