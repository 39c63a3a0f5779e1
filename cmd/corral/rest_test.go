package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"io"
	stdlog "log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/frameworks/batch"
	"github.com/corral-sched/corral/frameworks/pets"
	"github.com/corral-sched/corral/frameworks/service"
	"github.com/corral-sched/corral/store"
)

// The app, petset and job commands reach a framework that serves TLS and
// authenticates its clients with --tls-ca, --principal and --secret-file,
// and say what is missing when they are not given.
func TestRESTCommandsAuthenticateAndVerifyTLS(t *testing.T) {
	for _, env := range []string{"CORRAL_PRINCIPAL", "CORRAL_SECRET_FILE", "CORRAL_SECRET", "CORRAL_SERVICE", "CORRAL_PETS", "CORRAL_BATCH"} {
		t.Setenv(env, "")
	}
	creds := auth.Credentials{"ops": "s3cret"}
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	open := func(name string) store.Store {
		st, err := store.OpenLocal(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	log := slog.New(slog.DiscardHandler)
	sf, err := service.New(context.Background(), service.Config{Master: "127.0.0.1:1", Store: open("service"), Logger: log, APICredentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	pf, err := pets.New(context.Background(), pets.Config{Master: "127.0.0.1:1", Store: open("pets"), Logger: log, APICredentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	bf, err := batch.New(context.Background(), batch.Config{Master: "127.0.0.1:1", Store: open("batch"), Logger: log, APICredentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		noun, flag string
		handler    http.Handler
	}{
		{"app", "--service", serviceComponent{f: sf, gatherer: prometheus.NewRegistry()}.Handler()},
		{"petset", "--pets", petsComponent{f: pf, gatherer: prometheus.NewRegistry()}.Handler()},
		{"job", "--batch", batchComponent{f: bf, gatherer: prometheus.NewRegistry()}.Handler()},
	} {
		t.Run(c.noun, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(c.handler)
			srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // the refused handshake is the point
			srv.StartTLS()
			defer srv.Close()
			ca := filepath.Join(t.TempDir(), "ca.pem")
			if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
				t.Fatal(err)
			}
			run := func(args ...string) (string, error) {
				cli := newRootCommand()
				var out bytes.Buffer
				cli.SetOut(&out)
				cli.SetErr(&out)
				cli.SetArgs(append([]string{c.noun, "ls", c.flag, srv.URL}, args...))
				err := cli.Execute()
				return out.String(), err
			}
			if _, err := run("--principal", "ops", "--secret-file", secretFile); err == nil || !strings.Contains(err.Error(), "certificate") {
				t.Errorf("without --tls-ca: %v, want a certificate error", err)
			}
			if _, err := run("--tls-ca", ca); err == nil || !strings.Contains(err.Error(), "--principal") {
				t.Errorf("without credentials: %v, want a hint at --principal", err)
			}
			if _, err := run("--tls-ca", ca, "--principal", "ops"); err == nil || !strings.Contains(err.Error(), "secret") {
				t.Errorf("without a secret: %v, want a hint at the secret", err)
			}
			if out, err := run("--tls-ca", ca, "--principal", "ops", "--secret-file", secretFile); err != nil {
				t.Errorf("with credentials and the CA: %v\n%s", err, out)
			}
		})
	}
}
