// Package uuid makes random (version 4) UUIDs, the form Mesos uses for
// status update uuids, stream IDs and master IDs.
package uuid

import (
	"crypto/rand"
	"encoding/hex"
)

// UUID is a random RFC 4122 version 4 UUID.
type UUID [16]byte

// New returns a fresh random UUID.
func New() UUID {
	var u UUID
	// crypto/rand.Read never fails on Linux (it panics on an unusable
	// kernel interface instead), so there is no error to hand on.
	_, _ = rand.Read(u[:])
	u[6] = (u[6] & 0x0f) | 0x40
	u[8] = (u[8] & 0x3f) | 0x80
	return u
}

// Bytes returns the 16 raw bytes, as carried in TaskStatus.uuid.
func (u UUID) Bytes() []byte { return u[:] }

// String returns the canonical 36-character text form.
func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// FromBytes converts 16 raw bytes; ok is false for any other length.
func FromBytes(b []byte) (u UUID, ok bool) {
	if len(b) != len(u) {
		return u, false
	}
	copy(u[:], b)
	return u, true
}
