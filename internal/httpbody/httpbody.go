// Package httpbody reads request bodies under a size limit, and the v1
// APIs' calls in the codec their Content-Type names, answering the request
// itself when it cannot: the master's and the agent's APIs refuse
// oversized bodies, unknown media types and unparsable calls the same way.
package httpbody

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Read reads a request body of at most limit bytes. On failure it has
// answered: 413 naming the limit, else 400.
func Read(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
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
