package kit

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
)

// Error is an answer other than success: a status and the message
// clients read (see WriteError).
type Error struct {
	Status  int
	Message string
}

// Errorf returns the answer status with a formatted message.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// Write answers with e.
func (e *Error) Write(w http.ResponseWriter) { WriteError(w, e.Status, "%s", e.Message) }

// View answers a read with what view returns, as JSON with status 200,
// or with the Error it returns. view runs with mu, the framework's lock,
// held, since views read the framework's state; the value is encoded
// before mu is released and written after, so that a slow client never
// holds the lock.
func View(w http.ResponseWriter, mu sync.Locker, view func() (any, *Error)) {
	b, e := encodeLocked(mu, view)
	if e != nil {
		e.Write(w)
		return
	}
	WriteRaw(w, http.StatusOK, b)
}

// Change answers a request that changes the framework's state: change
// runs with the framework's lock held and returns what to answer with
// status, or an Error; the change is made durable (Commit) before the
// answer is written.
func Change(w http.ResponseWriter, r *http.Request, d *Durable, status int, change func() (any, *Error)) {
	b, e := encodeLocked(d.mu, change)
	if e != nil {
		e.Write(w)
		return
	}
	CommitRaw(w, r, d, status, b)
}

// encodeLocked calls fn with mu held and encodes its value before mu is
// released.
func encodeLocked(mu sync.Locker, fn func() (any, *Error)) ([]byte, *Error) {
	mu.Lock()
	defer mu.Unlock()
	v, e := fn()
	if e != nil {
		return nil, e
	}
	return Encode(v), nil
}

// Sorted returns the views of m's values in the order of their keys
// (never nil: an empty list is [] in JSON), so that lists read the same
// from one request to the next.
func Sorted[K cmp.Ordered, V, W any](m map[K]V, view func(V) W) []W {
	out := make([]W, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, view(m[k]))
	}
	return out
}
