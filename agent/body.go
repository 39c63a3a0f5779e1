package agent

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Bounds of request bodies: an operator call is a path and two numbers;
// an executor's status update may carry data, as Mesos' does.
const (
	maxAPICallBytes      = 1 << 20
	maxExecutorCallBytes = 16 << 20
)

// readBody reads a request body of at most limit bytes. On failure it has
// answered: 413 naming the limit (as the master's APIs do), else 400.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	if r.ContentLength > limit {
		// Said up front: no need to read up to the limit first.
		http.Error(w, fmt.Sprintf("Request body exceeds %d bytes", limit), http.StatusRequestEntityTooLarge)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err == nil {
		return body, true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		http.Error(w, fmt.Sprintf("Request body exceeds %d bytes", limit), http.StatusRequestEntityTooLarge)
	} else {
		http.Error(w, "Failed to read request body: "+err.Error(), http.StatusBadRequest)
	}
	return nil, false
}
