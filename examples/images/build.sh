#!/bin/sh
# Builds the busybox example image as an OCI layout with umoci, from
# Debian's busybox-static, and pushes it to the registry at $REGISTRY
# (default 127.0.0.1:5000) with skopeo. Needs: apt-get install umoci
# skopeo busybox-static.
set -eu
REGISTRY=${REGISTRY:-127.0.0.1:5000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
umoci init --layout busybox-oci
umoci new --image busybox-oci:1
umoci unpack --rootless --image busybox-oci:1 bundle
mkdir -p bundle/rootfs/bin bundle/rootfs/www bundle/rootfs/tmp bundle/rootfs/etc
cp /usr/bin/busybox bundle/rootfs/bin/
for applet in sh cat echo ls wc sleep httpd id env; do
	ln -s busybox "bundle/rootfs/bin/$applet"
done
echo '<h1>hello from an image</h1>' > bundle/rootfs/www/index.html
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' > bundle/rootfs/etc/passwd
printf 'root:x:0:\nnogroup:x:65534:\n' > bundle/rootfs/etc/group
umoci repack --image busybox-oci:1 bundle
umoci config --image busybox-oci:1 --config.env PATH=/bin --config.workingdir /www \
	--config.entrypoint /bin/httpd --config.cmd=-f --config.cmd=-p --config.cmd=8080 --config.cmd=-h --config.cmd=/www
skopeo copy --dest-tls-verify=false oci:busybox-oci:1 "docker://$REGISTRY/busybox:1"
echo "pushed $REGISTRY/busybox:1"
