#!/usr/bin/env bash
# `make run`: a complete local miniauth to try the platform.
#
# Finds or starts PostgreSQL and Redis (deploy/local/services.sh), builds bin/miniauth and
# bin/wxfake, migrates, starts the fake WeChat API and the server, makes sure a platform
# API key and a "demo" tenant exist, prints how to use them, and runs until Ctrl-C.
#
# Also creates a demo platform admin for the web console and prints its sign-in.
#
# State kept between runs, in .dev/ (gitignored): master.key (dev master key), apikey
# (platform_admin API key), admin.password (the demo admin's password), server.log (the
# server's request log, kept off the terminal so the banner stays readable), wxfake.log. Unless DATABASE_URL is set, the data lives in a
# database "miniauth_dev" on the server services.sh found (recreated if master.key is new).
# Overridable: MINIAUTH_ADDR (127.0.0.1:8080), MINIAUTH_PUBLIC_URL (http://localhost:<port>), MINIAUTH_DEV_WXFAKE_ADDR (127.0.0.1:9480),
# MINIAUTH_OPS_ADDR (127.0.0.1:9090: /metrics and pprof).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
DEV_DIR=.dev

DEMO_SLUG=demo
DEMO_APPID=wx0demo0000000001
DEMO_SECRET=demo-app-secret-0001
DEMO_OPEN_PLATFORM=demo-open-platform
DEV_DB=miniauth_dev
DEMO_ADMIN=admin@miniauth.local

log() { printf 'run: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }

# port_busy URL: something already accepts connections at http://HOST:PORT.
port_busy() {
	local hp=${1#http://} host port
	host=${hp%:*}
	port=${hp##*:}
	host=${host#[}
	host=${host%]}
	# shellcheck disable=SC2016 # $0/$1 expand in the inner bash
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null
}

# local_url HOST:PORT: an http:// URL this machine can reach the listener on.
local_url() {
	local addr=$1 host port
	host=${addr%:*}
	port=${addr##*:}
	case $host in
	"" | 0.0.0.0 | "[::]" | "::") host=127.0.0.1 ;;
	esac
	printf 'http://%s:%s\n' "$host" "$port"
}

# http_status URL [CURL ARGS...]: the HTTP status code ("000" when nothing answers).
http_status() {
	local url=$1
	shift
	curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$url" || true
}

# ---------------------------------------------------------------- prerequisites

have go || die "Go is not installed (https://go.dev/doc/install)"
if ! have curl; then
	if [[ $(id -u) -eq 0 ]] && have apt-get; then
		log "installing curl"
		apt-get update -qq </dev/null >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl ca-certificates </dev/null >&2
	else
		die "curl is not installed"
	fi
fi

mkdir -p "$DEV_DIR"

export MINIAUTH_ADDR=${MINIAUTH_ADDR:-127.0.0.1:8080}
API_URL=$(local_url "$MINIAUTH_ADDR")
export MINIAUTH_PUBLIC_URL=${MINIAUTH_PUBLIC_URL:-http://localhost:${MINIAUTH_ADDR##*:}}
export MINIAUTH_OPS_ADDR=${MINIAUTH_OPS_ADDR:-127.0.0.1:9090}
OPS_URL=$(local_url "$MINIAUTH_OPS_ADDR")
PUBLIC_URL=${MINIAUTH_PUBLIC_URL%/}
WXFAKE_ADDR=${MINIAUTH_DEV_WXFAKE_ADDR:-127.0.0.1:9480}
FAKE_URL=$(local_url "$WXFAKE_ADDR")
export MINIAUTH_WECHAT_BASE_URL=$FAKE_URL

if port_busy "$FAKE_URL"; then
	die "$WXFAKE_ADDR is already in use (another make run?); set MINIAUTH_DEV_WXFAKE_ADDR"
fi
if port_busy "$API_URL"; then
	die "$MINIAUTH_ADDR is already in use (another make run?); set MINIAUTH_ADDR"
fi
if port_busy "$OPS_URL"; then
	die "$MINIAUTH_OPS_ADDR is already in use (another make run?); set MINIAUTH_OPS_ADDR"
fi

# ---------------------------------------------------------------- configuration

user_db_url=${DATABASE_URL:-}
svc_env=$(bash deploy/local/services.sh env)
eval "$svc_env"

new_master_key=0
if [[ ! -s $DEV_DIR/master.key ]]; then
	log "generating a dev master key in $DEV_DIR/master.key"
	(
		umask 077
		head -c32 /dev/urandom | base64 >"$DEV_DIR/master.key"
	)
	new_master_key=1
fi
MINIAUTH_MASTER_KEY=$(<"$DEV_DIR/master.key")
export MINIAUTH_MASTER_KEY

# Unless DATABASE_URL was given, keep the dev data in its own database rather than in the
# server's "postgres" database (which tests use only to create their throwaway ones).
if [[ -z $user_db_url && $DATABASE_URL == */postgres\?* ]] && have psql; then
	admin_url=$DATABASE_URL
	DATABASE_URL=${admin_url/\/postgres\?//$DEV_DB?}
	exists=$(psql -X -w -A -t -q -v ON_ERROR_STOP=1 "$admin_url" \
		-c "select 1 from pg_database where datname = '$DEV_DB'")
	if [[ $exists == 1 && $new_master_key == 1 ]]; then
		# Secrets in it were sealed with a master key that is gone: start over.
		log "new master key: recreating database $DEV_DB"
		psql -X -w -q -v ON_ERROR_STOP=1 "$admin_url" -c "drop database $DEV_DB with (force)" >/dev/null
		exists=""
	fi
	if [[ $exists != 1 ]]; then
		log "creating database $DEV_DB"
		psql -X -w -q -v ON_ERROR_STOP=1 "$admin_url" -c "create database $DEV_DB" >/dev/null
	fi
	export DATABASE_URL
fi

# ---------------------------------------------------------------- build and migrate

log "go build -o bin/ ./cmd/..."
mkdir -p bin
go build -o bin/ ./cmd/...
[[ -x bin/miniauth && -x bin/wxfake ]] || die "the build did not produce bin/miniauth and bin/wxfake"

log "bin/miniauth migrate"
bin/miniauth migrate

# ---------------------------------------------------------------- processes

PIDS=()
# shellcheck disable=SC2317 # called from the EXIT trap
any_alive() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null && return 0
	done
	return 1
}
# shellcheck disable=SC2317 # the EXIT trap
cleanup() {
	local pid i
	trap - EXIT INT TERM
	((${#PIDS[@]})) || return 0
	log "stopping"
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for ((i = 0; i < 40; i++)); do
		any_alive || break
		sleep 0.25
	done
	for pid in "${PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


log "starting wxfake on $WXFAKE_ADDR (log: $DEV_DIR/wxfake.log)"
bin/wxfake --addr "$WXFAKE_ADDR" --app "$DEMO_APPID:$DEMO_SECRET:$DEMO_OPEN_PLATFORM" \
	>"$DEV_DIR/wxfake.log" 2>&1 </dev/null &
FAKE_PID=$!
PIDS+=("$FAKE_PID")
for ((i = 0; ; i++)); do
	[[ $(http_status "$FAKE_URL/_fake/stats") == 200 ]] && break
	kill -0 "$FAKE_PID" 2>/dev/null || {
		tail -n 20 "$DEV_DIR/wxfake.log" >&2
		die "wxfake exited"
	}
	((i < 40)) || die "wxfake did not answer on $FAKE_URL within 10s"
	sleep 0.25
done

if [[ ! -s $DEV_DIR/apikey ]]; then
	log "creating a platform_admin API key in $DEV_DIR/apikey"
	key=$(bin/miniauth apikey create --name dev --role platform_admin | tail -n1)
	[[ -n $key ]] || die "miniauth apikey create printed no key"
	(
		umask 077
		printf '%s\n' "$key" >"$DEV_DIR/apikey"
	)
fi

log "starting miniauth serve on $MINIAUTH_ADDR (log: $DEV_DIR/server.log)"
bin/miniauth serve </dev/null >>"$DEV_DIR/server.log" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
for ((i = 0; ; i++)); do
	[[ $(http_status "$API_URL/readyz") == 200 ]] && break
	kill -0 "$SERVER_PID" 2>/dev/null || {
		tail -n 20 "$DEV_DIR/server.log" >&2
		die "miniauth serve exited"
	}
	((i < 120)) || die "miniauth did not become ready at $API_URL/readyz within 60s"
	sleep 0.5
done

# ---------------------------------------------------------------- API key and demo tenant

API_KEY=$(<"$DEV_DIR/apikey")
status=$(http_status "$API_URL/api/v1/tenants?limit=1" -H "Authorization: Bearer $API_KEY")
if [[ $status == 401 ]]; then
	# The database was reset since the key was made: make a new one.
	log "the key in $DEV_DIR/apikey is unknown to this database; creating a new one"
	API_KEY=$(bin/miniauth apikey create --name dev --role platform_admin | tail -n1)
	[[ -n $API_KEY ]] || die "miniauth apikey create printed no key"
	(
		umask 077
		printf '%s\n' "$API_KEY" >"$DEV_DIR/apikey"
	)
elif [[ $status != 200 ]]; then
	log "warning: GET /api/v1/tenants answered $status"
fi

body=$(mktemp)
status=$(curl -s -o "$body" -w '%{http_code}' --max-time 10 -X POST "$API_URL/api/v1/tenants" \
	-H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
	-d "{\"slug\":\"$DEMO_SLUG\",\"name\":\"Demo mini-program\",\"wechat_appid\":\"$DEMO_APPID\",\"wechat_secret\":\"$DEMO_SECRET\"}" ||
	true)
case $status in
201) log "created tenant '$DEMO_SLUG'" ;;
409) log "tenant '$DEMO_SLUG' exists" ;;
*) log "warning: creating tenant '$DEMO_SLUG' answered $status: $(head -c 500 "$body")" ;;
esac
rm -f "$body"

# ---------------------------------------------------------------- console admin

if [[ ! -s $DEV_DIR/admin.password ]]; then
	(
		umask 077
		head -c 12 /dev/urandom | base64 | tr -d '/+=' >"$DEV_DIR/admin.password"
	)
fi
ADMIN_PASSWORD=$(<"$DEV_DIR/admin.password")
if out=$(bin/miniauth admin create --email "$DEMO_ADMIN" --role platform_admin <<<"$ADMIN_PASSWORD" 2>&1); then
	log "created console admin $DEMO_ADMIN"
elif [[ $out == *exists* || $out == *conflict* ]]; then
	log "console admin $DEMO_ADMIN exists"
else
	log "warning: creating console admin $DEMO_ADMIN: $out"
fi

# ---------------------------------------------------------------- tell the developer

cat >&2 <<EOF

miniauth is running (pid $SERVER_PID) on $MINIAUTH_ADDR, public URL $PUBLIC_URL

  Console      $PUBLIC_URL/admin/
               sign in as $DEMO_ADMIN with password $ADMIN_PASSWORD   (kept in $DEV_DIR/admin.password)
  API          $PUBLIC_URL/api/v1   (OpenAPI: $PUBLIC_URL/api/v1/openapi.json)
  Operations   $OPS_URL/metrics, $OPS_URL/debug/pprof/   (loopback only)
  API key      $API_KEY   (platform_admin, kept in $DEV_DIR/apikey)
  Fake WeChat  $FAKE_URL   (appid $DEMO_APPID, log in $DEV_DIR/wxfake.log)
  Database     ${DATABASE_URL}
  Redis        ${REDIS_URL}
  Server log   $DEV_DIR/server.log   (tail -f it in another terminal)

List tenants:
  curl -s $PUBLIC_URL/api/v1/tenants -H 'Authorization: Bearer $API_KEY'

Log a demo user in (mints a fake wx.login code for "alice", then logs in):
  curl -s -X POST $PUBLIC_URL/v1/t/$DEMO_SLUG/login -H 'Content-Type: application/json' -d "{\"code\":\"\$(curl -s '$FAKE_URL/_fake/code?appid=$DEMO_APPID&user=alice')\"}"

Ctrl-C stops the server and the fake; Postgres/Redis keep running (make services-stop).

EOF

set +e
wait "$SERVER_PID"
rc=$?
set -e
log "miniauth serve exited with status $rc"
exit "$rc"
