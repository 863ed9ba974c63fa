#!/usr/bin/env bash
# System packages RewardSmith's tests and sandbox use, installed only when missing (needs root + apt).
#   bubblewrap  - OS isolation of reward workers: namespaces, read-only file system (sandboxes/README.md)
#   libseccomp2 - the seccomp allow-list the reward worker installs (sandboxes/seccomp.py); part of
#                 Debian/Ubuntu base systems, listed so that a slimmed image gets it back
#   chromium    - the web UI's browser test (tests/agent/test_web_chromium.py; Playwright drives /usr/bin/chromium)
#   libosmesa6 libegl1 libegl-mesa0 libgl1-mesa-dri - headless MuJoCo rendering of rollout videos (envs/video.py)
set -euo pipefail
want=(bubblewrap libseccomp2)
want+=(chromium libosmesa6 libegl1 libegl-mesa0 libgl1-mesa-dri)
missing=()
for pkg in "${want[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "note: missing system packages: ${missing[*]} (install them with apt-get for full sandbox isolation)" >&2
  exit 0
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
timeout 600 apt-get update -qq >/dev/null
timeout 600 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
