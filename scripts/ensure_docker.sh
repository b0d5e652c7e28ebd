#!/usr/bin/env bash
# Makes sure a Docker engine answers and the offline sandbox build can run:
# installs docker.io (and debootstrap, which `agentlab sandbox build --offline`
# uses) from Debian's packages when missing, starts dockerd in the background
# when no engine runs, and waits until it answers.
set -euo pipefail

engine_up() { docker info >/dev/null 2>&1; }
is_root() { [ "$(id -u)" -eq 0 ]; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v debootstrap >/dev/null 2>&1; then
  if is_root; then
    echo "Installing debootstrap (for the offline sandbox image)..."
    apt_install debootstrap
  else
    echo "warning: debootstrap is missing; the offline image build needs it (apt-get install debootstrap)" >&2
  fi
fi

if engine_up; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  if ! is_root; then
    echo "No Docker engine: install docker.io (sudo apt-get install -y docker.io) and start it." >&2
    exit 1
  fi
  echo "Installing docker.io from Debian's packages..."
  apt_install docker.io
fi

if engine_up; then
  exit 0  # the package's service started it
fi

if ! is_root; then
  echo "The Docker engine is not running: start it (sudo dockerd &, or systemctl start docker)." >&2
  exit 1
fi

# A dockerd killed earlier leaves its pid file behind, and a new one refuses to start.
pidfile=/var/run/docker.pid
if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  rm -f "$pidfile"
fi

echo "Starting dockerd in the background (log: /var/log/dockerd.log)..."
nohup dockerd >/var/log/dockerd.log 2>&1 &
for _ in $(seq 1 60); do
  if engine_up; then
    exit 0
  fi
  sleep 1
done
echo "dockerd did not come up within 60 s; see /var/log/dockerd.log" >&2
tail -20 /var/log/dockerd.log >&2 || true
exit 1
