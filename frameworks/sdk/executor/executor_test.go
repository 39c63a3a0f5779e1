package executor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseMesosDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"15mins": 15 * time.Minute, "2.5secs": 2500 * time.Millisecond,
		"10ms": 10 * time.Millisecond, "1days": 24 * time.Hour, "3weeks": 21 * 24 * time.Hour, "7ns": 7} {
		if got, err := ParseMesosDuration(in); err != nil || got != want {
			t.Errorf("ParseMesosDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "secs", "5", "5s", "1.2.3secs", "-1secs"} {
		if _, err := ParseMesosDuration(bad); err == nil {
			t.Errorf("ParseMesosDuration(%q) accepted", bad)
		}
	}
}

// An agent's token is sent on every call, and not left in the environment
// for the executor's tasks to inherit.
func TestFromEnvToken(t *testing.T) {
	auths := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auths <- r.Header.Get("Authorization")
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	t.Setenv("MESOS_AGENT_ENDPOINT", strings.TrimPrefix(srv.URL, "http://"))
	t.Setenv("MESOS_FRAMEWORK_ID", "fw-1")
	t.Setenv("MESOS_EXECUTOR_ID", "ex-1")
	for _, token := range []string{"", "the.token.value"} {
		t.Setenv(TokenEnv, token)
		e, err := FromEnv()
		if err != nil {
			t.Fatal(err)
		}
		if v, set := os.LookupEnv(TokenEnv); token != "" && set {
			t.Errorf("%s still in the environment: %q", TokenEnv, v)
		}
		if err := e.Message(context.Background(), []byte("hi")); err != nil {
			t.Fatal(err)
		}
		want := ""
		if token != "" {
			want = "Bearer " + token
		}
		if got := <-auths; got != want {
			t.Errorf("token %q: Authorization %q, want %q", token, got, want)
		}
	}
}
