#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	for unit in corral-batch corral-pets corral-service corral-agent corral-master; do
		systemctl stop "$unit.service" >/dev/null 2>&1 || true
		systemctl disable "$unit.service" >/dev/null 2>&1 || true
	done
fi
