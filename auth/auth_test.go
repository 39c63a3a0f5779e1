package auth

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseCredentialsRejectsBadFiles(t *testing.T) {
	for body, want := range map[string]string{
		`not json`:                            "not Mesos'",
		`{"credentials":[]}`:                  "lists no credentials",
		`{"credentials":[{"secret":"x"}]}`:    "has no principal",
		`{"credentials":[{"principal":"a"}]}`: `principal "a" has no secret`,
		`{"credentials":[{"principal":"a","secret":"x"},{"principal":"a","secret":"y"}]}`: "appears twice",
	} {
		if _, err := ParseCredentials([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error containing %q", body, err, want)
		}
	}
	c, err := ParseCredentials([]byte(`{"credentials":[{"principal":"web","secret":"s3cret"}]}`))
	if err != nil || c["web"] != "s3cret" {
		t.Fatalf("%v %v", c, err)
	}
}

func TestRequireChallengesAndPassesThePrincipalOn(t *testing.T) {
	creds := Credentials{"web": "s3cret", "ops": "other"}
	srv := httptest.NewServer(Require(creds, "corral", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, Principal(r.Context()))
	})))
	defer srv.Close()
	get := func(principal, secret string) (int, string, string) {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		if principal != "" {
			req.SetBasicAuth(principal, secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header.Get("WWW-Authenticate")
	}
	if code, body, challenge := get("", ""); code != 401 || challenge != `Basic realm="corral"` || !strings.Contains(body, "Authentication required") {
		t.Fatalf("no credentials: %d %q %q", code, body, challenge)
	}
	for _, bad := range [][2]string{{"web", "wrong"}, {"nobody", "s3cret"}, {"web", "other"}} {
		if code, body, _ := get(bad[0], bad[1]); code != 401 || !strings.Contains(body, "Authentication failed") {
			t.Fatalf("%v: %d %q", bad, code, body)
		}
	}
	if code, body, _ := get("web", "s3cret"); code != 200 || body != "web" {
		t.Fatalf("valid credentials: %d %q", code, body)
	}
	// The client side presents them.
	client := &http.Client{Transport: &Transport{Principal: "ops", Secret: "other"}}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ops" {
		t.Fatalf("through the Transport: %q", b)
	}
}

func TestLoadSecretTrimsTheNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(path, []byte("s3cret\n"), 0o600)
	if s, err := LoadSecret(path); err != nil || s != "s3cret" {
		t.Fatalf("%q %v", s, err)
	}
	os.WriteFile(path, []byte("\n"), 0o600)
	if _, err := LoadSecret(path); err == nil {
		t.Fatal("an empty secret was accepted")
	}
}

func FuzzParseCredentials(f *testing.F) {
	f.Add([]byte(`{"credentials":[{"principal":"web","secret":"s3cret"}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCredentials(b)
		if err == nil {
			for p, s := range c {
				if p == "" || s == "" {
					t.Fatalf("accepted an empty principal or secret: %q %q", p, s)
				}
			}
		}
	})
}

func TestTLSFilesRefuseHalfConfigurations(t *testing.T) {
	dir := t.TempDir()
	if cfg, err := (TLSFiles{}).Server(); cfg != nil || err != nil {
		t.Fatalf("no files: %v %v, want plain HTTP", cfg, err)
	}
	if cfg, err := (TLSFiles{}).Client(); cfg != nil || err != nil {
		t.Fatalf("no CA: %v %v, want plain HTTP", cfg, err)
	}
	if _, err := (TLSFiles{Cert: "x.pem"}).Server(); err == nil || !strings.Contains(err.Error(), "both --tls-cert and --tls-key") {
		t.Fatalf("a certificate without its key: %v", err)
	}
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o600)
	if _, err := (TLSFiles{CA: junk}).Client(); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("a CA file without certificates: %v", err)
	}
	if Scheme(nil) != "http" {
		t.Fatal("scheme without TLS")
	}
}

func TestRequireExceptLeavesOnlyTheOpenPathsOpen(t *testing.T) {
	h := RequireExcept(Credentials{"ops": "s3cret"}, "corral", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "principal="+Principal(r.Context()))
	}), "/health")
	for path, want := range map[string]int{"/health": 200, "/health/": 401, "/state": 401, "//health": 401, "/x/../health/..": 401} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "http://h"+path, nil))
		if w.Code != want {
			t.Errorf("%s: %d, want %d", path, w.Code, want)
		}
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "http://h/state", nil)
	r.SetBasicAuth("ops", "s3cret")
	if h.ServeHTTP(w, r); w.Code != 200 || w.Body.String() != "principal=ops" {
		t.Fatalf("with credentials: %d %q", w.Code, w.Body)
	}
}
