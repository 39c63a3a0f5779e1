// Package dns serves the names of running tasks, in the role Mesos-DNS
// plays for Mesos (issue 20): `corral dns` follows the leading master's
// operator event stream (SUBSCRIBE: the state, then TASK_ADDED,
// TASK_UPDATED, FRAMEWORK_* and AGENT_* as they happen), keeps a model of
// frameworks, agents and tasks, and after each burst of events rebuilds an
// immutable table of records that the DNS handler reads without locks.
//
// Names under the domain (default "corral"), as Mesos-DNS writes them:
//
//	<task>.<framework>.<domain>              A: the task's container IPs, else its agent's IP
//	<task>.<framework>.agent.<domain>        A: the agent's IP
//	_<task>._<tcp|udp>.<framework>.<domain>  SRV: the task's ports (discovery info ports, else host ports)
//	_<port-name>._<task>._<tcp|udp>.<framework>.<domain>  SRV: a named discovery port
//	<pet>.<set>.<framework>.<domain>         A: a pet's stable name (pets framework), e.g. db-0.db.pets.corral
//	leader.<domain>, _leader._tcp.<domain>   the leading master
//
// Labels are sanitized as Mesos-DNS does (RFC 1123: lower case, letters,
// digits and '-', at most 63 characters; a task name's dots become '-').
// Only tasks in TASK_RUNNING have names. Unknown names under the domain
// are NXDOMAIN; other names are forwarded to the configured resolvers, or
// REFUSED when there are none: never an open resolver by default.
package dns
