package agent

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/corral-sched/corral/proto/mesospb"
)

func TestExecutorTokens(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	claims := executorClaims{Framework: "fw-1", Executor: "ex-1", Container: "c-1"}
	token := signExecutorToken(key, claims)
	if strings.ContainsAny(token, "+/= ") {
		t.Fatalf("token %q is not base64url without padding", token)
	}
	if got, err := verifyExecutorToken(key, token); err != nil || got != claims {
		t.Fatalf("verify(sign(%v)) = %v, %v", claims, got, err)
	}
	parts := strings.Split(token, ".")
	enc := base64.RawURLEncoding.EncodeToString
	other := signExecutorToken(key, executorClaims{Framework: "fw-1", Executor: "ex-2", Container: "c-1"})
	for name, bad := range map[string]string{
		"empty":                 "",
		"two parts":             parts[0] + "." + parts[1],
		"four parts":            token + ".x",
		"another key":           signExecutorToken([]byte("another key, just as long as it.."), claims),
		"claims of another":     parts[0] + "." + strings.Split(other, ".")[1] + "." + parts[2],
		"signature of another":  parts[0] + "." + parts[1] + "." + strings.Split(other, ".")[2],
		"alg none":              enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".",
		"signature not base64":  parts[0] + "." + parts[1] + ".***",
		"truncated signature":   parts[0] + "." + parts[1] + "." + parts[2][:10],
		"signed claims missing": signExecutorToken(key, executorClaims{Framework: "fw-1", Executor: "ex-1"}),
	} {
		if got, err := verifyExecutorToken(key, bad); !errors.Is(err, errBadToken) {
			t.Errorf("%s: verify(%q) = %v, %v; want errBadToken", name, bad, got, err)
		}
	}
}

func TestExecutorClaimsRefusal(t *testing.T) {
	c := executorClaims{Framework: "fw-1", Executor: "ex-1", Container: "c-1"}
	if why := c.refusal(execKey{"fw-1", "ex-1"}); why != "" {
		t.Errorf("own executor refused: %s", why)
	}
	for _, k := range []execKey{{"fw-1", "ex-2"}, {"fw-2", "ex-1"}, {"fw-1", "ex-1x"}} {
		if why := c.refusal(k); !strings.Contains(why, `not executor "`+k.executor+`"`) {
			t.Errorf("refusal(%v) = %q", k, why)
		}
	}
	e := &executorRun{key: execKey{"fw-1", "ex-1"}, containerID: "c-2"}
	if why := containerRefusal(e, "c-1"); !strings.Contains(why, "earlier run") {
		t.Errorf("a token of container c-1 for run c-2: %q", why)
	}
	if why := containerRefusal(e, "c-2"); why != "" {
		t.Errorf("a token of the current run refused: %s", why)
	}
	if why := containerRefusal(e, ""); why != "" {
		t.Errorf("without authentication: refused: %s", why)
	}
}

// The key survives a restart (so do tokens), is the agent's user's alone,
// and a damaged one stops the agent rather than being replaced.
func TestExecutorKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "meta")
	key, err := loadExecutorKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != executorKeyBytes {
		t.Fatalf("key of %d bytes", len(key))
	}
	path := filepath.Join(dir, "executor_auth_key")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	again, err := loadExecutorKey(dir)
	if err != nil || string(again) != string(key) {
		t.Fatalf("second load: %x, %v; want the first key %x", again, err, key)
	}
	other, err := loadExecutorKey(filepath.Join(t.TempDir(), "meta"))
	if err != nil || string(other) == string(key) {
		t.Fatalf("another agent's key: %x, %v; want a different key", other, err)
	}
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadExecutorKey(dir); err == nil || !strings.Contains(err.Error(), "holds 5 bytes") {
		t.Fatalf("a 5-byte key file: %v", err)
	}
}

// Executors launched with authentication on find their token in their
// environment; without it, no token.
func TestExecutorSpecToken(t *testing.T) {
	for _, on := range []bool{false, true} {
		a, err := New(Config{Master: "127.0.0.1:1", Addr: "127.0.0.1:2", WorkDir: t.TempDir(), Resources: "cpus:1;mem:64;disk:64",
			AuthenticateHTTPExecutors: on})
		if err != nil {
			t.Fatal(err)
		}
		e := &executorRun{key: execKey{"fw-1", "ex-1"}, containerID: "c-1", info: &mesospb.ExecutorInfo{Command: &mesospb.CommandInfo{}}, framework: &mesospb.FrameworkInfo{}}
		var token string
		for _, kv := range a.executorSpec(e).Env {
			if v, ok := strings.CutPrefix(kv, executorTokenEnv+"="); ok {
				token = v
			}
		}
		if !on {
			if token != "" {
				t.Errorf("authentication off: the executor has a token %q", token)
			}
			continue
		}
		if c, err := verifyExecutorToken(a.cfg.executorKey, token); err != nil || c != (executorClaims{"fw-1", "ex-1", "c-1"}) {
			t.Errorf("authentication on: token %q verifies as %v, %v", token, c, err)
		}
	}
}
