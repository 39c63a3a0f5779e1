package agent

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// With AuthenticateHTTPExecutors every executor the agent launches finds
// a token in MESOS_EXECUTOR_AUTHENTICATION_TOKEN and must send it as
// "Authorization: Bearer <token>" on every executor call, as with Mesos'
// --authenticate_http_executors. The token is a JWT (HS256), as Mesos'
// is, whose claims are the executor's identity: fid, eid and cid (framework,
// executor and container IDs). It is signed with a key of the agent's
// kept in its meta dir, so an executor that outlives an agent restart
// subscribes again with the token it was started with, and nothing about
// tokens needs checkpointing. A token names one run of one executor:
// a relaunched executor (same ID, new container) gets a new one.

// executorTokenEnv is Mesos' name for the variable.
const executorTokenEnv = "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"

const executorKeyBytes = 32

// jwtHeader is the only header the agent issues, and so the only one it
// accepts: no "alg" negotiation for a caller to steer.
var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

type executorClaims struct {
	Framework string `json:"fid"`
	Executor  string `json:"eid"`
	Container string `json:"cid"`
}

// loadExecutorKey reads the agent's executor-token key from metaDir,
// making one on first use.
func loadExecutorKey(metaDir string) ([]byte, error) {
	path := filepath.Join(metaDir, "executor_auth_key")
	key, err := os.ReadFile(path)
	switch {
	case err == nil && len(key) == executorKeyBytes:
		return key, nil
	case err == nil:
		// A different key would lock out every executor still running;
		// better to say so than to replace it silently.
		return nil, fmt.Errorf("executor token key %s holds %d bytes, want %d (remove it to make a new one; running executors then cannot subscribe again)",
			path, len(key), executorKeyBytes)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("reading the executor token key: %w", err)
	}
	key = make([]byte, executorKeyBytes)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("making the executor token key: %w", err)
	}
	if err := writeSecretFile(path, key); err != nil {
		return nil, fmt.Errorf("writing the executor token key: %w", err)
	}
	return key, nil
}

// writeSecretFile writes b to path atomically, readable by the agent's
// user only: tasks running as other users must not sign tokens.
func writeSecretFile(path string, b []byte) error { return writeFileMode(path, b, 0o600) }

// signExecutorToken makes the token of one run of an executor.
func signExecutorToken(key []byte, c executorClaims) string {
	payload, _ := json.Marshal(c) // strings only: cannot fail
	signed := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(payload)
	return signed + "." + base64.RawURLEncoding.EncodeToString(jwtSignature(key, signed))
}

func jwtSignature(key []byte, signed string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signed))
	return mac.Sum(nil)
}

// errBadToken is any token the agent did not sign; which part is wrong is
// not told to the caller.
var errBadToken = errors.New("the executor token is not valid on this agent")

// verifyExecutorToken returns the claims of a token the agent signed.
func verifyExecutorToken(key []byte, token string) (executorClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] != jwtHeader {
		return executorClaims{}, errBadToken
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return executorClaims{}, errBadToken
	}
	// hmac.Equal takes the same time wherever the signatures differ, so a
	// caller cannot find a valid signature byte by byte.
	if !hmac.Equal(sig, jwtSignature(key, parts[0]+"."+parts[1])) {
		return executorClaims{}, errBadToken
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return executorClaims{}, errBadToken
	}
	var c executorClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Framework == "" || c.Executor == "" || c.Container == "" {
		return executorClaims{}, errBadToken
	}
	return c, nil
}

// executorToken is the token for e's current run; "" when executors are
// not authenticated.
func (a *Agent) executorToken(e *executorRun) string {
	if !a.cfg.AuthenticateHTTPExecutors {
		return ""
	}
	return signExecutorToken(a.cfg.executorKey, executorClaims{e.key.framework, e.key.executor, e.containerID})
}

// authenticateExecutor reads the bearer token of an executor call. On
// failure it has answered 401.
func (a *Agent) authenticateExecutor(w http.ResponseWriter, r *http.Request) (executorClaims, bool) {
	refuse := func(msg string) (executorClaims, bool) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="corral-executor"`)
		http.Error(w, msg, http.StatusUnauthorized)
		return executorClaims{}, false
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return refuse("Executor authentication required: send 'Authorization: Bearer <token>' with the token from " + executorTokenEnv)
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return refuse("Expecting 'Authorization: Bearer <token>' with the token from " + executorTokenEnv)
	}
	c, err := verifyExecutorToken(a.cfg.executorKey, strings.TrimSpace(token))
	if err != nil {
		return refuse(fmt.Sprintf("%v: send the token from %s", err, executorTokenEnv))
	}
	return c, true
}

// refusal says why c does not allow a call naming k (403); "" if they
// do. The container is checked on the loop, where the current run is known.
func (c executorClaims) refusal(k execKey) string {
	if hmac.Equal([]byte(c.Framework), []byte(k.framework)) && hmac.Equal([]byte(c.Executor), []byte(k.executor)) {
		return ""
	}
	return fmt.Sprintf("The token is for executor %q of framework %q, not executor %q of framework %q", c.Executor, c.Framework, k.executor, k.framework)
}

// containerRefusal says why a token for container cid may not act for e's
// current run; "" if it may or executors are not authenticated (cid "").
func containerRefusal(e *executorRun, cid string) string {
	if cid == "" || hmac.Equal([]byte(cid), []byte(e.containerID)) {
		return ""
	}
	return fmt.Sprintf("The token is for an earlier run (container %s) of executor %q", cid, e.key.executor)
}
