package pull

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

func TestNewChecksRegistry(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	for _, bad := range []string{"ftp://x", "host:5000/path", file, filepath.Join(dir, "missing")} {
		if _, err := New(Options{Registry: bad}); err == nil {
			t.Errorf("registry %q accepted", bad)
		}
	}
	for reg, key := range map[string]string{
		"":                      "index.docker.io/library/web:1",
		"https://reg.example:5": "reg.example:5/web:1",
		"reg.example":           "reg.example/web:1",
	} {
		p, err := New(Options{Registry: reg})
		if err != nil {
			t.Fatalf("%q: %v", reg, err)
		}
		if got, err := p.Key("web:1"); err != nil || got != key {
			t.Errorf("registry %q: key %q, %v, want %q", reg, got, err, key)
		}
	}
	p, _ := New(Options{Registry: "http://reg.example:5"})
	ref, err := p.parse("web:1")
	if err != nil || ref.Context().Scheme() != "http" {
		t.Errorf("an http:// default registry is plain HTTP: %v %v", ref, err)
	}
	p, _ = New(Options{InsecureRegistries: []string{"other.example:5"}})
	if ref, _ := p.parse("other.example:5/web:1"); ref.Context().Scheme() != "http" {
		t.Error("an insecure registry is plain HTTP")
	}
	if ref, _ := p.parse("third.example:5/web:1"); ref.Context().Scheme() != "https" {
		t.Error("a registry not listed as insecure is HTTPS")
	}
}

func TestArchiveNames(t *testing.T) {
	dir := t.TempDir()
	p, err := New(Options{Registry: dir})
	if err != nil {
		t.Fatal(err)
	}
	for image, want := range map[string]string{
		"busybox":                  "busybox:latest.tar",
		"busybox:1.36":             "busybox:1.36.tar",
		"team/tools:2":             "team/tools:2.tar",
		"reg.example:5000/web:1":   "reg.example:5000/web:1.tar",
		"web@sha256:" + hex64("a"): "web@sha256:" + hex64("a") + ".tar",
	} {
		got, err := p.archiveName(image)
		if err != nil || got != filepath.Join(dir, want) {
			t.Errorf("%s: %s, %v, want %s", image, got, err, want)
		}
	}
	for _, bad := range []string{"", "../x:1", "UP:1", "a/../../b:1"} {
		if _, err := p.archiveName(bad); KindOf(err) != BadName {
			t.Errorf("%q: %v, want a bad name", bad, err)
		}
	}
}

func hex64(c string) string { return strings.Repeat(c, 64) }

func TestDockerConfig(t *testing.T) {
	cfg := `{"auths":{
		"https://index.docker.io/v1/":{"auth":"aHViOnB3"},
		"reg.example:5000":{"username":"u","password":"p"},
		"http://other.example/":{"identitytoken":"tok"}}}`
	kc, err := parseDockerConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]authn.AuthConfig{
		"busybox:1":                 {Username: "hub", Password: "pw"},
		"reg.example:5000/web:1":    {Username: "u", Password: "p"},
		"other.example/web:1":       {IdentityToken: "tok"},
		"unknown.example:1/web:1":   {},
		"reg.example:5001/web:1":    {},
		"docker.io/library/redis:7": {Username: "hub", Password: "pw"},
	} {
		r, err := name.ParseReference(ref)
		if err != nil {
			t.Fatal(err)
		}
		a, err := kc.Resolve(r.Context())
		if err != nil {
			t.Fatal(err)
		}
		got, err := a.Authorization()
		if err != nil {
			t.Fatal(err)
		}
		if *got != want {
			t.Errorf("%s: %+v, want %+v", ref, *got, want)
		}
	}
	file := filepath.Join(t.TempDir(), "config.json")
	os.WriteFile(file, []byte(cfg), 0o600)
	if kc, err := parseDockerConfig(file); err != nil || len(kc) != 3 {
		t.Errorf("from a file: %v %v", kc, err)
	}
	for _, bad := range []string{`{"auths":{"x":{"auth":"!!"}}}`, `{"auths":{"x":{"auth":"bm9jb2xvbg=="}}}`, `{nope`, "/no/such/file"} {
		if _, err := parseDockerConfig(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
