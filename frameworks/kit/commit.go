package kit

import "net/http"

// Commit makes the change a request made durable before it is answered
// (DESIGN §3: write before acknowledge). A change that could not be
// stored is answered 503, so that the client retries, and Commit reports
// false.
func Commit(w http.ResponseWriter, r *http.Request, d *Durable) bool {
	if err := d.Flush(r.Context()); err != nil {
		WriteError(w, http.StatusServiceUnavailable, "could not store the change, retry: %v", err)
		return false
	}
	return true
}

// CommitRaw commits the request's change, then answers status with b,
// already JSON (encoded under the framework's lock, see Encode).
func CommitRaw(w http.ResponseWriter, r *http.Request, d *Durable, status int, b []byte) {
	if Commit(w, r, d) {
		WriteRaw(w, status, b)
	}
}
