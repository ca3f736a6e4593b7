#!/usr/bin/env bash
# Debian packages the test suite reads data from. Installs them when missing and we are root.
set -euo pipefail
packages=()
[ -d /usr/share/datasets/fashion-mnist ] || packages+=(dataset-fashion-mnist)
[ -d /usr/share/openclipart/png ] || packages+=(openclipart-png)   # projection training test
[ -d /usr/share/openclipart/svg ] || packages+=(openclipart-svg)
[ -d /usr/share/icons/Adwaita/48x48 ] || packages+=(adwaita-icon-theme)  # icon-caption test
command -v chromium >/dev/null || packages+=(chromium)  # the search-page screenshot test
if [ ${#packages[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${packages[*]} (run: sudo apt-get install ${packages[*]})" >&2
  exit 0
fi
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
