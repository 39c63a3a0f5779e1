// Package cni attaches containers to CNI networks, the way Mesos'
// network/cni isolator does (issue 20), over the CNI project's libcni.
//
// An agent makes one Manager at start, with the directory of network
// configurations (--network-cni-config-dir: one network per name, .conf or
// .conflist), the plugin directories (--network-cni-plugins-dir) and a
// state directory of its own. Then, per container:
//
//	a, err := m.Attach(ctx, id, info.GetNetworkInfos(), hostname) // before the container starts
//	// join a.NetNS; bind a.ResolvConf and a.Hosts if set; report a.NetworkInfos()
//	err = m.Detach(ctx, id) // after it is gone
//
// Attach makes a network namespace for the container, bind-mounted under
// the state directory so that it outlives any one process (the tasks of a
// group join their group's namespace by path; there is no pause process),
// and runs each network's plugins with ADD. What it did is recorded on
// disk first, and libcni keeps each ADD's configuration and result in a
// cache under the state directory, so Detach runs DEL with the same
// arguments and cached result even after an agent restart, and even if
// the network's configuration file changed meanwhile. After a restart,
// Recover(alive) detaches every container not in alive. Attach is Begin
// (the record, the namespace, the name service files: what the container
// needs to be created) then Finish (the plugins), so that a caller can
// create the container between the two and hold its command until Finish
// returns.
//
// Isolator is the agent's network/cni isolator over a Manager: it attaches
// containers that name networks, gives a task group one namespace for all
// its tasks, and reports each container's addresses for its status
// updates. Package netinfo checks a task's network_infos before anything
// is made (the master does, without linking libcni); its errors name the
// field.
package cni
