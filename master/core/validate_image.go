package core

import (
	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/proto/mesospb"
)

// validateImage checks the image a ContainerInfo names (issue 19) with
// the rules the agents apply (isolators.ImageOf): a MESOS container's
// mesos.image of type DOCKER, or a DOCKER container (Mesos' Docker
// containerizer), run by corral's own runtime from docker.image on the
// host's network; APPC images, privileged containers, `docker run`
// parameters, bridge networks and port mappings are refused, naming the
// field. The image's name is the agent's to resolve: a name that does not
// parse or exist fails the task there (TASK_FAILED), as in Mesos.
func validateImage(what string, c *mesospb.ContainerInfo) string {
	if !isolators.DockerContainer(c) && c.GetDocker() != nil {
		return what + " sets ContainerInfo.docker, which only applies to type DOCKER (type MESOS names its image in mesos.image)"
	}
	if _, err := isolators.ImageOf(c); err != nil {
		return what + "'s ContainerInfo: " + err.Error()
	}
	return ""
}
