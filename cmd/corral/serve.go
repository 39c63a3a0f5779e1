package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// component is a server process part: a master or an agent.
type component interface {
	Handler() http.Handler
	Run(ctx context.Context) error
}

// server serves one component's HTTP endpoints.
type server struct {
	srv  *http.Server
	done chan error
}

// maxStreamsPerConn bounds the requests, event streams included, one
// HTTP/2 connection carries at once. Its writer visits every stream of a
// connection for each frame it sends, so a few hundred streams per
// connection cost less than thousands.
const maxStreamsPerConn = 100

// listen opens addr; port 0 picks a free port.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return ln, nil
}

// serveHTTP serves h on ln until shutdown. There is no write timeout: event
// streams stay open for as long as their subscriber.
//
// Besides HTTP/1.1 it speaks HTTP/2 without TLS (h2c, prior knowledge), so
// that many clients in one process can share a few connections: simulated
// agents do (as Mesos' emulated agents shared libprocess sockets), since
// one connection each would take more file descriptors than a process may
// hold. An HTTP/2 connection may carry many long-lived event streams.
func serveHTTP(ln net.Listener, h http.Handler, log *slog.Logger) *server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	protocols.SetUnencryptedHTTP2(true)
	s := &server{
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
			Protocols: &protocols, HTTP2: &http.HTTP2Config{MaxConcurrentStreams: maxStreamsPerConn}},
		done: make(chan error, 1),
	}
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		if err != nil {
			log.Error("HTTP server failed", "addr", ln.Addr().String(), "err", err)
		}
		s.done <- err
	}()
	return s
}

// shutdown stops the server, closing long-lived streams after a grace.
func (s *server) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
	<-s.done
}

// advertised is the address others reach a listener at: the configured
// one, or the listener's own when none is set.
func advertised(configured string, ln net.Listener) string {
	if configured != "" {
		return configured
	}
	return ln.Addr().String()
}
