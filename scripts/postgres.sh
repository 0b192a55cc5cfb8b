#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster on 127.0.0.1 for tests; print its URL on stdout.
#
#   scripts/postgres.sh DIR        start a cluster in DIR (created), print the URL
#   scripts/postgres.sh --stop DIR stop it
#
# Installs PostgreSQL from Debian with apt-get when no server binaries are found (needs root
# or passwordless sudo). Runs the server as the calling user, or as `postgres` when called as
# root (the server refuses to run as root). Exit 3: PostgreSQL is absent and cannot be installed.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

install_postgres() {
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    if sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      log "PostgreSQL is not installed and apt-get needs root; install the 'postgresql' package"
      exit 3
    fi
  fi
  command -v apt-get >/dev/null 2>&1 || { log "no apt-get here; install PostgreSQL by hand"; exit 3; }
  log "installing PostgreSQL from Debian (apt-get)"
  # A held lock (another apt-get running) is waited for, not treated as a failure.
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600)
  $sudo "${apt[@]}" update -qq >&2 || { log "apt-get update failed"; exit 3; }
  $sudo "${apt[@]}" install -y -qq --no-install-recommends postgresql >&2 \
    || { log "apt-get install postgresql failed"; exit 3; }
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

as_owner() {  # run a command as the user who owns the cluster
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [[ "${1:-}" == "--stop" ]]; then
  dir="${2:?usage: postgres.sh --stop DIR}"
  bindir=$(find_bindir) || exit 0
  as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  exit 0
fi

dir="${1:?usage: postgres.sh DIR}"
install_once() {  # parallel test workers may all get here: one installs, the others wait
  if command -v flock >/dev/null 2>&1; then
    exec 9>"${TMPDIR:-/tmp}/shanyraq-postgres-install.lock"
    flock 9
  fi
  find_bindir >/dev/null || install_postgres
  exec 9>&-  # closed, or the server started below would inherit it and hold the lock
}
bindir=$(find_bindir) || { install_once; bindir=$(find_bindir) || { log "no initdb after install"; exit 3; }; }
mkdir -p "$dir"
if [[ $(id -u) -eq 0 ]]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
  chown -R postgres "$dir"
fi
port=$(free_port)
as_owner "$bindir/initdb" -D "$dir/data" -U shanyraq --auth=trust --encoding=UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
  || { log "initdb failed, see $dir/initdb.log"; exit 1; }
# Loopback only, socket in the cluster's own folder, fsync on (the durability tests need it),
# and Kazakhstan's time zone, not UTC: PostgreSQL gives timestamps back in its session's zone,
# so the tests see what a server set to local time gives (serving/db/models.py UTCDateTime).
# pg_ctl hands these to postgres through a shell: the folder is quoted (a space in TMPDIR).
opts="-c listen_addresses=127.0.0.1 -c port=$port -c fsync=on -c timezone=Asia/Almaty"
opts+=" -c unix_socket_directories='$dir'"
as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$opts" \
  start >/dev/null || { log "server did not start, see $dir/server.log"; exit 1; }
as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U shanyraq shanyraq
echo "postgresql+psycopg://shanyraq@127.0.0.1:$port/shanyraq"
