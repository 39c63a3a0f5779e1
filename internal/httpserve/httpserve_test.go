package httpserve

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
)

// One listener answers HTTP/1.1 and HTTP/2 without TLS, and is closed by
// Shutdown.
func TestServeSpeaksBothProtocolsUntilShutdown(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}), slog.New(slog.DiscardHandler))
	url := "http://" + ln.Addr().String() + "/"
	var unencryptedHTTP2 http.Protocols
	unencryptedHTTP2.SetUnencryptedHTTP2(true)
	h2c := &http.Client{Transport: &http.Transport{Protocols: &unencryptedHTTP2}}
	for client, want := range map[*http.Client]string{http.DefaultClient: "HTTP/1.1", h2c: "HTTP/2.0"} {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != want {
			t.Errorf("served over %q, want %q", body, want)
		}
	}
	s.Shutdown()
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("the listener still accepts after Shutdown")
	}
}

func TestListenNamesTheAddress(t *testing.T) {
	if _, err := Listen("127.0.0.1:notaport"); err == nil || !strings.Contains(err.Error(), "127.0.0.1:notaport") {
		t.Fatalf("err = %v, want one naming the address", err)
	}
}
