// Package pets is corral's pets framework: stateful sets in the manner of
// Kubernetes StatefulSets, on Mesos-style offers. Pet k of set db is db-k
// forever: its task name and container hostname, its environment
// (CORRAL_PET_NAME, CORRAL_PET_ORDINAL, CORRAL_PETSET, and every peer's
// stable address in CORRAL_PETSET_PEERS), its host and ports, and its
// persistent volumes.
//
// On a pet's first placement the framework RESERVEs its resources for the
// set's role, labelled with the set, the ordinal and a placement ID, and
// CREATEs its volumes; from then on the pet is launched only on those
// reserved resources, found in offers by their labels. So a pet always
// comes back where its data is, and two instances of one pet can never
// run at once on the same reservation.
//
// Where a pet is first placed (and where a replaced one moves) follows
// the set's placement setting (placement.go): by default the pets of a
// set spread over hosts, each to the offered agent whose host holds the
// fewest of them, sharing one only after a bounded wait.
//
// The loop: a pure planner (plan.go) looks at each set's desired state
// and its pets, and says which pets to place, launch and stop, and why the
// others wait (OrderedReady or Parallel, rolling updates with a
// partition, OnDelete). Tick executes the stops; offers executes the
// placements and launches. State (sets, pets, releases, the framework ID)
// lives in a store.Store and is written before any operation is sent and
// before any status update is acknowledged, so a restarted framework
// adopts its tasks through reconciliation and resumes where it was.
//
// At most one: a pet whose task may still run (its agent unreachable,
// the task unknown to the master, a kill not confirmed) is not relaunched,
// nor moved by a replace; it waits, saying so in the API, until its task
// is known to have ended or its agent is marked gone by an operator
// (TASK_GONE_BY_OPERATOR: the pet then starts afresh elsewhere).
package pets
