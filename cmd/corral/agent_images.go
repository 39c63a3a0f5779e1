package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/corral-sched/corral/agent"
)

// addImageFlags adds the agent's image flags, Mesos' names in corral's
// spelling (docs/images.md).
func addImageFlags(f *pflag.FlagSet) {
	f.String("image-providers", "", "image providers: docker lets tasks run from Docker/OCI images (ContainerInfo.mesos.image, or type DOCKER); needs filesystem/linux")
	f.String("docker-registry", "", "default registry for image names without one: a URL (https://host[:port], http:// for plain HTTP), a host[:port], or an absolute directory of image archives (<repository>:<tag>.tar, `docker save` or OCI) read instead of any registry; default Docker Hub")
	f.String("docker-store-dir", "", "directory of the image layer store shared by all containers (default: <work-dir>/store/docker)")
	f.String("docker-config", "", "Docker config.json with registry credentials (\"auths\"): a path, or the JSON itself")
	f.String("docker-insecure-registries", "", "comma-separated host[:port]s of registries spoken to over plain HTTP (loopback and private addresses are already)")
	f.Duration("docker-pull-timeout", 10*time.Minute, "longest one image pull may take before its tasks fail (0: no limit)")
	f.String("image-provisioner-backend", "overlay", "how container roots are made from layers: overlay (copy-on-write, falls back to copy where overlayfs cannot be mounted) or copy")
	f.Int64("image-gc-budget", 0, "bytes the image store's layers may take before unused images are removed, least recently used first (0: no budget)")
	f.Duration("image-gc-keep-recent", 10*time.Minute, "images used this recently are kept even over the budget")
	f.Duration("image-gc-max-unused", 7*24*time.Hour, "images unused this long are removed even under the budget (0: never by age alone)")
	f.Duration("image-gc-interval", time.Minute, "how often the image store is collected")
	f.String("image-gc-excluded-images", "", "comma-separated image names never collected (as tasks name them)")
}

// imageConfig reads the image flags into cfg.
func imageConfig(s *settings, cfg *agent.Config) error {
	durations := map[string]*time.Duration{"docker-pull-timeout": &cfg.DockerPullTimeout,
		"image-gc-keep-recent": &cfg.ImageGC.KeepRecent, "image-gc-max-unused": &cfg.ImageGC.MaxUnused,
		"image-gc-interval": &cfg.ImageGC.Interval}
	for name, d := range durations {
		v, err := s.Duration(name)
		if err != nil {
			return err
		}
		if v < 0 {
			return fmt.Errorf("--%s %v: must not be negative", name, v)
		}
		*d = v
	}
	budget := s.v.GetInt64("image-gc-budget")
	if budget < 0 {
		return fmt.Errorf("--image-gc-budget %d: must not be negative", budget)
	}
	cfg.ImageProviders = splitList(s.String("image-providers"))
	cfg.DockerRegistry = s.String("docker-registry")
	cfg.DockerStoreDir = s.String("docker-store-dir")
	cfg.DockerConfig = s.String("docker-config")
	cfg.DockerInsecureRegistries = splitList(s.String("docker-insecure-registries"))
	cfg.ImageProvisionerBackend = s.String("image-provisioner-backend")
	cfg.ImageGC.Budget = budget
	cfg.ImageGC.Excluded = splitList(s.String("image-gc-excluded-images"))
	return nil
}
