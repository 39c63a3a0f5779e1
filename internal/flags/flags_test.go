package flags

import "testing"

func TestRedact(t *testing.T) {
	for _, c := range []struct{ name, value, want string }{
		{"secret", "s3cr3t", "(redacted)"},
		{"zk-password", "pw", "(redacted)"},
		{"tls-private-key", "/etc/key.pem", "(redacted)"},
		{"secret", "", ""},
		{"zk", "zk://user:pw@h1:2181/corral", "zk://user:xxxxx@h1:2181/corral"},
		{"listen", "127.0.0.1:5050", "127.0.0.1:5050"},
		{"isolation", "linux", "linux"},
	} {
		if got := Redact(c.name, c.value); got != c.want {
			t.Errorf("Redact(%q, %q) = %q, want %q", c.name, c.value, got, c.want)
		}
	}
}
