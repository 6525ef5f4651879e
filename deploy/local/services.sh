#!/usr/bin/env bash
# Local PostgreSQL and Redis for miniauth development, tests and CI.
#
#   services.sh env     make sure Postgres and Redis answer, then print
#                       `export DATABASE_URL=...` / `export REDIS_URL=...` on stdout
#   services.sh stop [postgres|redis]
#                       stop the private instances this script started under .dev/
#                       (one of them when named; `env` starts it again)
#   services.sh status  say which private instances run
#
# Typical use:  eval "$(deploy/local/services.sh env)"
# (in scripts, capture first so a failure is not swallowed by eval:
#  svc=$(deploy/local/services.sh env) && eval "$svc")
#
# Where each service comes from, first match wins:
#   1. DATABASE_URL / REDIS_URL from the environment, if they answer;
#   2. the default local ports: postgres://postgres@127.0.0.1:5432/postgres and
#      redis://127.0.0.1:6379/0, if they answer;
#   3. private throwaway instances under .dev/ (Postgres on 127.0.0.1:54329, Redis on
#      127.0.0.1:63799), started from the installed binaries. As root on Debian/Ubuntu,
#      missing binaries are installed with apt-get (packages postgresql, redis-server).
#      A private instance that already runs is reused.
#
# Knobs: MINIAUTH_FORCE_PRIVATE=1 skips 1 and 2; MINIAUTH_DEV_PG_PORT and
# MINIAUTH_DEV_REDIS_PORT move the private instances; MINIAUTH_DEV_DIR moves .dev/.
# All diagnostics go to stderr; stdout carries only the export lines.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEV_DIR=${MINIAUTH_DEV_DIR:-$ROOT/.dev}
PG_PORT=${MINIAUTH_DEV_PG_PORT:-54329}
REDIS_PORT=${MINIAUTH_DEV_REDIS_PORT:-63799}
FORCE_PRIVATE=${MINIAUTH_FORCE_PRIVATE:-0}

DEFAULT_PG_URL="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
DEFAULT_REDIS_URL="redis://127.0.0.1:6379/0"
PRIVATE_PG_URL="postgres://postgres@127.0.0.1:${PG_PORT}/postgres?sslmode=disable"
PRIVATE_REDIS_URL="redis://127.0.0.1:${REDIS_PORT}/0"
REDIS_DIR=$DEV_DIR/redis

APT_UPDATED=0

log() { printf 'services: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }
is_root() { [[ $(id -u) -eq 0 ]]; }
pid_gone() { ! kill -0 "$1" 2>/dev/null; }

# redact URL: hide a password in user:password@.
redact() { sed -E 's#(://[^:/@]*:)[^@/]*@#\1***@#' <<<"$1"; }

# shquote STRING: STRING as one single-quoted shell word.
shquote() {
	local s=${1//\'/\'\\\'\'}
	printf "'%s'" "$s"
}

# url_hostport URL DEFAULT_PORT: prints "host port" of the first address in URL.
# Understands scheme://[user[:pass]@]host[:port][/...], [ipv6]:port, plain host:port,
# comma-separated lists (first entry) and libpq key=value strings (host=, port=).
url_hostport() {
	local u=${1%%,*} def=$2 hp host="" port=""
	if [[ $u != *://* && $u == *=* ]]; then
		[[ $u =~ (^|[[:space:]])host=([^[:space:]]+) ]] && host=${BASH_REMATCH[2]}
		[[ $u =~ (^|[[:space:]])port=([0-9]+) ]] && port=${BASH_REMATCH[2]}
		[[ $host == /* ]] && host="" # unix socket directory: probe the default host instead
	else
		u=${u#*://}
		hp=${u%%[/?]*}
		hp=${hp##*@}
		if [[ $hp == \[* ]]; then
			host=${hp%%]*}
			host=${host#[}
			port=${hp#*]}
			port=${port#:}
		elif [[ $hp == *:* ]]; then
			host=${hp%:*}
			port=${hp##*:}
		else
			host=$hp
		fi
	fi
	printf '%s %s\n' "${host:-127.0.0.1}" "${port:-$def}"
}

# tcp_open HOST PORT: something accepts TCP connections there.
tcp_open() {
	# shellcheck disable=SC2016 # $0/$1 expand in the inner bash
	timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# redis_ping_tcp HOST PORT: a Redis server answers PING there (no redis-cli needed).
redis_ping_tcp() {
	# shellcheck disable=SC2016 # $0/$1 expand in the inner bash
	timeout 5 bash -c '
		exec 3<>"/dev/tcp/$0/$1" || exit 1
		printf "PING\r\n" >&3
		IFS= read -r -t 3 reply <&3 || exit 1
		[[ $reply == "+PONG"* || $reply == "-NOAUTH"* ]]' "$1" "$2" 2>/dev/null
}

# pg_check URL: the Postgres server at URL accepts us (psql), or at least answers.
pg_check() {
	local url=$1 host port
	if have psql; then
		PGCONNECT_TIMEOUT=5 timeout 10 psql -X -w -A -t -q -c 'select 1' "$url" >/dev/null 2>&1
	elif have pg_isready; then
		timeout 10 pg_isready -q -t 5 -d "$url" >/dev/null 2>&1
	else
		read -r host port < <(url_hostport "$url" 5432)
		tcp_open "$host" "$port"
	fi
}

# redis_check URL: the Redis server at URL answers PING.
redis_check() {
	local url=${1%%,*} host port tls=()
	[[ $url == *://* ]] || url="redis://$url"
	case $url in
	redis://* | rediss://*) ;;
	*)
		log "cannot probe $(redact "$url") (unsupported scheme), trusting it"
		return 0
		;;
	esac
	if have redis-cli; then
		[[ $url == rediss://* ]] && tls=(--tls)
		[[ $(timeout 10 redis-cli "${tls[@]}" -u "$url" ping 2>/dev/null) == PONG* ]]
	else
		read -r host port < <(url_hostport "$url" 6379)
		redis_ping_tcp "$host" "$port"
	fi
}

# wait_until TRIES DELAY CMD...: retry CMD until it succeeds, at most TRIES times.
wait_until() {
	local tries=$1 delay=$2 i
	shift 2
	for ((i = 0; i < tries; i++)); do
		"$@" && return 0
		sleep "$delay"
	done
	return 1
}

# apt_install PKG...: install Debian packages when we are root and apt-get exists.
apt_install() {
	if ! is_root || ! have apt-get; then
		return 1
	fi
	if ((!APT_UPDATED)); then
		log "apt-get update"
		apt-get update -qq </dev/null >&2 || log "warning: apt-get update failed, trying the install anyway"
		APT_UPDATED=1
	fi
	log "apt-get install $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" </dev/null >&2
}

# ---------------------------------------------------------------- PostgreSQL

# pg_dir: where the private cluster lives. Normally .dev/pg; when we are root and the
# postgres system user cannot reach .dev (e.g. the checkout is under /root), a directory
# under /var/tmp keyed by the .dev path. Deterministic, so `env` and `stop` agree.
pg_dir() {
	local d=$DEV_DIR/pg sum
	if is_root && id postgres >/dev/null 2>&1; then
		mkdir -p "$DEV_DIR"
		if ! (cd / && runuser -u postgres -- test -x "$DEV_DIR") 2>/dev/null; then
			sum=$(printf '%s' "$DEV_DIR" | cksum | cut -d' ' -f1)
			d=/var/tmp/miniauth-dev-pg-$sum
		fi
	fi
	printf '%s\n' "$d"
}

# pg_bindir DATA: directory holding initdb and pg_ctl; prefers the major version that
# created DATA, else the newest of /usr/lib/postgresql/*/bin, else $PATH.
pg_bindir() {
	local data=$1 want="" cands=() c
	if [[ -f $data/PG_VERSION ]]; then
		want=$(<"$data/PG_VERSION")
		if [[ -x /usr/lib/postgresql/$want/bin/pg_ctl ]]; then
			printf '%s\n' "/usr/lib/postgresql/$want/bin"
			return 0
		fi
	fi
	shopt -s nullglob
	cands=(/usr/lib/postgresql/*/bin/initdb)
	shopt -u nullglob
	if ((${#cands[@]})); then
		c=$(printf '%s\n' "${cands[@]}" | sort -V | tail -n1)
		printf '%s\n' "${c%/initdb}"
		return 0
	fi
	if have initdb && have pg_ctl; then
		dirname "$(command -v initdb)"
		return 0
	fi
	return 1
}

# as_pg CMD...: run CMD as the cluster owner (the postgres system user when we are root,
# since initdb and postgres refuse to run as root), from a directory it can read.
as_pg() {
	if is_root; then
		(cd / && runuser -u postgres -- "$@")
	else
		(cd / && "$@")
	fi
}

pg_log_tail() {
	local f
	for f in "$@"; do
		[[ -f $f ]] || continue
		log "--- last lines of $f"
		tail -n 20 "$f" >&2 || true
	done
}

start_private_pg() {
	local dir data bindir sock ver
	if ! pg_bindir "" >/dev/null; then
		log "PostgreSQL server binaries not found"
		apt_install postgresql ||
			die "install PostgreSQL (Debian/Ubuntu: sudo apt-get install postgresql), or set DATABASE_URL"
		pg_bindir "" >/dev/null || die "PostgreSQL still not found after installing it"
	fi
	# Only now: installing the package may have created the postgres user pg_dir looks at.
	dir=$(pg_dir)
	data=$dir/data
	bindir=$(pg_bindir "$data")
	if [[ -f $data/PG_VERSION ]]; then
		ver=$(<"$data/PG_VERSION")
		[[ -x $bindir/postgres && $("$bindir/postgres" --version) == *" $ver"* ]] ||
			die "$data was made by PostgreSQL $ver, but only $bindir is installed; remove $dir to start over"
	fi

	if is_root; then
		id postgres >/dev/null 2>&1 ||
			die "running as root needs the 'postgres' system user (made by the Debian postgresql package)"
		have runuser || die "running as root needs runuser (util-linux)"
		mkdir -p "$dir"
		chown postgres: "$dir"
	else
		mkdir -p "$dir"
	fi
	chmod 700 "$dir"

	if [[ ! -f $data/PG_VERSION ]]; then
		rm -rf "$data"
		log "initdb $data ($bindir)"
		if ! as_pg "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --no-locale \
			>"$dir/initdb.log" 2>&1; then
			pg_log_tail "$dir/initdb.log"
			die "initdb failed"
		fi
		# The unix socket lives next to the data; skip it if the path is too long for one.
		sock=$dir
		if ((${#sock} + 20 > 100)); then
			sock=""
		fi
		sock=${sock//\'/\'\'}
		# Throwaway cluster: durability off for speed.
		cat >>"$data/postgresql.conf" <<-EOF

			# miniauth private dev/test cluster (deploy/local/services.sh)
			listen_addresses = '127.0.0.1'
			unix_socket_directories = '${sock}'
			max_connections = 200
			fsync = off
			synchronous_commit = off
			full_page_writes = off
		EOF
	fi

	if as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		log "reusing private PostgreSQL in $data"
	else
		log "starting private PostgreSQL on 127.0.0.1:$PG_PORT ($data)"
		if ! as_pg "$bindir/pg_ctl" -D "$data" -l "$dir/postgres.log" -o "-p $PG_PORT" -w -t 60 start \
			>"$dir/pg_ctl.log" 2>&1; then
			pg_log_tail "$dir/pg_ctl.log" "$dir/postgres.log"
			die "could not start PostgreSQL (is port $PG_PORT taken? set MINIAUTH_DEV_PG_PORT)"
		fi
	fi
	wait_until 60 0.5 pg_check "$PRIVATE_PG_URL" ||
		die "private PostgreSQL does not answer at $PRIVATE_PG_URL (see $dir/postgres.log)"
}

stop_private_pg() {
	local dir data bindir
	dir=$(pg_dir)
	data=$dir/data
	[[ -f $data/PG_VERSION ]] || return 0
	bindir=$(pg_bindir "$data") || {
		log "no pg_ctl to stop $data"
		return 0
	}
	if as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		log "stopping private PostgreSQL ($data)"
		as_pg "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop >&2
	fi
}

status_private_pg() {
	local dir data bindir
	dir=$(pg_dir)
	data=$dir/data
	if [[ -f $data/PG_VERSION ]] && bindir=$(pg_bindir "$data") &&
		as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		log "private PostgreSQL runs ($data, port $PG_PORT)"
	else
		log "private PostgreSQL is not running"
	fi
}

ensure_pg() {
	local url=${DATABASE_URL:-}
	if [[ $FORCE_PRIVATE != 1 ]]; then
		if [[ -n $url ]]; then
			if pg_check "$url"; then
				log "PostgreSQL: using DATABASE_URL ($(redact "$url"))"
				PG_URL=$url
				return 0
			fi
			log "warning: DATABASE_URL ($(redact "$url")) does not answer; looking elsewhere"
		fi
		if pg_check "$DEFAULT_PG_URL"; then
			log "PostgreSQL: using 127.0.0.1:5432"
			PG_URL=$DEFAULT_PG_URL
			return 0
		fi
	fi
	start_private_pg
	log "PostgreSQL: using private instance on 127.0.0.1:$PG_PORT"
	PG_URL=$PRIVATE_PG_URL
}

# ---------------------------------------------------------------- Redis

redis_pid() {
	local pid
	[[ -f $REDIS_DIR/redis.pid ]] || return 1
	pid=$(<"$REDIS_DIR/redis.pid")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q redis-server || return 1
	printf '%s\n' "$pid"
}

start_private_redis() {
	if redis_check "$PRIVATE_REDIS_URL"; then
		log "reusing private Redis on 127.0.0.1:$REDIS_PORT"
		return 0
	fi
	if ! have redis-server; then
		log "redis-server not found"
		apt_install redis-server ||
			die "install Redis (Debian/Ubuntu: sudo apt-get install redis-server), or set REDIS_URL"
		have redis-server || die "redis-server still not found after installing it"
	fi
	mkdir -p "$REDIS_DIR"
	log "starting private Redis on 127.0.0.1:$REDIS_PORT ($REDIS_DIR)"
	redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes \
		--save "" --appendonly no --dir "$REDIS_DIR" \
		--pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" </dev/null >&2 ||
		die "redis-server failed to start (see $REDIS_DIR/redis.log)"
	if ! wait_until 40 0.25 redis_check "$PRIVATE_REDIS_URL"; then
		[[ -f $REDIS_DIR/redis.log ]] && tail -n 20 "$REDIS_DIR/redis.log" >&2
		die "private Redis does not answer on 127.0.0.1:$REDIS_PORT (port taken? set MINIAUTH_DEV_REDIS_PORT)"
	fi
}

stop_private_redis() {
	local pid
	pid=$(redis_pid) || return 0
	log "stopping private Redis (pid $pid)"
	if have redis-cli; then
		redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
	fi
	if ! wait_until 20 0.25 pid_gone "$pid"; then
		kill "$pid" 2>/dev/null || true
		wait_until 20 0.25 pid_gone "$pid" || log "warning: Redis pid $pid still runs"
	fi
	rm -f "$REDIS_DIR/redis.pid"
}

status_private_redis() {
	local pid
	if pid=$(redis_pid); then
		log "private Redis runs (pid $pid, port $REDIS_PORT)"
	else
		log "private Redis is not running"
	fi
}

ensure_redis() {
	local url=${REDIS_URL:-}
	if [[ $FORCE_PRIVATE != 1 ]]; then
		if [[ -n $url ]]; then
			if redis_check "$url"; then
				log "Redis: using REDIS_URL ($(redact "$url"))"
				RD_URL=$url
				return 0
			fi
			log "warning: REDIS_URL ($(redact "$url")) does not answer; looking elsewhere"
		fi
		if redis_check "$DEFAULT_REDIS_URL"; then
			log "Redis: using 127.0.0.1:6379"
			RD_URL=$DEFAULT_REDIS_URL
			return 0
		fi
	fi
	start_private_redis
	log "Redis: using private instance on 127.0.0.1:$REDIS_PORT"
	RD_URL=$PRIVATE_REDIS_URL
}

# ---------------------------------------------------------------- main

usage() {
	cat >&2 <<-EOF
		usage: $0 env|stop [postgres|redis]|status
		  env     ensure PostgreSQL and Redis answer; print export lines for DATABASE_URL, REDIS_URL
		  stop    stop the private instances started by this script (or only the one named)
		  status  show whether private instances run
	EOF
}

main() {
	local cmd=${1:-}
	case $cmd in
	env)
		PG_URL=""
		RD_URL=""
		ensure_pg
		ensure_redis
		printf 'export DATABASE_URL=%s\n' "$(shquote "$PG_URL")"
		printf 'export REDIS_URL=%s\n' "$(shquote "$RD_URL")"
		;;
	stop)
		case ${2:-} in
		"") stop_private_pg && stop_private_redis ;;
		postgres) stop_private_pg ;;
		redis) stop_private_redis ;;
		*)
			usage
			exit 2
			;;
		esac
		;;
	status)
		status_private_pg
		status_private_redis
		;;
	-h | --help | help)
		usage
		;;
	*)
		usage
		exit 2
		;;
	esac
}

main "$@"
