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
func serveHTTP(ln net.Listener, h http.Handler, log *slog.Logger) *server {
	s := &server{
		srv:  &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute},
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
