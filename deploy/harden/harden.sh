#!/usr/bin/env bash
# SSH and firewall hardening of a fresh Ubuntu 22.04/24.04 server for
# miniauth (README "Operating it"): SSH on a non-default port, no root
# login, keys only; ufw denying everything incoming but SSH, HTTP and HTTPS.
#
#   sudo deploy/harden/harden.sh --admin-user ubuntu [--ssh-port 2222]
#
# Every change is printed before it is made, and each step asks first
# (--yes answers yes to all, --dry-run shows the plan and changes nothing).
# It refuses to turn password logins off while the admin user has no
# authorized SSH key, which would lock everyone out.
#
# --root DIR writes the files under DIR and only prints the commands it
# would run (for tests).
set -euo pipefail

ssh_port=2222
admin_user=""
assume_yes=false
dry_run=false
root=""

usage() {
	sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-0}"
}

while (($#)); do
	case "$1" in
	--ssh-port) ssh_port=${2:?--ssh-port needs a number}; shift 2 ;;
	--admin-user) admin_user=${2:?--admin-user needs a name}; shift 2 ;;
	--yes) assume_yes=true; shift ;;
	--dry-run) dry_run=true; shift ;;
	--root) root=${2:?--root needs a directory}; shift 2 ;;
	-h | --help) usage 0 ;;
	*) echo "harden: unknown argument $1" >&2; usage 2 >&2 ;;
	esac
done

die() { echo "harden: $*" >&2; exit 1; }

if ! [[ $ssh_port =~ ^[0-9]+$ ]] || ((ssh_port < 1024 || ssh_port > 65535 || ssh_port == 8080 || ssh_port == 9090)); then
	die "--ssh-port must be a free port from 1024 to 65535 (not 8080 or 9090, miniauth's)"
fi
[[ -n $admin_user ]] || die "--admin-user is required: the account you log in with, whose key must be authorized"
if [[ -z $root && $dry_run == false && $(id -u) -ne 0 ]]; then
	die "run as root (sudo), or with --dry-run to see the plan"
fi

# run prints a command, then runs it (only printed under --root).
run() {
	echo "    \$ $*"
	if [[ -z $root ]]; then "$@"; fi
}

# ask prints what a step changes and reports whether to apply it.
ask() {
	echo
	echo "== $1"
	if $dry_run; then
		echo "   (dry run: not applied)"
		return 1
	fi
	if $assume_yes; then return 0; fi
	local answer
	read -r -p "   Apply? [y/N] " answer || answer=""
	[[ $answer == [yY] || $answer == [yY][eE][sS] ]]
}

home_of() {
	if [[ -n $root ]]; then
		echo "$root/home/$1"
	else
		getent passwd "$1" | cut -d: -f6
	fi
}

# 1. sshd: the drop-in, after checking the admin can still get in.
keys="$(home_of "$admin_user")/.ssh/authorized_keys"
[[ -s $keys ]] || die "$keys is missing or empty: add your public key first (ssh-copy-id), or you will be locked out"
dropin="$root/etc/ssh/sshd_config.d/60-miniauth.conf"
want="# Written by miniauth's deploy/harden/harden.sh.
Port $ssh_port
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthenticationMethods publickey
MaxAuthTries 3
X11Forwarding no
AllowUsers $admin_user"

echo "SSH will listen on $ssh_port, for $admin_user only, with keys only."
echo "Keep this session open until a new one on port $ssh_port works:"
echo "  ssh -p $ssh_port $admin_user@<this server>"

if [[ -f $dropin ]] && [[ "$(cat "$dropin")" == "$want" ]]; then
	echo
	echo "== $dropin is already as wanted"
elif ask "write $dropin:
$(diff -u --label "$dropin (now)" --label "$dropin (new)" <(cat "$dropin" 2>/dev/null || true) <(echo "$want") | sed 's/^/   /')"; then
	mkdir -p "$(dirname "$dropin")"
	old=""
	if [[ -f $dropin ]]; then old=$(cat "$dropin"); fi
	echo "$want" >"$dropin"
	chmod 0644 "$dropin"
	# A configuration sshd refuses is put back before anything restarts.
	if ! run sshd -t; then
		if [[ -n $old ]]; then echo "$old" >"$dropin"; else rm -f "$dropin"; fi
		die "sshd -t refused the configuration; $dropin is as it was"
	fi
	# Ubuntu 22.10 and later start sshd from ssh.socket, whose port
	# wins over sshd_config: hand the port back to the service.
	if [[ -z $root ]] && systemctl is-enabled --quiet ssh.socket 2>/dev/null; then
		run systemctl disable --now ssh.socket
		run systemctl enable ssh.service
	fi
	run systemctl restart ssh.service
fi

# 2. ufw: allow the new SSH port before denying anything.
rules=(
	"ufw default deny incoming"
	"ufw default allow outgoing"
	"ufw limit $ssh_port/tcp comment ssh"
	"ufw allow 80/tcp comment http"
	"ufw allow 443/tcp comment https"
	"ufw --force enable"
)
if ask "firewall (ufw): deny incoming but SSH on $ssh_port (rate-limited), HTTP and HTTPS:
$(printf '   %s\n' "${rules[@]}")"; then
	if [[ -z $root ]] && ! command -v ufw >/dev/null; then
		run apt-get install -y ufw
	fi
	for r in "${rules[@]}"; do
		# shellcheck disable=SC2086 # each rule is a command line
		run $r
	done
	run ufw status verbose
fi

echo
echo "Done. miniauth's own ports stay closed to the world: 8080 (nginx proxies"
echo "to it on loopback) and 9090 (metrics: scrape it on loopback or a private network)."
