package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"

	"github.com/corral-sched/corral/internal/httpserve"
)

// component is a server process part: a master or an agent.
type component interface {
	Handler() http.Handler
	Run(ctx context.Context) error
}

// server serves one component's HTTP endpoints.
type server struct{ *httpserve.Server }

// listen opens addr; port 0 picks a free port.
func listen(addr string) (net.Listener, error) { return httpserve.Listen(addr) }

// serveHTTP serves h on ln until shutdown (see httpserve.Serve).
func serveHTTP(ln net.Listener, h http.Handler, log *slog.Logger) *server {
	return &server{httpserve.Serve(ln, h, log)}
}

// shutdown stops the server, closing long-lived streams after a grace.
func (s *server) shutdown() { s.Shutdown() }

// advertised is the address others reach a listener at: the configured
// one, or the listener's own when none is set.
func advertised(configured string, ln net.Listener) string {
	if configured != "" {
		return configured
	}
	return ln.Addr().String()
}
