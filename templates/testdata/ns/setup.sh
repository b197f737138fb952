#!/bin/bash
# PID 1 of one payload test namespace (templates/nstest_harness_test.go).
# It builds the sandbox's view of the filesystem over the real paths, leaving
# the host untouched (tmpfs, bind mounts and an overlay, all private to this
# mount namespace), then hands over to the case's generated inner.sh. $1 is
# the case's host state directory; it is reached as /run/ns from then on,
# because host /tmp (where it usually lives) is covered below.
set -euo pipefail
S=$1
N=/run/ns
ip link set lo up
mount -t tmpfs -o mode=0755,size=16m nstest-run /run
mkdir "$N"
mount --bind "$S" "$N"
mount -t tmpfs -o mode=1777,size=64m,nosuid,nodev nstest-tmp /tmp
mount -t tmpfs -o mode=1777,size=8m,nosuid,nodev nstest-vartmp /var/tmp
mount -t tmpfs -o mode=1777,size=8m,nosuid,nodev nstest-shm /dev/shm
for f in passwd group hosts; do mount --bind "$N/etc/$f" "/etc/$f"; done
install -d -m 0755 /run/ovl/upper /run/ovl/work
mount -t overlay nstest-usrlocallib \
	-o lowerdir=/usr/local/lib,upperdir=/run/ovl/upper,workdir=/run/ovl/work /usr/local/lib
install -d -m 0755 -o root -g root /usr/local/lib/nemoclaw /usr/local/lib/nemoclaw/preloads
install -m 0644 -o root -g root "$N/preloads/sandbox-safety-net.js" "$N/preloads/ciao-network-guard.js" \
	/usr/local/lib/nemoclaw/preloads/
if [ -e "$N/validator.py" ]; then
	install -m 0755 -o root -g root "$N/validator.py" /usr/local/lib/nemoclaw/validate-hermes-env-secret-boundary.py
fi
# The image's login hook: OpenShell execs through `bash -lc`, and the image's
# profile sources the proxy-env, which a sandbox user may have planted.
mount -t tmpfs -o mode=0755,size=1m nstest-profile /etc/profile.d
printf 'if [ -r /tmp/nemoclaw-proxy-env.sh ]; then . /tmp/nemoclaw-proxy-env.sh; fi\n' >/etc/profile.d/nemoclaw-proxy-env.sh
mount --bind "$N/bin" /usr/local/bin
mount -t tmpfs -o mode=0755,size=8m nstest-sandbox /sandbox
install -d -m 0700 -o 1001 -g 1001 /sandbox/.hermes
install -m 0755 -o 1001 -g 1001 -d /sandbox/.home
cp "$N/hermes.env" /sandbox/.hermes/.env
chown 1001:1001 /sandbox/.hermes/.env
chmod 0600 /sandbox/.hermes/.env
if [ -e "$N/stale-init" ]; then
	exec env -i NSTEST_INIT_CHILD="$N/inner.sh" PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		/usr/bin/node /usr/local/bin/openclaw gateway run --port 18789
fi
exec /bin/bash "$N/inner.sh"
