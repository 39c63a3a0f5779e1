// Package isolators holds what a container is made of, one concern each,
// as Mesos' containerizer composes it: the agent's --isolation list names
// isolators (cgroups/mem, namespaces/pid, filesystem/linux,
// volume/host_path, disk/du, ...), each implemented in a package under
// isolators/, and the containerizer (agent/containerizer) runs them over
// every container.
//
// The life of a container, as the containerizer drives it:
//
//  1. Prepare, in the canonical order of Known: each isolator adds its
//     part to the container's Launch (a root file system and mounts,
//     namespaces, cgroup limits, the process to run). Nothing exists yet.
//  2. The launcher makes and starts the container from the Launch:
//     libcontainer when the Launch asks for namespaces, cgroups or a root
//     of its own; a process group otherwise.
//  3. Isolate, for isolators that act on the started process.
//  4. While it runs: Watch reports limits hit (the containerizer kills
//     the container and reports the limitation), Usage measures, Update
//     applies new limits (an executor grows with its tasks).
//  5. When the process is gone: Exited decides limitations the exit
//     itself shows (the kernel's OOM killer) while the container's
//     cgroups still exist, then the launcher destroys the container and
//     Cleanup runs in reverse order.
//
// After an agent restart, Recover gives each isolator the containers
// still alive, so that it can re-attach to them and clean up what it made
// for any other.
//
// An isolator implements Isolator and whichever optional interfaces it
// needs (Isolater, Watcher, ExitChecker, Usager, Updater, Cleaner,
// Recoverer, Statuser, Grouper); the containerizer finds them by type
// assertion, as net/http finds http.Flusher.
package isolators
