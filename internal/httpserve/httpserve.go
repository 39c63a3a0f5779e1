// Package httpserve serves a component's HTTP endpoints the way every
// corral server does (the master, the agent, the frameworks, and the
// in-process master of the benchmarks): HTTP/1.1 and HTTP/2 without TLS on
// one listener, no write timeout, and a short grace at shutdown.
package httpserve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// MaxStreamsPerConn bounds the requests, event streams included, one
// HTTP/2 connection carries at once. Its writer visits every stream of a
// connection for each frame it sends, so a few hundred streams per
// connection cost less than thousands.
const MaxStreamsPerConn = 100

// Server serves one handler until Shutdown.
type Server struct {
	srv  *http.Server
	done chan error
}

// Listen opens addr; port 0 picks a free port.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return ln, nil
}

// Serve serves h on ln until Shutdown. There is no write timeout: event
// streams stay open for as long as their subscriber.
//
// Besides HTTP/1.1 it speaks HTTP/2 without TLS (h2c, prior knowledge), so
// that many clients in one process can share a few connections: simulated
// agents do (as Mesos' emulated agents shared libprocess sockets), since
// one connection each would take more file descriptors than a process may
// hold. An HTTP/2 connection may carry many long-lived event streams.
func Serve(ln net.Listener, h http.Handler, log *slog.Logger) *Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	protocols.SetUnencryptedHTTP2(true)
	s := &Server{
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
			Protocols: &protocols, HTTP2: &http.HTTP2Config{MaxConcurrentStreams: MaxStreamsPerConn}},
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

// Shutdown stops the server, closing long-lived streams after a grace.
func (s *Server) Shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
	<-s.done
}
