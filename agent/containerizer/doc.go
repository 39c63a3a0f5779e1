// Package containerizer makes the agent's containers. A Containerizer
// runs the isolators the agent's --isolation names (package isolators)
// over each container and hands what they prepared to a launcher: Linux
// (runc's libcontainer: a root, namespaces and cgroups of its own), Posix
// (a process group on the host) or Sim (nothing forked, for simulated
// agents). The agent asks it for capabilities (MountsVolumes,
// OwnNetwork) rather than checking isolation names.
//
// A container's process runs under a small exit-status wrapper
// (recover.go) so that its status outlives the agent; after an agent
// restart, Recover re-attaches to the containers still running (found by
// their IDs even where a checkpoint missed their processes) and kills
// those no checkpoint names.
//
// With an image provisioner (Config.Images), a container whose
// ContainerInfo names an image gets its root from it through
// filesystem/linux, and docker/runtime applies the image's config
// (images.go). Its exit-status wrapper then runs with the agent's shell
// bundle (isolators/filesystem), so that the image needs no shell.
package containerizer
