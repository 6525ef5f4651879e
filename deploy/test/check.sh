#!/usr/bin/env bash
# make check-deploy: every file under deploy/ checked offline by the real
# tool that reads it. The dashboard's and alerts' queries are checked
# against a running instance's /metrics by go test (TestDeployQueries), the
# compose file, Kubernetes base and Dockerfile by deploy/check, and the
# installed whole by dry-run.sh.
#
# Tools: nginx, systemd-analyze, logrotate, promtool (Debian's prometheus),
# the shell linter, openssl, sshd (openssh-server). .ci/run installs them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deploy/test/nginx-sandbox.sh

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
step() { echo; echo "--- $*"; }
fail() { echo "FAIL: $*" >&2; failed=1; }

for tool in nginx systemd-analyze logrotate promtool shellcheck openssl sshd ssh-keygen; do
	command -v "$tool" >/dev/null || PATH=$PATH:/usr/sbin command -v "$tool" >/dev/null ||
		{ echo "check-deploy: $tool is not installed (.ci/run installs it from Debian)" >&2; exit 1; }
done
export PATH=$PATH:/usr/sbin

step "nginx -t on deploy/nginx/miniauth.conf (throwaway certificate)"
nginx_sandbox "$work/nginx" 18080 18443 127.0.0.1:18081
nginx -t -q -p "$work/nginx" -c "$work/nginx/nginx.conf" || fail "nginx -t"

step "systemd-analyze verify and security on deploy/systemd/*.service"
root=$work/root
mkdir -p "$root/etc/systemd/system" "$root/usr/local/bin" "$root/usr/lib/systemd"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
cp deploy/systemd/*.service "$root/etc/systemd/system/"
printf '#!/bin/sh\n' >"$root/usr/local/bin/miniauth"
chmod +x "$root/usr/local/bin/miniauth"
for unit in miniauth.service miniauth-migrate.service; do
	# verify warns about unknown keys on stderr but exits 0: any output fails.
	out=$(systemd-analyze verify --root="$root" "$root/etc/systemd/system/$unit" 2>&1) || fail "verify $unit"
	[[ -z $out ]] || fail "systemd-analyze verify $unit: $out"
	# Exposure 0-10 (lower is tighter); --threshold is in tenths.
	systemd-analyze security --offline=yes --root="$root" --threshold=20 "$unit" |
		grep -E 'Overall exposure' || fail "systemd-analyze security $unit: exposure above 2.0"
done
for key in User=miniauth NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes 'CapabilityBoundingSet=$' \
	Restart=always EnvironmentFile=/etc/miniauth/miniauth.env Requires=miniauth-migrate.service; do
	grep -qE "^$key" deploy/systemd/miniauth.service || fail "miniauth.service lacks $key"
done

step "logrotate -d deploy/logrotate/miniauth"
out=$(logrotate -d -s "$work/logrotate.state" deploy/logrotate/miniauth 2>&1) || fail "logrotate -d: $out"
if grep -qiE '^error|unknown option|bad ' <<<"$out"; then fail "logrotate -d: $out"; fi

step "promtool: alert rules, their unit tests, the compose Prometheus config"
promtool check rules deploy/prometheus/alerts.yml || fail "promtool check rules"
(cd deploy/prometheus && promtool test rules alerts_test.yml) || fail "promtool test rules"
while read -r alert; do
	grep -A1 "alertname: $alert\$" deploy/prometheus/alerts_test.yml | grep -q exp_alerts ||
		fail "alert $alert has no promtool test that expects it to fire"
done < <(sed -n 's/^ *- alert: *//p' deploy/prometheus/alerts.yml)
sed "s|/etc/prometheus/alerts.yml|$PWD/deploy/prometheus/alerts.yml|" deploy/compose/prometheus.yml >"$work/prometheus.yml"
promtool check config "$work/prometheus.yml" || fail "promtool check config"

step "Grafana dashboard JSON"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["uid"] and d["panels"], "no panels"' \
	deploy/grafana/miniauth.json || fail "dashboard JSON"

step "shellcheck"
shellcheck -x deploy/harden/harden.sh deploy/test/*.sh || fail shellcheck

step "harden.sh: plan, refusals, and the sshd drop-in accepted by sshd -t"
h=$work/harden
mkdir -p "$h/home/ops/.ssh"
if deploy/harden/harden.sh --root "$h" --admin-user ops --yes >/dev/null 2>&1; then
	fail "harden.sh went on without an authorized key for the admin user"
fi
echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB8nZfIuRvl2ekjaWqCbuCSrM2YSzwsSdJsSMAdfK9YS ops" >"$h/home/ops/.ssh/authorized_keys"
deploy/harden/harden.sh --root "$h" --admin-user ops --dry-run >"$work/plan.txt"
[[ ! -e $h/etc/ssh ]] || fail "harden.sh --dry-run wrote files"
echo n | deploy/harden/harden.sh --root "$h" --admin-user ops >/dev/null
[[ ! -e $h/etc/ssh ]] || fail "harden.sh wrote files when the answer was no"
grep -q 'ufw default deny incoming' "$work/plan.txt" || fail "the plan does not show the firewall rules"
deploy/harden/harden.sh --root "$h" --admin-user ops --ssh-port 2222 --yes >/dev/null
dropin=$h/etc/ssh/sshd_config.d/60-miniauth.conf
ssh-keygen -q -t ed25519 -N '' -f "$work/hostkey"
id ops >/dev/null 2>&1 || sed -i 's/^AllowUsers ops$/AllowUsers root/' "$dropin"
mkdir -p /run/sshd
sshd -t -f "$dropin" -h "$work/hostkey" || fail "sshd -t refuses the drop-in"
for want in 'Port 2222' 'PermitRootLogin no' 'PasswordAuthentication no' 'KbdInteractiveAuthentication no'; do
	grep -qx "$want" "$dropin" || fail "the drop-in lacks $want"
done

step "deploy/check: compose, Kubernetes base, Dockerfile"
(cd deploy/check && go test -count=1 ./...) || fail "deploy/check"

echo
if ((failed)); then echo "check-deploy: FAILED" >&2; exit 1; fi
echo "check-deploy: every deployment file passed"
