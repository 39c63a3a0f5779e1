#!/bin/sh
# On purge the state goes too: registries, framework state, sandboxes.
set -e
if [ "$1" = "purge" ]; then
	rm -rf /var/lib/corral /var/lib/private/corral
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
fi
