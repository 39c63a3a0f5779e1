// Package images is corral's image provisioner: it gives a container a
// root filesystem made from an OCI/Docker image, as Mesos' unified
// containerizer does for ContainerInfo.mesos.image.
//
// A Provisioner composes four parts, each a package of its own:
//
//   - images/pull finds an image by name, in a registry (Docker Registry
//     HTTP API v2 / OCI distribution through go-containerregistry: token
//     and basic auth from a Docker config.json, manifest lists resolved to
//     linux/amd64, digests verified) or in a directory of `docker save` /
//     OCI archives named <repository>:<tag>.tar (Mesos' local registry);
//   - images/store keeps layers unpacked once each, content-addressed by
//     DiffID, with images, names and per-container references on disk, so
//     a restarted agent finds them, and collects garbage by a GCPolicy;
//   - images/unpack writes a layer tarball as the hostile input it is
//     (nothing created or resolved outside the layer, no link followed,
//     devices skipped) and turns whiteouts into overlayfs's;
//   - images/rootfs stacks layers into a container's root: an overlay
//     mount (upper and work directories per container), or a copy where
//     overlayfs does not work on the store's filesystem.
//
// images/runtime holds Mesos' rules for combining the image's config
// (Entrypoint, Cmd, Env, WorkingDir, User) with the task's CommandInfo.
//
// The loop an isolator runs:
//
//	p, err := images.New(images.Options{StoreDir: ..., Registry: ..., PullTimeout: ...})
//	p.Recover(aliveContainerIDs)                // once, after an agent restart
//	root, cfg, err := p.Provision(ctx, containerID, "127.0.0.1:5000/web:1",
//	        images.ProvisionOptions{Progress: report})   // Prepare: Launch.Rootfs = root
//	launch, err := runtime.Apply(cfg.Runtime, task.GetCommand())
//	...
//	p.Destroy(containerID)                      // Cleanup
//	p.GC(policy)                                // now and then
//
// Provision pulls an image once however many containers ask for it at
// the same time (one pull per name, one unpack per layer), reports
// progress as "pulling NAME" while the name is looked up, then "pulling
// NAME (3 of 5 layers, 18/40 MB)", and answers a
// name it has resolved before from the store unless Fresh is set
// (Image.cached: false). A failed pull is a *pull.Error naming the image
// and a pull.Kind: bad name, not found, unauthorized, timeout, digest
// mismatch, invalid, unavailable.
//
// Store layout under StoreDir (mode 0700):
//
//	layers/<overlay|plain>/<diffid hex>/root   one unpacked layer
//	images/<id hex>.json, refs.json             images and the names that found them
//	containers/<container id>.json              which image a container uses
//	rootfs/<backend>/<container id>/            upper, work, merged (overlay) or rootfs (copy)
//	staging/                                    unpacks in progress, emptied on start
//
// Metrics (on Options.Registerer): corral_agent_image_pulls_total{result},
// corral_agent_image_pull_bytes_total, corral_agent_image_cache_hits_total{kind},
// corral_agent_image_store_bytes, corral_agent_image_store_layers,
// corral_agent_image_gc_removed_layers_total.
package images
