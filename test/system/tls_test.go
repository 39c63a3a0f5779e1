package system

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// testCA writes a CA and a certificate it signs for 127.0.0.1 into dir,
// returning the paths of the CA, the certificate and its key.
func testCA(t *testing.T, dir, name string) (ca, cert, key string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(leafKey)
	write := func(file, kind string, der []byte) string {
		path := filepath.Join(dir, file)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	return write(name+"-ca.pem", "CERTIFICATE", caDER), write(name+".pem", "CERTIFICATE", leafDER), write(name+"-key.pem", "EC PRIVATE KEY", keyDER)
}

// A master serving TLS: agents and frameworks that trust its CA work over
// https; plaintext gets a clean 400; a client with another CA is refused.
func TestMasterOverTLS(t *testing.T) {
	root := t.TempDir()
	ca, cert, key := testCA(t, root, "corral")
	otherCA, _, _ := testCA(t, root, "other")
	t.Cleanup(func() { killSandboxTasks(root) })
	addr := freeAddr(t)
	startProc(t, "master", "master", "--listen", addr, "--work-dir", filepath.Join(root, "master"),
		"--allocation-interval", "100ms", "--tls-cert", cert, "--tls-key", key)
	startProc(t, "agent", "agent", "--listen", freeAddr(t), "--master", addr, "--work-dir", filepath.Join(root, "agent"),
		"--hostname", "agent-0", "--isolation", "posix", "--resources", "cpus:1;mem:256", "--tls-ca", ca)

	cli := func(args ...string) (string, error) {
		out, err := exec.Command(corralBin, append(args, "--master", addr)...).CombinedOutput()
		return string(out), err
	}
	waitFor(t, 30*time.Second, "the agent to register over https", func() bool {
		out, err := cli("agents", "--tls-ca", ca)
		return err == nil && strings.Contains(out, "agent-0")
	})
	if out, err := cli("agents", "--tls-ca", otherCA); err == nil || !strings.Contains(out, "certificate") {
		t.Fatalf("a client trusting another CA: %v\n%s", err, out)
	}
	resp, err := http.Get("http://" + addr + "/health")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTPS") {
		t.Fatalf("plaintext to the TLS master: %d %q", resp.StatusCode, body)
	}

	tlsCfg, err := auth.TLSFiles{CA: ca}.Client()
	if err != nil {
		t.Fatal(err)
	}
	offers := make(chan *mesospb.Offer, 10)
	s, err := sdk.New(sdk.Config{Master: addr, TLS: tlsCfg, Logger: testLogger(),
		Framework: &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("tls")}},
		sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error {
			for _, o := range ev.GetOffers().GetOffers() {
				select {
				case offers <- o:
				default:
				}
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(testkit.RunInBackground(s.Run))
	select {
	case o := <-offers:
		if o.GetHostname() != "agent-0" {
			t.Fatalf("offer from %q", o.GetHostname())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a framework over https got no offer")
	}
}
