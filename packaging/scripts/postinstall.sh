#!/bin/sh
# corral is installed, not started: edit /etc/corral/*.yaml first, then
#   systemctl enable --now corral-master corral-agent
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
fi
