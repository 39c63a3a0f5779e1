//go:build !linux

package fetcher

import "fmt"

// startWorker: only Linux can change one thread's filesystem credentials,
// so elsewhere a fetch that needs another user's is refused rather than
// done as root.
func startWorker(id identity) (*worker, error) {
	if !id.switched {
		return nil, nil
	}
	return nil, fmt.Errorf("fetching as user %s needs Linux", id.name)
}
