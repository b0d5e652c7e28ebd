#!/usr/bin/env bash
# Makes sure a Docker engine answers: installs docker.io from Debian's packages
# when missing and starts dockerd in the background when no engine runs.
set -euo pipefail

engine_up() { docker info >/dev/null 2>&1; }

if engine_up; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "No Docker engine: install docker.io (sudo apt-get install -y docker.io) and start it." >&2
    exit 1
  fi
  echo "Installing docker.io from Debian's packages..."
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "The Docker engine is not running: start it (sudo dockerd &, or systemctl start docker)." >&2
  exit 1
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
