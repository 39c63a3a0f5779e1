package master

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// tooManyRequests answers a call refused by the rate limits.
func tooManyRequests(w http.ResponseWriter, principal string, retry time.Duration) {
	secs := int(math.Ceil(retry.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	who := "unauthenticated callers"
	if principal != "" {
		who = fmt.Sprintf("principal %q", principal)
	}
	http.Error(w, fmt.Sprintf("Rate limit exceeded for %s; retry in %v", who, retry.Round(time.Millisecond)), http.StatusTooManyRequests)
}
