#!/usr/bin/env bash
# Builds and installs pgvector into PostgreSQL 15 from Debian's own source package.
#
# pgvector is not packaged for Debian 12, so its source package is taken from the next release
# (trixie) through apt, with a deb-src list used only for this `apt-get source` (the system's apt
# lists are not touched), then compiled with PGXS. OPTFLAGS="" drops -march=native so the build runs
# on any x86-64 machine. Idempotent: does nothing when the pinned version is installed.
set -euo pipefail

version="0.8.0"
debian_version="${version}-1"
pg_config=/usr/lib/postgresql/15/bin/pg_config
sharedir="$("$pg_config" --sharedir)"
if [ -f "$sharedir/extension/vector--$version.sql" ]; then
  exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"   # apt's _apt user downloads into it
# The same Debian mirror the system's own apt sources name (the first "bookworm" entry).
mirror="$(awk '/^URIs:/ {uri=$2} /^Suites:/ && / bookworm( |$)/ {print uri; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
if [ -z "$mirror" ]; then
  mirror="$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
fi
if [ -z "$mirror" ]; then
  echo "setup: no Debian bookworm mirror found in the apt sources; cannot fetch pgvector's source" >&2
  exit 1
fi
cat >"$work/trixie-src.sources" <<SOURCES
Types: deb-src
URIs: $mirror
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
apt_opts=(-o "Dir::Etc::SourceList=$work/trixie-src.sources" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o APT::Sandbox::User=root)

echo "setup: building pgvector $debian_version from Debian's source package"
apt-get "${apt_opts[@]}" update -qq
(cd "$work" && apt-get "${apt_opts[@]}" source -qq "pgvector=$debian_version")
make -C "$work/pgvector-$version" -s -j"$(nproc)" OPTFLAGS="" PG_CONFIG="$pg_config"
"${sudo_cmd[@]}" make -C "$work/pgvector-$version" -s install OPTFLAGS="" PG_CONFIG="$pg_config"
