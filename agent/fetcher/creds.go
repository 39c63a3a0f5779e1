package fetcher

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
)

// identity is who a fetch reads and writes as.
type identity struct {
	name     string
	uid, gid int
	groups   []int
	// switched: the agent is root and the user another uid, so the file
	// work runs on a thread with the user's filesystem credentials.
	switched bool
}

// lookupIdentity resolves the task's user. Like the posix launcher, an
// agent that is not root, or a user that is the agent's own uid, fetches
// as the agent (it cannot be anyone else). A root agent refuses a user it
// does not know rather than fetch for it as root.
func lookupIdentity(name string) (identity, error) {
	self := identity{name: name, uid: os.Geteuid(), gid: os.Getegid()}
	if name == "" || self.uid != 0 {
		return self, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return identity{}, fmt.Errorf("unknown user %q: %w", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return identity{}, fmt.Errorf("user %q has a non-numeric uid or gid", name)
	}
	if uid == self.uid {
		return self, nil
	}
	ids, err := u.GroupIds()
	if err != nil {
		return identity{}, fmt.Errorf("groups of user %q: %w", name, err)
	}
	groups := make([]int, 0, len(ids))
	for _, s := range ids {
		g, err := strconv.Atoi(s)
		if err != nil {
			return identity{}, fmt.Errorf("user %q has a non-numeric group %q", name, s)
		}
		groups = append(groups, g)
	}
	return identity{name: name, uid: uid, gid: gid, groups: groups, switched: true}, nil
}

// worker runs file work with a fetch's credentials. A nil worker (no
// switch needed) runs it on the caller's goroutine.
type worker struct {
	jobs chan func()
}

// do runs fn with the worker's credentials and returns its error.
func (w *worker) do(fn func() error) error {
	if w == nil {
		return fn()
	}
	done := make(chan error, 1)
	w.jobs <- func() { done <- fn() }
	return <-done
}

// stop ends the worker; its thread goes with it.
func (w *worker) stop() {
	if w != nil {
		close(w.jobs)
	}
}
