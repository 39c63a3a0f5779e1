// Package auth authenticates HTTP requests to corral's servers with HTTP
// Basic credentials from a file in Mesos' credentials format, and gives
// clients (agents, the SDK, the CLI) a transport that presents them.
//
// The file is JSON:
//
//	{"credentials": [{"principal": "web", "secret": "s3cret"}, ...]}
//
// A request without credentials, or with wrong ones, is answered 401 with
// a WWW-Authenticate challenge; the principal of an authenticated request
// is in its context (Principal) for authorization further down.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
)

// Credentials maps principals to secrets.
type Credentials map[string]string

type credentialsFile struct {
	Credentials []struct {
		Principal string `json:"principal"`
		Secret    string `json:"secret"`
	} `json:"credentials"`
}

// LoadCredentials reads a credentials file.
func LoadCredentials(path string) (Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: credentials: %w", err)
	}
	return ParseCredentials(b)
}

// ParseCredentials reads credentials in Mesos' JSON format.
func ParseCredentials(b []byte) (Credentials, error) {
	var f credentialsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("auth: credentials: not Mesos' {\"credentials\": [{\"principal\", \"secret\"}]} JSON: %w", err)
	}
	c := make(Credentials, len(f.Credentials))
	for i, e := range f.Credentials {
		switch {
		case e.Principal == "":
			return nil, fmt.Errorf("auth: credentials: entry %d has no principal", i)
		case e.Secret == "":
			return nil, fmt.Errorf("auth: credentials: principal %q has no secret", e.Principal)
		case c[e.Principal] != "":
			return nil, fmt.Errorf("auth: credentials: principal %q appears twice", e.Principal)
		}
		c[e.Principal] = e.Secret
	}
	if len(c) == 0 {
		return nil, fmt.Errorf("auth: credentials: the file lists no credentials")
	}
	return c, nil
}

// Authenticate returns the request's principal if it carries valid Basic
// credentials.
func (c Credentials) Authenticate(r *http.Request) (string, bool) {
	principal, secret, ok := r.BasicAuth()
	if !ok {
		return "", false
	}
	want, known := c[principal]
	// Compare digests in constant time, known principal or not, so that
	// timing tells nothing about principals or secrets.
	if !known {
		want = "\x00unknown principal"
	}
	a, b := sha256.Sum256([]byte(secret)), sha256.Sum256([]byte(want))
	if subtle.ConstantTimeCompare(a[:], b[:]) != 1 || !known {
		return "", false
	}
	return principal, true
}

type principalKey struct{}

// Principal is the authenticated principal of a request, "" if none.
func Principal(ctx context.Context) string {
	p, _ := ctx.Value(principalKey{}).(string)
	return p
}

// WithPrincipal returns ctx carrying principal.
func WithPrincipal(ctx context.Context, principal string) context.Context {
	return context.WithValue(ctx, principalKey{}, principal)
}

// CertificatePrincipal is the principal a verified TLS client certificate
// names (its subject's common name), "" when the connection presented
// none that the server's CA verified.
func CertificatePrincipal(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return ""
	}
	return r.TLS.VerifiedChains[0][0].Subject.CommonName
}

// Require lets through only requests with valid credentials, with their
// principal in the context; others get 401 and a challenge for realm.
// Valid credentials are HTTP Basic ones from c or, as the alternative, a
// client certificate verified by the listener's CA (mutual TLS), whose
// common name is the principal.
func Require(c Credentials, realm string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		principal, ok := c.Authenticate(r)
		if _, _, basic := r.BasicAuth(); !ok && !basic {
			principal = CertificatePrincipal(r)
			ok = principal != ""
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", realm))
			msg := "Authentication required: send HTTP Basic credentials"
			if _, _, sent := r.BasicAuth(); sent {
				msg = "Authentication failed: unknown principal or wrong secret"
			}
			http.Error(w, msg, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), principal)))
	})
}

// RequireExcept is Require for every request but those for the open
// paths (liveness probes a load balancer or supervisor calls without
// credentials). Paths match exactly, so any other spelling of an open
// path still needs credentials.
func RequireExcept(c Credentials, realm string, next http.Handler, open ...string) http.Handler {
	guarded := Require(c, realm, next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range open {
			if r.URL.Path == p {
				next.ServeHTTP(w, r)
				return
			}
		}
		guarded.ServeHTTP(w, r)
	})
}

// Transport adds Basic credentials to every request it sends.
type Transport struct {
	Base              http.RoundTripper // nil: http.DefaultTransport
	Principal, Secret string
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth(t.Principal, t.Secret)
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}

// LoadSecret reads a principal's secret from a file (trailing newline
// dropped), as clients take it from --secret-file.
func LoadSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("auth: secret: %w", err)
	}
	s := string(b)
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	if s == "" {
		return "", fmt.Errorf("auth: secret file %s is empty", path)
	}
	return s, nil
}
