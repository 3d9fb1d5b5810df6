#!/usr/bin/env bash
# ci-docker-up.sh makes sure a Docker engine answers on this machine:
# installs docker.io when the CLI or daemon is missing, starts dockerd when
# nothing answers, and waits for it. Safe to run again: it does nothing when
# the engine is already up. Needs root (CI machines run as root).
set -euo pipefail

log() { echo "ci-docker-up: $*" >&2; }

if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
	log "installing docker.io"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

if docker info >/dev/null 2>&1; then
	log "engine already running"
	exit 0
fi

if ! pgrep -x dockerd >/dev/null; then
	log "starting dockerd (log: /var/log/dockerd.log)"
	# setsid: the daemon must outlive this script and the CI step's process group.
	setsid dockerd >/var/log/dockerd.log 2>&1 </dev/null &
fi

for _ in $(seq 1 60); do
	if docker info >/dev/null 2>&1; then
		log "engine up"
		exit 0
	fi
	sleep 1
done
log "dockerd did not answer within 60s; last log lines:"
tail -n 20 /var/log/dockerd.log >&2 || true
exit 1
