#!/bin/sh
# setup.sh - installs what trailhound needs to build and test on Debian, with apt-get.
# Runs as root, or through sudo when it is there. Skips the install when everything is
# already present, so running it again is cheap.
set -eu
pkgs="build-essential cmake pkg-config libjson-c-dev libpcre2-dev libyaml-dev zlib1g-dev
      librdkafka-dev libmaxminddb-dev jq libmaxmind-db-writer-perl mmdb-bin libdeflate-dev
      clang libclang-rt-dev valgrind"
missing=""
for p in $pkgs; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "setup: installing$missing" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "setup: run as root or install sudo" >&2; exit 1; }
    sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086 # the list is meant to split
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
