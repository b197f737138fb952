#!/bin/bash
# PID 1 of a nemoclaw-lab sandbox (started by `unshare --mount --pid --net
# --uts --ipc --fork --kill-child --mount-proc`). Usage: init.sh STATE_DIR MODE
#
# MODE "start" builds the sandbox and runs the image entrypoint (guard chain +
# gateway); MODE "recreate" builds the same sandbox but starts only the
# services that survive a pod recreate (sshd, the inference.local stand-in):
# /tmp is fresh and no entrypoint or gateway runs.
#
# set -e: any failed step ends PID 1, and with it the whole sandbox; the
# launcher sees PID 1 gone and reports this log. Order matters (LAB-NOTES §3):
# /run first so later directories land in the private tmpfs, the state dir
# bound into /run before /tmp is covered (it may live under the host's /tmp).
set -euo pipefail
umask 022
host_state=$1
mode=$2

ip link set lo up
mount -t tmpfs -o mode=0755,size=16m,nosuid,nodev lab-run /run
install -d -m 0755 -o root -g root /run/nemoclaw-lab /run/sshd
install -d -m 0700 -o root -g root /run/nemoclaw-lab/state
mount --bind "$host_state" /run/nemoclaw-lab/state
S=/run/nemoclaw-lab/state
# shellcheck source=/dev/null
. "$S/lab.env"
hostname "$LAB_NAME"
install -m 0664 -g utmp /dev/null /run/utmp

mount -t tmpfs -o mode=1777,size=64m,nosuid,nodev lab-tmp /tmp
mount -t tmpfs -o mode=1777,size=16m,nosuid,nodev lab-vartmp /var/tmp
mount -t tmpfs -o mode=1777,size=16m,nosuid,nodev lab-shm /dev/shm
mount -t tmpfs -o mode=0755,size=16m,nosuid,nodev lab-varlog /var/log
for f in wtmp btmp lastlog; do install -m 0664 -g utmp /dev/null "/var/log/$f"; done
for f in passwd group shadow hosts; do mount --bind "$S/etc/$f" "/etc/$f"; done

mount -t tmpfs -o mode=0755,size=64m,nosuid,nodev lab-home /sandbox
chown sandbox:sandbox /sandbox

# Image content goes into overlays so the host's /usr/local stays untouched.
for d in lib bin; do
	install -d -m 0755 "/run/nemoclaw-lab/ovl-$d/upper" "/run/nemoclaw-lab/ovl-$d/work"
	mount -t overlay "lab-usrlocal$d" \
		-o "lowerdir=/usr/local/$d,upperdir=/run/nemoclaw-lab/ovl-$d/upper,workdir=/run/nemoclaw-lab/ovl-$d/work" \
		"/usr/local/$d"
done
install -d -m 0755 -o root -g root /usr/local/lib/nemoclaw /usr/local/lib/nemoclaw/preloads /usr/local/lib/nemoclaw-lab
install -m 0644 -o root -g root "$S"/image/preloads/* /usr/local/lib/nemoclaw/preloads/
install -m 0644 -o root -g root "$S/image/inference.js" "$S/image/entrypoint.env" /usr/local/lib/nemoclaw-lab/
install -m 0755 -o root -g root "$S/image/entrypoint.sh" /usr/local/lib/nemoclaw-lab/
install -m 0755 -o root -g root "$S/image/bin/$LAB_AGENT" "/usr/local/bin/$LAB_AGENT"

if [ "$LAB_GATEWAY" = openclaw ]; then
	# The real gateway's per-sandbox HOME, prepared on the host (owned by the
	# gateway's run user), bound where the wrapper expects it.
	install -d -m 0755 "$LAB_OPENCLAW_HOME"
	mount --bind "$S/openclaw-home" "$LAB_OPENCLAW_HOME"
fi

# Authorized keys outside any home: sshd checks every directory from / down
# (root 0755 under the private /run passes) and reads the file as the user.
install -d -m 0755 -o root -g root /run/nemoclaw-lab/authorized_keys
for u in $LAB_SSH_USERS; do
	install -m 0644 -o root -g root "$S/client/id_ed25519.pub" "/run/nemoclaw-lab/authorized_keys/$u"
done

/usr/sbin/sshd -D -e -f "$S/sshd_config" </dev/null >>"$S/log/sshd.log" 2>&1 &
/usr/bin/node /usr/local/lib/nemoclaw-lab/inference.js "$S/tls.key" "$S/tls.crt" </dev/null >>"$S/log/inference.log" 2>&1 &

# The entrypoint runs in the foreground (it starts the gateway detached and
# returns); its status tells the launcher the guard chain is written.
if [ "$mode" = start ]; then
	rc=0
	if [ "$LAB_ENTRYPOINT_MODE" = root ]; then
		setpriv --reuid=0 --regid=0 --clear-groups --reset-env \
			/usr/local/lib/nemoclaw-lab/entrypoint.sh </dev/null >>"$S/log/entrypoint.log" 2>&1 || rc=$?
	else
		setpriv --reuid=sandbox --regid=sandbox --init-groups --reset-env \
			/usr/local/lib/nemoclaw-lab/entrypoint.sh </dev/null >>"$S/log/entrypoint.log" 2>&1 || rc=$?
	fi
	echo "$rc" >"$S/entrypoint.status"
fi
echo "init: sandbox $LAB_NAME up ($mode)"

# PID 1 ignores signals it has no handler for; this one makes `kill -TERM`
# stop the whole sandbox. The loop keeps PID 1 alive and, because bash reaps
# every child it is sent, leaves no zombie behind (LAB-NOTES §2).
trap 'kill -TERM -1 2>/dev/null || true; exit 0' TERM INT
while :; do
	(exec -a nemoclaw-lab-idle sleep 3600) &
	wait $! || true
done
