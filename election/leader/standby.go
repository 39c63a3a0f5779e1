package leader

import (
	"fmt"
	"net"
	"net/http"
	"strconv"

	"github.com/corral-sched/corral/election"
)

// Redirect is how a standby sends a client to the leader.
type Redirect int

const (
	// ToURL answers 307 with the leader's full URL, query included, so
	// that REST clients and the CLI follow it (the frameworks).
	ToURL Redirect = iota
	// ToHostPath answers 307 with `Location: //host:port/path`, as Mesos'
	// standby masters do: schedulers and agents take the leader's address
	// from it and keep their own scheme.
	ToHostPath
)

// Handler serves the term's handler while leading and stands by
// otherwise.
func (r *Runner) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if h := r.current.Load(); h != nil {
			// A leader that has not heard from ZooKeeper for long enough
			// that a successor may be elected (paused, say) answers
			// nothing as leader until it has, or until it knows it lost.
			if !r.lease.Load().Valid() {
				w.Header().Set("Retry-After", "1")
				http.Error(w, fmt.Sprintf("This %s's leadership is unconfirmed (ZooKeeper has not answered it lately); retry shortly", r.cfg.Noun),
					http.StatusServiceUnavailable)
				return
			}
			(*h).ServeHTTP(w, req)
			return
		}
		r.standby(w, req)
	})
}

func (r *Runner) standby(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path == "/health" {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"healthy\":true,\"leader\":false,\"id\":%q}\n", r.cfg.ID)
		return
	}
	if h, ok := r.cfg.Local[req.URL.Path]; ok {
		h.ServeHTTP(w, req)
		return
	}
	leader, _, err := r.detector.Current()
	if err != nil || leader == nil || leader.GetId() == r.cfg.ID {
		// Our own znode leading while no term runs: the term is starting
		// or has just ended; either way we cannot serve it.
		w.Header().Set("Retry-After", "1")
		http.Error(w, fmt.Sprintf("No %s leads right now; retry shortly", r.cfg.Noun), http.StatusServiceUnavailable)
		return
	}
	addr := election.Address(leader)
	switch r.cfg.Redirect {
	case ToHostPath:
		w.Header().Set("Location", "//"+addr+req.URL.Path)
	default:
		// Instances of one framework share their settings, so the
		// leader speaks TLS if this standby does.
		u := *req.URL
		u.Scheme, u.Host = "http", addr
		if req.TLS != nil {
			u.Scheme = "https"
		}
		w.Header().Set("Location", u.String())
	}
	http.Error(w, fmt.Sprintf("This %s is a standby; the leader is %s", r.cfg.Noun, addr), http.StatusTemporaryRedirect)
}

func splitHostPort(addr string) (host string, port int, err error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err = strconv.Atoi(portText)
	return host, port, err
}
