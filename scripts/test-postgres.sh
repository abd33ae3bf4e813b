#!/usr/bin/env bash
# A throw-away PostgreSQL 15 cluster (with pgvector available) for the tests.
#
#   scripts/test-postgres.sh start DIR PORT   initdb in DIR (must not exist), start on 127.0.0.1:PORT,
#                                             print the connection URL on stdout
#   scripts/test-postgres.sh stop DIR         stop it (immediate) and delete DIR
#
# initdb refuses to run as root, so as root the cluster runs as the `postgres` system user that
# Debian's postgresql-common creates. Trust authentication on loopback only; fsync is off because
# the cluster lives for one test run (durability tests kill memembed, not PostgreSQL).
set -euo pipefail

bin=/usr/lib/postgresql/15/bin
as_owner=()
if [ "$(id -u)" -eq 0 ]; then as_owner=(runuser -u postgres --); fi

case "${1:-}" in
  start)
    dir="$2"; port="$3"
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
    "${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U memembed -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
    "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$dir' -c fsync=off -c max_connections=300" \
      >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgresql://memembed@127.0.0.1:$port/postgres"
    ;;
  stop)
    dir="$2"
    if [ -f "$dir/data/postmaster.pid" ]; then
      "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac
