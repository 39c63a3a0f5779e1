// Package leader runs something under ZooKeeper leader election one term
// at a time, with standbys that point clients at the leader. Masters
// (master/ha) and the bundled frameworks (corral service, pets, batch
// under --zk) both run this way: several instances start, one leads.
//
// The caller's loop is:
//
//	r := leader.New(leader.Config{Session: s, Path: p, Addr: addr, Start: start})
//	serve r.Handler() on addr
//	r.Run(ctx) // contends until ctx ends
//
// Each time the instance is elected, Start builds a fresh Term (an HTTP
// handler and a Run loop) from shared state, and its Run lasts until
// leadership is lost (the session expired, the znode went, Abdicate), so
// no two terms of one instance ever overlap and every term starts from
// what the previous leader left in the store.
//
// While it leads, the handler serves the term's handler, except while the
// term's election.Lease has run out: a leader that resumes after a pause
// answers nothing as leader (503) once a successor may have been elected.
// While it stands by, it answers /health itself ("leader":false) and
// whatever Config.Local names, redirects everything else to the leader
// (307, see Redirect) and answers 503 while no leader is known.
package leader
