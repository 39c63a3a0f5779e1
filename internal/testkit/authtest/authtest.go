// Package authtest checks that an HTTP API requires credentials: the same
// matrix for every REST API that authenticates with HTTP Basic.
package authtest

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// Call is one request of the matrix and the status it gets with valid
// credentials.
type Call struct {
	Method, Path, Body string
	OK                 int
}

// Do sends a request to base with Basic credentials when creds holds a
// principal and a secret, and returns the status and the body.
func Do(t testing.TB, base, method, path, body string, creds ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if len(creds) == 2 {
		req.SetBasicAuth(creds[0], creds[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Matrix makes each call, in order, without credentials, with a wrong
// secret and with an unknown principal (each must be 401), then with
// principal and secret (it must get its OK status); open paths must answer
// 200 without credentials.
func Matrix(t testing.TB, base, principal, secret string, calls []Call, open ...string) {
	t.Helper()
	for _, c := range calls {
		for _, creds := range [][]string{nil, {principal, "wrong"}, {"eve", secret}} {
			if status, body := Do(t, base, c.Method, c.Path, c.Body, creds...); status != http.StatusUnauthorized {
				t.Errorf("%s %s with %v: %d %q, want 401", c.Method, c.Path, creds, status, body)
			}
		}
		if status, body := Do(t, base, c.Method, c.Path, c.Body, principal, secret); status != c.OK {
			t.Errorf("%s %s with valid credentials: %d %q, want %d", c.Method, c.Path, status, body, c.OK)
		}
	}
	for _, path := range open {
		if status, body := Do(t, base, "GET", path, ""); status != http.StatusOK {
			t.Errorf("%s without credentials: %d %q", path, status, body)
		}
	}
}
