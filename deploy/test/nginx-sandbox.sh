# shellcheck shell=bash
# Sourced by check.sh and dry-run.sh: runs deploy/nginx/miniauth.conf
# unchanged but for its listen ports, certificate paths and upstream
# address, under a private prefix with a throwaway certificate.

# nginx_sandbox DIR HTTP_PORT HTTPS_PORT UPSTREAM writes DIR/nginx.conf
# (including the site) and a self-signed certificate for auth.example.com
# and 127.0.0.1 at DIR/cert.pem.
nginx_sandbox() {
	local dir=$1 http=$2 https=$3 upstream=$4 site
	site=$(dirname "${BASH_SOURCE[0]}")/../nginx/miniauth.conf
	mkdir -p "$dir/logs" "$dir/www"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
		-subj /CN=auth.example.com -addext "subjectAltName=DNS:auth.example.com,IP:127.0.0.1" \
		-keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
	sed -e "s|listen 80;|listen 127.0.0.1:$http;|" \
		-e "s|listen 443 ssl http2;|listen 127.0.0.1:$https ssl http2;|" \
		-e '/listen \[::\]:/d' \
		-e "s|/etc/ssl/certs/auth.example.com.pem|$dir/cert.pem|" \
		-e "s|/etc/ssl/private/auth.example.com.key|$dir/key.pem|" \
		-e "s|/var/www/html|$dir/www|" \
		-e "s|server 127.0.0.1:8080 |server $upstream |" \
		"$site" >"$dir/miniauth.conf"
	# The substitutions must all have happened, or the test is of another file.
	local n
	n=$(grep -cE "127.0.0.1:($http|$https)|$dir/(cert|key).pem|server $upstream " "$dir/miniauth.conf")
	if ((n != 5)); then
		echo "nginx_sandbox: the site no longer has the listen, certificate or upstream lines it rewrites" >&2
		return 1
	fi
	cat >"$dir/nginx.conf" <<CONF
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
$( [[ $(id -u) -eq 0 ]] && echo "user nobody nogroup;" )
worker_processes 1;
events { worker_connections 256; }
http {
    access_log $dir/logs/access.log;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    include $dir/miniauth.conf;
}
CONF
}
