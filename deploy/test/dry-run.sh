#!/usr/bin/env bash
# make install-dry-run: installs miniauth into a scratch root exactly as
# README "Operating it" installs it on a server (the systemd units' user,
# paths and EnvironmentFile), starts the migrate and server units' commands
# as systemd would (as the unit's user, no capabilities, no new privileges,
# output appended to the unit's log file), puts deploy/nginx/miniauth.conf
# in front with a self-signed certificate, logs a user in through nginx
# over HTTPS, scrapes /metrics on the operations port, rotates the log with
# deploy/logrotate/miniauth, and tears everything down.
#
# Needs root (it adds the miniauth system user when missing, and removes it
# again), Postgres and Redis (DATABASE_URL, REDIS_URL: make finds or starts
# them), nginx, logrotate, curl, openssl and setpriv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deploy/test/nginx-sandbox.sh

log() { echo "dry-run: $*"; }
die() { echo "dry-run: FAILED: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "run as root: it installs as the systemd unit does, with the unit's own user"
: "${DATABASE_URL:?DATABASE_URL is required (make install-dry-run finds or starts Postgres)}"
: "${REDIS_URL:?REDIS_URL is required}"
export PATH=$PATH:/usr/sbin

unit=deploy/systemd/miniauth.service
migrate_unit=deploy/systemd/miniauth-migrate.service
# key UNIT NAME: the value of NAME= in the unit (the last one, as systemd takes).
key() { sed -n "s/^$2=//p" "$1" | tail -n1; }
user=$(key "$unit" User)
envfile=$(key "$unit" EnvironmentFile)
exec_start=$(key "$unit" ExecStart)
migrate_start=$(key "$migrate_unit" ExecStart)
logfile=$(key "$unit" StandardOutput)
logfile=${logfile#append:}
workdir=$(key "$unit" WorkingDirectory)
binary=${exec_start%% *}
[[ -n $user && -n $envfile && -n $binary && -n $logfile && -n $workdir ]] || die "the unit lacks User, EnvironmentFile, ExecStart, StandardOutput or WorkingDirectory"
[[ $(key "$unit" CapabilityBoundingSet) == "" && $(key "$unit" NoNewPrivileges) == yes ]] || die "the unit is not unprivileged"

root=$(mktemp -d /tmp/miniauth-dry-run.XXXXXX)
chmod 0755 "$root"
db="miniauth_dryrun_$$"
pids=()
created_user=false
cleanup() {
	local rc=$?
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [[ -f $root/nginx/nginx.pid ]]; then nginx -p "$root/nginx" -c "$root/nginx/nginx.conf" -s stop 2>/dev/null || true; fi
	psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
	if $created_user; then userdel "$user" 2>/dev/null || true; fi
	if ((rc != 0)) && [[ -f $root$logfile ]]; then
		echo "--- last lines of $logfile" >&2
		tail -n 20 "$root$logfile" >&2
	fi
	rm -rf "$root"
	exit "$rc"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port) ops=$(free_port) wx=$(free_port) http=$(free_port) https=$(free_port)

log "building into $root$binary"
mkdir -p "$root$(dirname "$binary")" "$root/opt"
CGO_ENABLED=0 go build -trimpath -o "$root$binary" ./cmd/miniauth
go build -o "$root/opt/wxfake" ./cmd/wxfake

if ! id "$user" >/dev/null 2>&1; then
	log "adding the system user $user"
	useradd --system --no-create-home --home-dir "$workdir" --shell /usr/sbin/nologin "$user"
	created_user=true
fi

log "installing the units, $envfile and the log directory"
mkdir -p "$root/etc/systemd/system" "$root$(dirname "$envfile")" "$root$(dirname "$logfile")" "$root$workdir"
cp "$unit" "$migrate_unit" "$root/etc/systemd/system/"
psql -q "$DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null
db_url=$(python3 -c 'import sys, urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/"+sys.argv[2])))' "$DATABASE_URL" "$db")
# The example file with its placeholders filled in, as an operator does.
sed -e "s|^DATABASE_URL=.*|DATABASE_URL=$db_url|" \
	-e "s|^REDIS_URL=.*|REDIS_URL=$REDIS_URL|" \
	-e "s|^MINIAUTH_MASTER_KEY=.*|MINIAUTH_MASTER_KEY=$(head -c32 /dev/urandom | base64)|" \
	-e "s|^MINIAUTH_PUBLIC_URL=.*|MINIAUTH_PUBLIC_URL=https://auth.example.com:$https|" \
	-e "s|^MINIAUTH_ADDR=.*|MINIAUTH_ADDR=127.0.0.1:$port|" \
	-e "s|^MINIAUTH_OPS_ADDR=.*|MINIAUTH_OPS_ADDR=127.0.0.1:$ops|" \
	deploy/systemd/miniauth.env >"$root$envfile"
cat >>"$root$envfile" <<EOF
MINIAUTH_REDIS_PREFIX=dryrun:$$:
MINIAUTH_WECHAT_BASE_URL=http://127.0.0.1:$wx
EOF
grep -q CHANGE-ME "$root$envfile" && die "a placeholder of $envfile was not filled in"
chown root:"$user" "$root$envfile"
chmod 0640 "$root$envfile"
chown "$user:$user" "$root$workdir"
chmod 0750 "$root$(dirname "$logfile")"

# as_unit CMD...: the unit's command as systemd starts it: its user, no
# capabilities, no new privileges, only the EnvironmentFile's variables,
# its working directory. Callers append its output to the unit's log file.
as_unit() {
	local env=()
	mapfile -t env < <(grep -E '^[A-Z_][A-Z0-9_]*=' "$root$envfile")
	(cd "$root$workdir" && exec setpriv --reuid="$user" --regid="$user" --init-groups --no-new-privs \
		--inh-caps=-all --bounding-set=-all env -i "${env[@]}" "$@")
}

log "starting the fake WeChat API on 127.0.0.1:$wx"
"$root/opt/wxfake" --addr "127.0.0.1:$wx" --app "wxdryrun000000001:dry-run-secret:" >"$root/wxfake.log" 2>&1 &
pids+=($!)

log "miniauth-migrate.service: $migrate_start"
as_unit "$root${migrate_start%% *}" "${migrate_start#* }" >>"$root$logfile" 2>&1 || die "migrate failed"
log "miniauth.service: $exec_start"
as_unit "$root$binary" "${exec_start#* }" >>"$root$logfile" 2>&1 &
pids+=($!)

for ((i = 0; ; i++)); do
	curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
	((i < 100)) || die "miniauth did not become ready on 127.0.0.1:$port"
	sleep 0.1
done
pid=$(pgrep -u "$user" -f "$root$binary serve" | head -n1)
status=/proc/$pid/status
[[ $(stat -c %U "/proc/$pid") == "$user" ]] || die "the server does not run as $user"
grep -q '^NoNewPrivs:[[:space:]]*1' "$status" || die "the server may gain privileges"
grep -q '^CapBnd:[[:space:]]*0000000000000000' "$status" || die "the server keeps capabilities"
log "serving as $user (pid $pid), no capabilities, no new privileges"

log "nginx with deploy/nginx/miniauth.conf on 127.0.0.1:$http and :$https"
nginx_sandbox "$root/nginx" "$http" "$https" "127.0.0.1:$port"
nginx -p "$root/nginx" -c "$root/nginx/nginx.conf"
site="https://auth.example.com:$https"
tls=(--cacert "$root/nginx/cert.pem" --resolve "auth.example.com:$https:127.0.0.1" --resolve "auth.example.com:$http:127.0.0.1")

log "HTTP redirects to HTTPS; HTTPS carries HSTS; TLS below 1.2 is refused"
loc=$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' "${tls[@]}" "http://auth.example.com:$http/v1/t/x/login")
[[ $loc == "301 https://auth.example.com/v1/t/x/login" ]] || die "HTTP answered $loc"
curl -sS -D - -o /dev/null "${tls[@]}" "$site/healthz" | grep -qi '^strict-transport-security: max-age=' || die "no HSTS header"
if curl -sS -o /dev/null "${tls[@]}" --tls-max 1.1 "$site/healthz" 2>/dev/null; then die "TLS 1.1 was accepted"; fi
[[ $(curl -sS -o /dev/null -w '%{http_code}' "${tls[@]}" "$site/metrics") == 404 ]] || die "/metrics is reachable through nginx"

log "a platform API key, a tenant and a login through nginx over HTTPS"
key=$(as_unit "$root$binary" apikey create --name dry-run --role platform_admin 2>>"$root$logfile" | tail -n1)
[[ $key == mak_* ]] || die "apikey create printed no key"
curl -fsS "${tls[@]}" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
	-d '{"slug":"dryrun","name":"Dry run","wechat_appid":"wxdryrun000000001","wechat_secret":"dry-run-secret"}' \
	"$site/api/v1/tenants" >/dev/null || die "creating the tenant failed"
code=$(curl -fsS "http://127.0.0.1:$wx/_fake/code?appid=wxdryrun000000001&user=alice")
login=$(curl -sS "${tls[@]}" -H 'Content-Type: application/json' -H 'X-Forwarded-For: 203.0.113.66' \
	-d "{\"code\":\"$code\"}" "$site/v1/t/dryrun/login")
access=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["access_token"])' "$login" 2>/dev/null) || die "login answered $login"
me=$(curl -fsS "${tls[@]}" -H "Authorization: Bearer $access" "$site/v1/t/dryrun/me") || die "GET /me failed"
[[ $me == *'"openid"'* ]] || die "GET /me answered $me"
# nginx replaced the client's X-Forwarded-For; miniauth believed nginx.
grep '"route":"/v1/t/:tenant/login"' "$root$logfile" | grep -q '"ip":"127.0.0.1"' ||
	die "the login's log line does not carry nginx's client address"
grep -q '203.0.113.66' "$root$logfile" && die "a client-sent X-Forwarded-For reached the log"

log "scraping http://127.0.0.1:$ops/metrics"
metrics=$(curl -fsS "http://127.0.0.1:$ops/metrics")
grep -q '^miniauth_logins_total{result="ok",tenant="dryrun"} 1$' <<<"$metrics" || die "the login is not in /metrics"
grep -q '^miniauth_db_pool_acquired_conns ' <<<"$metrics" || die "no pool series in /metrics"
[[ $(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/metrics") == 404 ]] || die "/metrics is on the public port"

log "logrotate with deploy/logrotate/miniauth; the server logs on into the truncated file"
sed "s|/var/log/miniauth/|$root$(dirname "$logfile")/|" deploy/logrotate/miniauth >"$root/logrotate.conf"
logrotate -f -s "$root/logrotate.state" "$root/logrotate.conf"
[[ -s $root$logfile.1 ]] || die "logrotate made no $logfile.1"
curl -fsS "${tls[@]}" "$site/healthz" >/dev/null
sleep 0.2
grep -q '"route":"/healthz"' "$root$logfile" || die "nothing was logged after the rotation"

log "stopping with SIGTERM, as systemctl stop does"
kill -TERM "$pid"
for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && die "the server did not stop within 10s of SIGTERM"
log "passed"
