// Package flags holds what the servers share about reporting their
// settings (GET_FLAGS): which values must not be shown.
package flags

import (
	"strings"

	"github.com/corral-sched/corral/store"
)

// Redact hides the value of a setting that holds a secret (by its name:
// secret, password, token, private key), and a password inside a URL,
// whoever filled the settings: GET_FLAGS is for looking at a server's
// settings, not its passwords.
func Redact(name, value string) string {
	lower := strings.ToLower(name)
	for _, word := range []string{"secret", "password", "passwd", "token", "private"} {
		if strings.Contains(lower, word) && value != "" {
			return "(redacted)"
		}
	}
	if strings.Contains(value, "://") && strings.Contains(value, "@") {
		return store.RedactZKURL(value) // user:password@ in a URL
	}
	return value
}
