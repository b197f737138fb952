# Paths and facts of the sandbox images (SPEC §5.1). Facts, not data.
readonly NC_PRELOAD_DIR=/usr/local/lib/nemoclaw/preloads
readonly NC_SAFETY_NET_SRC=/usr/local/lib/nemoclaw/preloads/sandbox-safety-net.js
readonly NC_CIAO_SRC=/usr/local/lib/nemoclaw/preloads/ciao-network-guard.js
readonly NC_SHA256SUMS=$NC_PRELOAD_DIR/SHA256SUMS
readonly NC_SAFETY_NET_DST=/tmp/nemoclaw-sandbox-safety-net.js
readonly NC_CIAO_DST=/tmp/nemoclaw-ciao-network-guard.js
readonly NC_PROXY_ENV=/tmp/nemoclaw-proxy-env.sh
readonly NC_RECOVERED_ENV=/tmp/nemoclaw-recovered-proxy-env.sh
readonly NC_LOG_PRIMARY=/tmp/gateway.log
readonly NC_LOG_FALLBACK=/tmp/gateway-recovery.log
readonly NC_LOG_CAP_BYTES=8388608
readonly NC_LOCK_DIR=/tmp/nemoclaw-gateway-recovery.lock
readonly NC_HERMES_ENV_FILE=/sandbox/.hermes/.env
readonly NC_HERMES_VALIDATOR=/usr/local/lib/nemoclaw/validate-hermes-env-secret-boundary.py
readonly NC_INFERENCE_URL=https://inference.local/v1/models
readonly NC_REFUSAL='ERROR: NODE_OPTIONS missing safety-net preload or ciao preload after trusted recovery - refusing unguarded gateway relaunch (#2478/#2701)'
readonly NC_WARN_MISSING='WARNING: /tmp/nemoclaw-proxy-env.sh missing or unsafe - restoring library guards from packaged preloads (#2478/#2701)'
readonly NC_WARN_INCOMPLETE='WARNING: /tmp/nemoclaw-proxy-env.sh incomplete - rewriting library guards from packaged preloads (#2478/#2701)'
# nc_pct sets NC_PCT to $1 percent-encoded for a result line (a variable,
# not output, so no subshell is forked per value): every byte outside
# [A-Za-z0-9._~/:@+,=-] becomes %XX. Mirrors templates.PctEncode. Printable
# ASCII (nearly every detail) is encoded by the shell itself; anything else
# goes through od and awk, byte by byte.
nc_pct() {
	case $1 in
	*[!A-Za-z0-9._~/:@+,=-]*) ;;
	*)
		NC_PCT=$1
		return 0
		;;
	esac
	case $1 in
	*[![:print:]]*)
		NC_PCT=$(nc_pct_bytes "$1")
		return 0
		;;
	esac
	nc_pc_rest=$1
	nc_pc_out=
	while [ -n "$nc_pc_rest" ]; do
		nc_pc_tail=${nc_pc_rest#?}
		nc_pc_c=${nc_pc_rest%"$nc_pc_tail"}
		nc_pc_rest=$nc_pc_tail
		case $nc_pc_c in
		[A-Za-z0-9._~/:@+,=-]) nc_pc_out=$nc_pc_out$nc_pc_c ;;
		' ') nc_pc_out=$nc_pc_out%20 ;;
		'!') nc_pc_out=$nc_pc_out%21 ;;
		'"') nc_pc_out=$nc_pc_out%22 ;;
		'#') nc_pc_out=$nc_pc_out%23 ;;
		'$') nc_pc_out=$nc_pc_out%24 ;;
		'%') nc_pc_out=$nc_pc_out%25 ;;
		'&') nc_pc_out=$nc_pc_out%26 ;;
		"'") nc_pc_out=$nc_pc_out%27 ;;
		'(') nc_pc_out=$nc_pc_out%28 ;;
		')') nc_pc_out=$nc_pc_out%29 ;;
		'*') nc_pc_out=$nc_pc_out%2A ;;
		';') nc_pc_out=$nc_pc_out%3B ;;
		'<') nc_pc_out=$nc_pc_out%3C ;;
		'>') nc_pc_out=$nc_pc_out%3E ;;
		'?') nc_pc_out=$nc_pc_out%3F ;;
		'[') nc_pc_out=$nc_pc_out%5B ;;
		"\\") nc_pc_out=$nc_pc_out%5C ;;
		']') nc_pc_out=$nc_pc_out%5D ;;
		'^') nc_pc_out=$nc_pc_out%5E ;;
		'`') nc_pc_out=$nc_pc_out%60 ;;
		'{') nc_pc_out=$nc_pc_out%7B ;;
		'|') nc_pc_out=$nc_pc_out%7C ;;
		'}') nc_pc_out=$nc_pc_out%7D ;;
		*)
			NC_PCT=$(nc_pct_bytes "$1")
			return 0
			;;
		esac
	done
	NC_PCT=$nc_pc_out
}

# nc_pct_bytes prints any bytes (control characters, UTF-8) encoded.
nc_pct_bytes() {
	printf '%s' "$1" | od -An -v -tx1 | awk '
		BEGIN {
			for (i = 48; i <= 57; i++) keep[sprintf("%02x", i)] = sprintf("%c", i)
			for (i = 65; i <= 90; i++) keep[sprintf("%02x", i)] = sprintf("%c", i)
			for (i = 97; i <= 122; i++) keep[sprintf("%02x", i)] = sprintf("%c", i)
			n = split("46 95 126 47 58 64 43 44 61 45", extra, " ")
			for (i = 1; i <= n; i++) keep[sprintf("%02x", extra[i])] = sprintf("%c", extra[i] + 0)
		}
		{
			for (i = 1; i <= NF; i++) {
				if ($i in keep) printf "%s", keep[$i]
				else printf "%%%s", toupper($i)
			}
		}'
}
# nc_requires_preload OPTIONS PATH: does OPTIONS require PATH with an exact
# token (--require PATH, --require=PATH, -r PATH)? A token that merely
# contains PATH does not count. Globbing is off while splitting, so a `*` in
# NODE_OPTIONS is never expanded. Mirrors templates.RequiresPreload.
nc_requires_preload() {
	nc_rp_found=1
	nc_rp_prev=
	set -f
	for nc_rp_tok in $1; do
		case $nc_rp_prev in
		--require | -r)
			if [ "$nc_rp_tok" = "$2" ]; then
				nc_rp_found=0
				break
			fi
			;;
		esac
		if [ "$nc_rp_tok" = "--require=$2" ]; then
			nc_rp_found=0
			break
		fi
		nc_rp_prev=$nc_rp_tok
	done
	set +f
	return "$nc_rp_found"
}
# ---- time, deadline -------------------------------------------------------

# nc_now_ms sets NC_NOW_MS to a millisecond clock: /proc/uptime read by
# the shell itself (no fork, and it never jumps with the wall clock), else
# date. It sets a variable rather than printing: $(...) would fork.
nc_now_ms() {
	if [ -r /proc/uptime ] && read -r nc_nm_up _ </proc/uptime; then
		case $nc_nm_up in
		*.[0-9][0-9])
			nc_nm_cs=${nc_nm_up%.*}${nc_nm_up#*.}
			nc_nm_cs=${nc_nm_cs#"${nc_nm_cs%%[!0]*}"}
			NC_NOW_MS=$((${nc_nm_cs:-0} * 10))
			return 0
			;;
		esac
	fi
	nc_nm_ns=$(date +%s%N 2>/dev/null) || nc_nm_ns=
	case $nc_nm_ns in
	'' | *[!0-9]*)
		nc_nm_s=$(date +%s)
		NC_NOW_MS=$((nc_nm_s * 1000))
		;;
	*) NC_NOW_MS=${nc_nm_ns%??????} ;;
	esac
}

# nc_elapsed_ms START sets NC_ELAPSED_MS to the milliseconds since START.
nc_elapsed_ms() {
	nc_now_ms
	NC_ELAPSED_MS=$((NC_NOW_MS - $1))
}

# nc_sleep_short waits one polling interval (0.2 s; 1 s where sleep takes
# only integers).
nc_sleep_short() {
	sleep 0.2 2>/dev/null || sleep 1
}

nc_deadline_passed() {
	nc_elapsed_ms "$NC_START_MS"
	[ "$NC_ELAPSED_MS" -ge "$NC_DEADLINE_MS" ]
}

# nc_check_deadline STEP stops the run when the payload's own deadline has
# passed; the host may be gone, the payload must not wait for it.
nc_check_deadline() {
	if nc_deadline_passed; then
		nc_finish failed "payload deadline of $((NC_DEADLINE_MS / 1000))s exceeded during step $1"
	fi
}

# ---- output ---------------------------------------------------------------

# nc_say MESSAGE: one decision, to stderr and (outside check mode) to the
# selected log, prefixed [gateway-recovery].
nc_say() {
	printf '[gateway-recovery] %s\n' "$1" >&2
	if [ "$NC_LOG_OPEN" = 1 ]; then
		printf '[gateway-recovery] %s\n' "$1" >&3 2>/dev/null || :
	fi
}

# nc_emit EVENT FIELDS: one machine line on the host's stdout (fd 4). A
# vanished host must not stop the recovery: write errors are ignored.
nc_emit() {
	printf '@nemoclaw %s %s\n' "$NC_RUN_ID" "$1" >&4 2>/dev/null || :
}

# nc_step NAME STATUS DETAIL
nc_step() {
	nc_say "step $1: $2 - $3"
	nc_pct "$3"
	nc_emit "step step=$1 status=$2 detail=$NC_PCT"
}

nc_progress() {
	nc_pct "$2"
	nc_emit "progress step=$1 detail=$NC_PCT"
}

# nc_log_tail prints the last 20 lines of the selected log.
nc_log_tail() {
	if [ -n "$NC_LOG" ] && [ -f "$NC_LOG" ] && [ ! -L "$NC_LOG" ]; then
		tail -n 20 -- "$NC_LOG" 2>/dev/null
	fi
}

# nc_diag sends what an operator needs after a failure without logging in.
nc_diag() {
	nc_pct "$NC_LOG"
	nc_dg_log=$NC_PCT
	nc_pct "$(nc_log_tail)"
	nc_dg_tail=$NC_PCT
	nc_pct "$(nc_process_list)"
	nc_emit "diag log=$nc_dg_log log_tail=$nc_dg_tail ps=$NC_PCT"
}

# nc_finish OUTCOME REASON: the one final result line, then exit with the
# status the host expects (0 success, 75 in progress, 1 otherwise).
nc_finish() {
	nc_fi_outcome=$1
	nc_fi_reason=$2
	if [ "$NC_CHECK" = 1 ]; then
		case $nc_fi_outcome in
		already-running | would-recover | would-refuse) ;;
		recovered) nc_fi_outcome=would-recover ;;
		*) nc_fi_outcome=would-refuse ;;
		esac
	fi
	case $nc_fi_outcome in
	already-running | recovered | would-recover) nc_fi_status=0 ;;
	in-progress) nc_fi_status=75 ;;
	*) nc_fi_status=1 ;;
	esac
	if [ "$NC_RESULT_SENT" = 1 ]; then
		exit "$nc_fi_status"
	fi
	NC_RESULT_SENT=1
	nc_say "result: $nc_fi_outcome${nc_fi_reason:+ - $nc_fi_reason}"
	if [ "$nc_fi_status" = 1 ]; then
		nc_diag
	fi
	nc_pct "$NC_GATEWAY_PID"
	nc_fi_pid=$NC_PCT
	nc_pct "$NC_LOG"
	nc_fi_log=$NC_PCT
	nc_pct "$nc_fi_reason"
	nc_emit "result outcome=$nc_fi_outcome gateway_pid=$nc_fi_pid inference=$NC_INFERENCE log=$nc_fi_log reason=$NC_PCT"
	exit "$nc_fi_status"
}

# ---- files ----------------------------------------------------------------

nc_is_root() {
	[ "$NC_UID" = 0 ]
}

# nc_stat PATH sets NC_ST_MODE (octal bits: 444, 644, ...), NC_ST_PERM
# (-rw-r--r--) and NC_ST_UID of PATH itself (a symlink's own), with one
# stat; it fails, with all three empty, when PATH cannot be stat'ed.
nc_stat() {
	NC_ST_MODE=
	NC_ST_PERM=
	NC_ST_UID=
	nc_st_out=$(stat -c '%a %A %u' -- "$1" 2>/dev/null) || return 1
	NC_ST_MODE=${nc_st_out%% *}
	nc_st_out=${nc_st_out#* }
	NC_ST_PERM=${nc_st_out%% *}
	NC_ST_UID=${nc_st_out#* }
}

# nc_group_or_other_writable: after nc_stat, is the group or other write
# bit set?
nc_group_or_other_writable() {
	case $NC_ST_PERM in
	?????w???? | ????????w?) return 0 ;;
	esac
	return 1
}

# nc_same_bytes A B: byte-for-byte equal (cmp, else SHA-256).
nc_same_bytes() {
	if command -v cmp >/dev/null 2>&1; then
		cmp -s -- "$1" "$2"
		return
	fi
	if command -v sha256sum >/dev/null 2>&1; then
		nc_sb_a=$(sha256sum <"$1") || return 1
		nc_sb_b=$(sha256sum <"$2") || return 1
		[ "$nc_sb_a" = "$nc_sb_b" ]
		return
	fi
	return 1
}

# nc_mktemp PREFIX sets NC_TMP to a new private file in /tmp (same
# filesystem as the targets, so the rename is atomic) and registers it for
# removal at exit. Not for use in $(...): the registration would be lost.
nc_mktemp() {
	if ! NC_TMP=$(mktemp "/tmp/.$1.XXXXXXXX" 2>&1); then
		NC_REASON="mktemp failed: $NC_TMP"
		NC_TMP=
		return 1
	fi
	NC_TEMP_FILES="$NC_TEMP_FILES $NC_TMP"
}

# nc_rename_over TMP TARGET: rename(2) TMP over TARGET; a planted symlink at
# TARGET is replaced, never followed (-T: never move into a directory).
nc_rename_over() {
	nc_ro_err=$(mv -f -T -- "$1" "$2" 2>&1) || {
		NC_REASON="rename to $2 failed: $nc_ro_err"
		return 1
	}
}

# ---- processes ------------------------------------------------------------

# nc_pid_alive PID: running and not a zombie.
nc_pid_alive() {
	case $1 in '' | *[!0-9]*) return 1 ;; esac
	if [ -r "/proc/$1/stat" ]; then
		nc_pa_stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
		nc_pa_stat=${nc_pa_stat##*) }
		case $nc_pa_stat in
		Z* | X*) return 1 ;;
		esac
		return 0
	fi
	[ -d "/proc/$1" ] && return 0
	kill -0 "$1" 2>/dev/null
}

# nc_with_timeout SECONDS COMMAND...: run with a cap where timeout exists.
nc_with_timeout() {
	nc_wt_secs=$1
	shift
	if command -v timeout >/dev/null 2>&1; then
		timeout "$nc_wt_secs" "$@"
	else
		"$@"
	fi
}

# ---- HTTP -----------------------------------------------------------------

# nc_http_status URL SECONDS prints the HTTP status of GET URL, 000 when no
# answer. Local probes never go through the sandbox proxy.
nc_http_status() {
	nc_hs_code=
	if command -v curl >/dev/null 2>&1; then
		nc_hs_code=$(curl --noproxy '*' -s -o /dev/null -w '%{http_code}' --max-time "$2" -- "$1" 2>/dev/null)
	elif command -v wget >/dev/null 2>&1; then
		nc_hs_code=$(env -u http_proxy -u HTTP_PROXY -u https_proxy -u HTTPS_PROXY -u all_proxy -u ALL_PROXY \
			wget -q -S -O /dev/null -T "$2" -t 1 -- "$1" 2>&1 | awk '/^ *HTTP\// { c = $2 } END { print c }')
	elif command -v node >/dev/null 2>&1; then
		nc_hs_code=$(env -u NODE_OPTIONS node -e "$NC_NODE_PROBE" "$1" "$2" 2>/dev/null)
	fi
	case $nc_hs_code in
	[0-9][0-9][0-9]) printf '%s\n' "$nc_hs_code" ;;
	*) printf '000\n' ;;
	esac
}

readonly NC_NODE_PROBE='const u = process.argv[1], ms = Number(process.argv[2]) * 1000;
const done = (c) => { process.stdout.write(String(c) + "\n"); process.exit(0); };
const m = u.startsWith("https:") ? require("https") : require("http");
setTimeout(() => done("000"), ms).unref();
const r = m.get(u, { timeout: ms, rejectUnauthorized: false }, (s) => { s.resume(); done(s.statusCode); });
r.on("timeout", () => done("000")); r.on("error", () => done("000"));'

# nc_gateway_alive: the agent's health URL answers 200 or 401 within 3 s.
nc_gateway_alive() {
	NC_LAST_HEALTH=$(nc_http_status "$NC_HEALTH_URL" 3)
	case $NC_LAST_HEALTH in
	200 | 401) return 0 ;;
	esac
	return 1
}

# nc_dashboard_alive: the Hermes dashboard answers 200 or 30x.
nc_dashboard_alive() {
	NC_LAST_HEALTH=$(nc_http_status "$NC_DASHBOARD_URL" 3)
	case $NC_LAST_HEALTH in
	200 | 30[0-9]) return 0 ;;
	esac
	return 1
}

# ---- log selection (every entry point, before anything else) -------------

# nc_log_candidate_ok PATH: usable as the log: a regular file we can append
# to, or absent. Never a symlink (not followed), never a FIFO (never opened:
# opening one for writing would block), never anything else.
nc_log_candidate_ok() {
	if [ -L "$1" ]; then
		NC_REASON="$1 is a symlink"
		return 1
	fi
	if [ -p "$1" ]; then
		NC_REASON="$1 is a FIFO"
		return 1
	fi
	if [ -e "$1" ]; then
		if [ ! -f "$1" ]; then
			NC_REASON="$1 is not a regular file"
			return 1
		fi
		if [ ! -w "$1" ]; then
			NC_REASON="$1 is not writable by uid $NC_UID"
			return 1
		fi
	fi
	return 0
}

# nc_select_log sets NC_LOG (empty: stderr only) and NC_LOG_NOTE.
nc_select_log() {
	NC_LOG=
	NC_LOG_NOTE=
	if nc_log_candidate_ok "$NC_LOG_PRIMARY"; then
		NC_LOG=$NC_LOG_PRIMARY
		return 0
	fi
	NC_LOG_NOTE="$NC_REASON; using $NC_LOG_FALLBACK"
	if nc_log_candidate_ok "$NC_LOG_FALLBACK"; then
		NC_LOG=$NC_LOG_FALLBACK
		return 0
	fi
	NC_LOG_NOTE="$NC_LOG_NOTE, but $NC_REASON; logging to stderr only"
}

# nc_fd3_is PATH: the file open on fd 3 is PATH itself (no swap between the
# checks and the open).
nc_fd3_is() {
	[ -e "/proc/$$/fd/3" ] || return 0
	nc_fi_open=$(stat -L -c '%d:%i' "/proc/$$/fd/3" 2>/dev/null) || return 1
	nc_fi_path=$(stat -c '%d:%i' -- "$1" 2>/dev/null) || return 1
	[ "$nc_fi_open" = "$nc_fi_path" ] && [ ! -L "$1" ] && [ -f "$1" ]
}

# nc_rotate_log moves a log above the size cap to .1 (content is kept there,
# never truncated in place).
nc_rotate_log() {
	nc_rl_size=$(stat -c %s -- "$1" 2>/dev/null) || return 0
	[ "$nc_rl_size" -gt "$NC_LOG_CAP_BYTES" ] || return 0
	if [ -d "$1.1" ] && [ ! -L "$1.1" ]; then
		NC_LOG_NOTE="${NC_LOG_NOTE:+$NC_LOG_NOTE; }not rotating: $1.1 is a directory"
		return 0
	fi
	if nc_rl_err=$(mv -f -T -- "$1" "$1.1" 2>&1); then
		NC_LOG_NOTE="${NC_LOG_NOTE:+$NC_LOG_NOTE; }rotated $1 ($nc_rl_size bytes) to $1.1"
	else
		NC_LOG_NOTE="${NC_LOG_NOTE:+$NC_LOG_NOTE; }could not rotate $1: $nc_rl_err"
	fi
}

# nc_open_log opens the selected log for append on fd 3 and writes the run
# header. Check mode opens nothing: what it would log goes to stderr only.
nc_open_log() {
	[ -n "$NC_LOG" ] || return 0
	if [ "$NC_CHECK" = 1 ]; then
		return 0
	fi
	if [ -f "$NC_LOG" ]; then
		nc_rotate_log "$NC_LOG"
	fi
	if ! nc_log_candidate_ok "$NC_LOG"; then
		NC_LOG_NOTE="${NC_LOG_NOTE:+$NC_LOG_NOTE; }$NC_REASON; logging to stderr only"
		NC_LOG=
		return 0
	fi
	# command: a failed redirection must not end the shell.
	if { command exec 3>>"$NC_LOG"; } 2>/dev/null && nc_fd3_is "$NC_LOG"; then
		NC_LOG_OPEN=1
	else
		exec 3>&-
		NC_LOG_NOTE="${NC_LOG_NOTE:+$NC_LOG_NOTE; }could not open $NC_LOG safely; logging to stderr only"
		NC_LOG=
		return 0
	fi
	nc_say "===== run $NC_RUN_ID: $NC_DISPLAY_NAME ($NC_AGENT, port $NC_PORT) $NC_MODE recovery at $(date -u '+%Y-%m-%dT%H:%M:%SZ') (pid $$, uid $NC_UID) ====="
}

# ---- lock -----------------------------------------------------------------

# nc_lock_holder prints the pid recorded in the lock, if any.
nc_lock_holder() {
	nc_lh_pid=
	if [ -f "$NC_LOCK_DIR/pid" ] && [ ! -L "$NC_LOCK_DIR/pid" ] && [ -r "$NC_LOCK_DIR/pid" ]; then
		read -r nc_lh_pid <"$NC_LOCK_DIR/pid" 2>/dev/null || :
	fi
	case $nc_lh_pid in
	'' | *[!0-9]*) ;;
	*) printf '%s\n' "$nc_lh_pid" ;;
	esac
}

# nc_take_lock: 0 taken; 1 held by a live recovery (NC_LOCK_HOLDER); 2 error
# (NC_REASON). mkdir is atomic and never follows a symlink; the lock holds a
# pid file, and a lock whose pid is dead is moved aside and taken over.
nc_take_lock() {
	nc_tl_tries=0
	while :; do
		if nc_tl_err=$(mkdir -m 0755 -- "$NC_LOCK_DIR" 2>&1); then
			if (umask 022 && printf '%s\n' "$$" >"$NC_LOCK_DIR/pid") 2>/dev/null; then
				NC_LOCK_HELD=1
				return 0
			fi
			rmdir -- "$NC_LOCK_DIR" 2>/dev/null
			NC_REASON="cannot write $NC_LOCK_DIR/pid"
			return 2
		fi
		if [ -L "$NC_LOCK_DIR" ] || [ ! -d "$NC_LOCK_DIR" ]; then
			NC_REASON="cannot take $NC_LOCK_DIR: $nc_tl_err"
			return 2
		fi
		NC_LOCK_HOLDER=$(nc_lock_holder)
		if [ -n "$NC_LOCK_HOLDER" ] && nc_pid_alive "$NC_LOCK_HOLDER"; then
			return 1
		fi
		nc_tl_tries=$((nc_tl_tries + 1))
		if [ "$nc_tl_tries" -gt 15 ]; then
			NC_REASON="cannot take over $NC_LOCK_DIR${NC_LOCK_HOLDER:+ of dead pid $NC_LOCK_HOLDER}"
			return 2
		fi
		if [ -z "$NC_LOCK_HOLDER" ] && [ "$nc_tl_tries" -le 5 ]; then
			# Its creator may be between mkdir and writing the pid.
			nc_sleep_short
			continue
		fi
		nc_tl_stale="$NC_LOCK_DIR.stale.$$"
		if mv -f -T -- "$NC_LOCK_DIR" "$nc_tl_stale" 2>/dev/null; then
			nc_tl_moved=$(head -n 1 -- "$nc_tl_stale/pid" 2>/dev/null) || nc_tl_moved=
			if [ "$nc_tl_moved" != "$NC_LOCK_HOLDER" ] && nc_pid_alive "$nc_tl_moved"; then
				# A live recovery took it in between: give it back.
				mv -T -- "$nc_tl_stale" "$NC_LOCK_DIR" 2>/dev/null
				NC_LOCK_HOLDER=$nc_tl_moved
				return 1
			fi
			rm -rf -- "$nc_tl_stale"
			nc_say "took over stale lock $NC_LOCK_DIR${NC_LOCK_HOLDER:+ of dead pid $NC_LOCK_HOLDER}"
		else
			nc_sleep_short
		fi
	done
}

# shellcheck disable=SC2317 # reached from the EXIT trap
nc_release_lock() {
	[ "$NC_LOCK_HELD" = 1 ] || return 0
	NC_LOCK_HELD=0
	if [ "$(nc_lock_holder)" = "$$" ]; then
		rm -f -- "$NC_LOCK_DIR/pid"
		rmdir -- "$NC_LOCK_DIR" 2>/dev/null
	fi
}

# shellcheck disable=SC2317 # the EXIT trap
nc_on_exit() {
	nc_oe_status=$?
	set +e
	for nc_oe_f in $NC_TEMP_FILES; do
		rm -f -- "$nc_oe_f"
	done
	NC_TEMP_FILES=
	if [ "$NC_RESULT_SENT" != 1 ]; then
		NC_RESULT_SENT=1
		nc_say "payload ended without a result (status $nc_oe_status)"
		nc_pct "$NC_LOG"
		nc_oe_log=$NC_PCT
		nc_pct "payload ended unexpectedly with status $nc_oe_status"
		nc_emit "result outcome=failed gateway_pid= inference=unknown log=$nc_oe_log reason=$NC_PCT"
		nc_oe_status=1
	fi
	nc_release_lock
	exit "$nc_oe_status"
}

# shellcheck disable=SC2317 # the INT and TERM traps
nc_on_signal() {
	trap '' INT TERM
	nc_finish failed "interrupted by SIG$1"
}
# ---- critical guards (SPEC §5.3) ------------------------------------------

# nc_dirs_root_owned PATH: every directory above PATH is owned by uid 0:
# the entry itself and, when it is a symlink, what it resolves to.
nc_dirs_root_owned() {
	nc_dr_links=0
	set -- "$1"
	nc_dr_dir=${1%/*}
	while [ -n "$nc_dr_dir" ]; do
		if [ -L "$nc_dr_dir" ]; then
			nc_dr_links=1
		fi
		set -- "$@" "$nc_dr_dir"
		nc_dr_dir=${nc_dr_dir%/*}
	done
	shift
	set -- "$@" /
	nc_dr_out=$(stat -c '%u %n' -- "$@" 2>&1) || {
		NC_REASON="cannot stat its parent directories: $nc_dr_out"
		return 1
	}
	if [ "$nc_dr_links" = 1 ]; then
		nc_dr_res=$(stat -L -c '%u %n' -- "$@" 2>&1) || {
			NC_REASON="cannot stat its parent directories: $nc_dr_res"
			return 1
		}
		nc_dr_out="$nc_dr_out$NC_NL$nc_dr_res"
	fi
	# Line by line without a here-document (bash may back one with a file).
	nc_dr_rest=$nc_dr_out$NC_NL
	while [ -n "$nc_dr_rest" ]; do
		nc_dr_line=${nc_dr_rest%%"$NC_NL"*}
		nc_dr_rest=${nc_dr_rest#*"$NC_NL"}
		case $nc_dr_line in
		'0 '*) ;;
		*)
			NC_REASON="parent directory ${nc_dr_line#* } is not owned by root (uid ${nc_dr_line%% *})"
			return 1
			;;
		esac
	done
	return 0
}

# nc_file_trusted PATH: readable regular file, not a symlink, not group- or
# other-writable; as root owned by uid 0 with root-owned parents. Sets
# NC_REASON (a fragment) on failure.
nc_file_trusted() {
	if [ -L "$1" ]; then
		NC_REASON="is a symlink"
		return 1
	fi
	if [ ! -e "$1" ]; then
		NC_REASON="unavailable"
		return 1
	fi
	if [ ! -f "$1" ]; then
		NC_REASON="is not a regular file"
		return 1
	fi
	if [ ! -r "$1" ]; then
		NC_REASON="is not readable by uid $NC_UID"
		return 1
	fi
	if ! nc_stat "$1"; then
		NC_REASON="cannot be stat'ed"
		return 1
	fi
	if nc_group_or_other_writable; then
		NC_REASON="is group- or other-writable (mode $NC_ST_MODE)"
		return 1
	fi
	if nc_is_root; then
		if [ "$NC_ST_UID" != 0 ]; then
			NC_REASON="is owned by uid $NC_ST_UID, not root"
			return 1
		fi
		nc_dirs_root_owned "$1" || return 1
	fi
	return 0
}

# nc_sha256_matches SRC: when SHA256SUMS exists, it must itself be trusted
# and list SRC's digest.
nc_sha256_matches() {
	if [ ! -e "$NC_SHA256SUMS" ] && [ ! -L "$NC_SHA256SUMS" ]; then
		return 0
	fi
	if ! nc_file_trusted "$NC_SHA256SUMS"; then
		NC_REASON="cannot be checked: $NC_SHA256SUMS $NC_REASON"
		return 1
	fi
	if ! command -v sha256sum >/dev/null 2>&1; then
		NC_REASON="cannot be checked against $NC_SHA256SUMS: sha256sum not found"
		return 1
	fi
	nc_sm_name=${1##*/}
	nc_sm_want=$(awk -v n="$nc_sm_name" '$2 == n || $2 == ("*" n) { print tolower($1); exit }' "$NC_SHA256SUMS" 2>/dev/null)
	if [ -z "$nc_sm_want" ]; then
		NC_REASON="has no entry in $NC_SHA256SUMS"
		return 1
	fi
	nc_sm_got=$(sha256sum <"$1" 2>/dev/null) || nc_sm_got=
	nc_sm_got=${nc_sm_got%% *}
	if [ "$nc_sm_got" != "$nc_sm_want" ]; then
		NC_REASON="does not match $NC_SHA256SUMS (sha256 ${nc_sm_got:-unreadable}, expected $nc_sm_want)"
		return 1
	fi
	return 0
}

# nc_trusted_source SRC sets NC_REASON to the full refusal message.
nc_trusted_source() {
	if nc_file_trusted "$1" && nc_sha256_matches "$1"; then
		return 0
	fi
	NC_REASON="trusted preload source $1 $NC_REASON - refusing preload install"
	return 1
}

# nc_installed_copy_ok SRC DST: DST is a regular non-symlink 0444 file, owned
# by uid 0 when we are root, whose bytes equal SRC's.
nc_installed_copy_ok() {
	if [ -L "$2" ]; then
		NC_REASON="$2 is a symlink"
		return 1
	fi
	if [ ! -e "$2" ]; then
		NC_REASON="$2 is missing"
		return 1
	fi
	if [ ! -f "$2" ]; then
		NC_REASON="$2 is not a regular file"
		return 1
	fi
	nc_stat "$2"
	if [ "$NC_ST_MODE" != 444 ]; then
		NC_REASON="$2 has mode ${NC_ST_MODE:-unknown}, not 0444"
		return 1
	fi
	if nc_is_root && [ "$NC_ST_UID" != 0 ]; then
		NC_REASON="$2 is owned by uid ${NC_ST_UID:-unknown}, not root"
		return 1
	fi
	if ! nc_same_bytes "$1" "$2"; then
		NC_REASON="$2 content differs from trusted source $1"
		return 1
	fi
	return 0
}

# nc_stage_copy SRC DST: temp file in /tmp, copy, root:root when root, 0444,
# rename over DST.
nc_stage_copy() {
	nc_mktemp nemoclaw-stage || return 1
	nc_sc_tmp=$NC_TMP
	if ! nc_sc_err=$(cat -- "$1" 2>&1 >"$nc_sc_tmp"); then
		NC_REASON="copying $1 failed: $nc_sc_err"
		return 1
	fi
	if nc_is_root && ! nc_sc_err=$(chown 0:0 -- "$nc_sc_tmp" 2>&1); then
		NC_REASON="chown of staged copy failed: $nc_sc_err"
		return 1
	fi
	if ! nc_sc_err=$(chmod 0444 -- "$nc_sc_tmp" 2>&1); then
		NC_REASON="chmod of staged copy failed: $nc_sc_err"
		return 1
	fi
	nc_rename_over "$nc_sc_tmp" "$2"
}

# nc_guard_step STEP SRC DST: make DST a verified copy of the trusted SRC.
# Returns 0 when the guard is ready (or, in check mode, would be).
nc_guard_step() {
	if ! nc_trusted_source "$2"; then
		nc_say "$NC_REASON"
		nc_step "$1" failed "$NC_REASON"
		return 1
	fi
	if nc_installed_copy_ok "$2" "$3"; then
		nc_step "$1" ok "$3 matches trusted source $2"
		return 0
	fi
	nc_gs_why=$NC_REASON
	if [ "$NC_CHECK" = 1 ]; then
		nc_step "$1" would-change "would stage $2 to $3 ($nc_gs_why)"
		return 0
	fi
	nc_say "restoring $3 from trusted source $2: $nc_gs_why"
	if nc_stage_copy "$2" "$3"; then
		if nc_installed_copy_ok "$2" "$3"; then
			nc_step "$1" changed "staged $2 to $3 ($nc_gs_why)"
			return 0
		fi
		nc_gs_fail="staged copy failed verification: $NC_REASON"
	else
		nc_gs_fail=$NC_REASON
		# The rename can fail in sticky /tmp (someone else's file): the
		# existing copy is accepted only if every check holds, content too.
		if nc_installed_copy_ok "$2" "$3"; then
			nc_say "$nc_gs_fail; existing $3 verified against $2, accepting it"
			nc_step "$1" ok "existing $3 verified ($nc_gs_fail)"
			return 0
		fi
		nc_gs_fail="$nc_gs_fail; existing copy rejected: $NC_REASON"
	fi
	nc_say "ERROR: cannot install $3 from trusted source $2: $nc_gs_fail - guard not ready"
	nc_step "$1" failed "$nc_gs_fail"
	return 1
}
# ---- proxy-env: data only, never sourced (SPEC §5.3) ----------------------

# nc_allowlisted_name NAME: the variables an untrusted proxy-env may carry.
nc_allowlisted_name() {
	case $1 in
	HTTP_PROXY | HTTPS_PROXY | NO_PROXY | ALL_PROXY) return 0 ;;
	http_proxy | https_proxy | no_proxy | all_proxy) return 0 ;;
	HERMES_HOME) return 0 ;;
	NODE_EXTRA_CA_CERTS | SSL_CERT_FILE | SSL_CERT_DIR | REQUESTS_CA_BUNDLE | CURL_CA_BUNDLE) return 0 ;;
	OPENCLAW_STATE_DIR | OPENCLAW_WORKSPACE_DIR | OPENCLAW_CONFIG_PATH | OPENCLAW_HOME) return 0 ;;
	OPENCLAW_GATEWAY_BIND | OPENCLAW_GATEWAY_PORT | OPENCLAW_GATEWAY_TOKEN) return 0 ;;
	OPENCLAW_DISABLE_BONJOUR | OPENCLAW_LOG_LEVEL | OPENCLAW_NO_RESPAWN) return 0 ;;
	esac
	return 1
}

# nc_allowlisted_export LINE: is LINE exactly `export NAME='value'` or
# `export NAME="value"` with an allow-listed NAME and a value free of $, `,
# \, quotes and control characters? Sets NC_AL_NAME, NC_AL_VALUE, or
# NC_REASON (never containing the value, which may be a credential).
nc_allowlisted_export() {
	case $1 in
	'export '*) ;;
	*)
		NC_REASON="not an export assignment"
		return 1
		;;
	esac
	nc_ae_rest=${1#export }
	case $nc_ae_rest in
	*=*) ;;
	*)
		NC_REASON="not an export assignment"
		return 1
		;;
	esac
	NC_AL_NAME=${nc_ae_rest%%=*}
	nc_ae_quoted=${nc_ae_rest#*=}
	case $NC_AL_NAME in
	'' | [!A-Za-z_]* | *[!A-Za-z0-9_]*)
		NC_REASON="malformed variable name"
		return 1
		;;
	esac
	if ! nc_allowlisted_name "$NC_AL_NAME"; then
		NC_REASON="$NC_AL_NAME is not allow-listed"
		return 1
	fi
	case $nc_ae_quoted in
	\'*\')
		NC_AL_VALUE=${nc_ae_quoted#\'}
		NC_AL_VALUE=${NC_AL_VALUE%\'}
		;;
	\"*\")
		NC_AL_VALUE=${nc_ae_quoted#\"}
		NC_AL_VALUE=${NC_AL_VALUE%\"}
		;;
	*)
		NC_REASON="value of $NC_AL_NAME is not one quoted string"
		return 1
		;;
	esac
	case $NC_AL_VALUE in
	*'$'* | *'`'* | *"\\"* | *"'"* | *'"'* | *[[:cntrl:]]*)
		NC_REASON="value of $NC_AL_NAME contains a forbidden character"
		return 1
		;;
	esac
	return 0
}

# nc_allowlisted_lines FILE prints the allow-listed assignments of FILE,
# normalised to `export NAME='value'`, and logs every line it drops.
nc_allowlisted_lines() {
	nc_al_n=0
	while IFS= read -r nc_al_line || [ -n "$nc_al_line" ]; do
		nc_al_n=$((nc_al_n + 1))
		case $nc_al_line in
		'' | '#'*) continue ;;
		esac
		if nc_allowlisted_export "$nc_al_line"; then
			printf "export %s='%s'\n" "$NC_AL_NAME" "$NC_AL_VALUE"
		else
			nc_say "dropped line $nc_al_n of untrusted $1: $NC_REASON"
		fi
	done <"$1"
}

# nc_classify_proxy_env sets NC_PE_STATE (missing, trusted, untrusted-file,
# unreadable-special, directory) and NC_PE_WHY. Trusted means a regular
# non-symlink file, mode 0444, uid 0: checkable by any runner.
nc_classify_proxy_env() {
	NC_PE_WHY=
	if [ -L "$NC_PROXY_ENV" ]; then
		NC_PE_STATE=unreadable-special
		NC_PE_WHY="is a symlink (not followed)"
	elif [ ! -e "$NC_PROXY_ENV" ]; then
		NC_PE_STATE=missing
		NC_PE_WHY="is missing"
	elif [ -d "$NC_PROXY_ENV" ]; then
		NC_PE_STATE=directory
		NC_PE_WHY="is a directory"
	elif [ ! -f "$NC_PROXY_ENV" ]; then
		NC_PE_STATE=unreadable-special
		NC_PE_WHY="is not a regular file (not opened)"
	else
		nc_stat "$NC_PROXY_ENV"
		nc_cp_uid=$NC_ST_UID
		nc_cp_mode=$NC_ST_MODE
		if [ "$nc_cp_uid" = 0 ] && [ "$nc_cp_mode" = 444 ]; then
			NC_PE_STATE=trusted
			NC_PE_WHY="is root-owned 0444"
		else
			NC_PE_STATE=untrusted-file
			NC_PE_WHY="is owned by uid ${nc_cp_uid:-unknown} with mode ${nc_cp_mode:-unknown} (trusted only as uid 0, mode 0444)"
		fi
	fi
}

# nc_render_env_base prints the generated env's header line and the kept
# content: a trusted proxy-env verbatim, an untrusted one's allow-listed
# assignments only, nothing from anything else.
nc_render_env_base() {
	printf '# generated by nemoclaw gateway recovery from %s (%s); sourced only by the recovery payload\n' "$NC_PROXY_ENV" "$NC_PE_STATE"
	case $NC_PE_STATE in
	trusted)
		cat -- "$NC_PROXY_ENV"
		if [ -n "$(tail -c 1 -- "$NC_PROXY_ENV")" ]; then
			printf '\n'
		fi
		;;
	untrusted-file)
		nc_allowlisted_lines "$NC_PROXY_ENV"
		;;
	esac
}

# nc_guard_lines OPTIONS prints one NODE_OPTIONS line per ready guard that
# OPTIONS does not already require.
nc_guard_lines() {
	if [ "$NC_SAFETY_READY" = 1 ] && ! nc_requires_preload "$1" "$NC_SAFETY_NET_DST"; then
		# shellcheck disable=SC2016 # the line is for the generated file, expanded when it is sourced
		printf 'export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--require %s"\n' "$NC_SAFETY_NET_DST"
	fi
	if [ "$NC_CIAO_READY" = 1 ] && ! nc_requires_preload "$1" "$NC_CIAO_DST"; then
		# shellcheck disable=SC2016 # as above
		printf 'export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--require %s"\n' "$NC_CIAO_DST"
	fi
}

# nc_node_options_after FILE prints NODE_OPTIONS as sourcing FILE (our own
# private copy) would leave it, computed in a throw-away subshell.
nc_node_options_after() {
	(
		set +u
		# shellcheck disable=SC1090 # generated at run time
		. "$1" >/dev/null 2>&1
		printf '%s' "${NODE_OPTIONS-}"
	) 3>&- 4>&-
}

# nc_predicted_node_options: check mode never sources anything, so for a
# trusted proxy-env it reads the file's words as data (quotes removed).
nc_predicted_node_options() {
	if [ "$NC_PE_STATE" = trusted ]; then
		printf '%s %s' "${NODE_OPTIONS-}" "$(tr "\"'" '  ' <"$NC_PROXY_ENV" 2>/dev/null)"
	else
		printf '%s' "${NODE_OPTIONS-}"
	fi
}

# nc_recovered_env_current FILE_OR_DASH: the existing recovered env is ours
# (regular, non-symlink, 0444, our uid) and has exactly this content.
nc_recovered_env_current() {
	[ -f "$NC_RECOVERED_ENV" ] && [ ! -L "$NC_RECOVERED_ENV" ] || return 1
	nc_stat "$NC_RECOVERED_ENV"
	[ "$NC_ST_MODE" = 444 ] && [ "$NC_ST_UID" = "$NC_UID" ] || return 1
	cmp -s -- "$1" "$NC_RECOVERED_ENV"
}

# nc_source_env FILE: parse-check, then source the one generated file, and
# put back what the payload itself relies on.
nc_source_env() {
	if ! nc_se_err=$(sh -n "$1" 2>&1); then
		NC_REASON="generated env $1 does not parse: $nc_se_err"
		return 1
	fi
	# An entrypoint's env may expand unset variables ("$NODE_OPTIONS ..."):
	# set -u must not turn that into the end of the recovery.
	set +u
	# shellcheck disable=SC1090 # generated at run time
	. "$1"
	set +e
	set -u
	IFS=$NC_IFS
	PATH=$NC_PATH
	export PATH
	return 0
}

nc_proxy_env_warning() {
	case $NC_PE_STATE in
	trusted)
		if [ -n "$1" ]; then
			nc_say "$NC_WARN_INCOMPLETE"
		fi
		;;
	unreadable-special)
		nc_say "$NC_PROXY_ENV $NC_PE_WHY: all of its content dropped, nothing read from it"
		nc_say "$NC_WARN_MISSING"
		;;
	*)
		nc_say "$NC_PROXY_ENV $NC_PE_WHY"
		nc_say "$NC_WARN_MISSING"
		;;
	esac
}

# nc_proxy_env_step builds /tmp/nemoclaw-recovered-proxy-env.sh and sources
# it (check mode: predicts it and reports).
nc_proxy_env_step() {
	nc_classify_proxy_env
	if [ "$NC_PE_STATE" = directory ]; then
		NC_PE_FATAL="$NC_PROXY_ENV is a directory: the guard chain cannot be read or repaired"
		nc_say "ERROR: $NC_PE_FATAL"
		nc_step proxy-env failed "$NC_PE_FATAL"
		return 1
	fi
	if [ "$NC_CHECK" = 1 ]; then
		nc_pe_opts=$(nc_predicted_node_options)
		nc_pe_lines=$(nc_guard_lines "$nc_pe_opts")
		nc_proxy_env_warning "$nc_pe_lines"
		NC_PREDICTED_NODE_OPTIONS=$nc_pe_opts
		for nc_pe_dst in $(printf '%s\n' "$nc_pe_lines" | awk '{ print $NF }' | tr -d '"'); do
			NC_PREDICTED_NODE_OPTIONS="$NC_PREDICTED_NODE_OPTIONS --require $nc_pe_dst"
		done
		if { nc_render_env_base && nc_guard_lines "$nc_pe_opts"; } | nc_recovered_env_current -; then
			nc_step proxy-env ok "$NC_RECOVERED_ENV is current ($NC_PROXY_ENV $NC_PE_WHY)"
		else
			nc_step proxy-env would-change "would generate $NC_RECOVERED_ENV ($NC_PROXY_ENV $NC_PE_WHY)"
		fi
		return 0
	fi
	if ! nc_mktemp nemoclaw-env; then
		NC_PE_FATAL="cannot create the recovered env: $NC_REASON"
		nc_say "ERROR: $NC_PE_FATAL"
		nc_step proxy-env failed "$NC_PE_FATAL"
		return 1
	fi
	nc_pe_tmp=$NC_TMP
	if ! nc_render_env_base >"$nc_pe_tmp"; then
		NC_PE_FATAL="cannot write $nc_pe_tmp"
		nc_say "ERROR: $NC_PE_FATAL"
		nc_step proxy-env failed "$NC_PE_FATAL"
		return 1
	fi
	if [ "$NC_PE_STATE" = trusted ]; then
		nc_pe_opts=$(nc_node_options_after "$nc_pe_tmp")
	else
		nc_pe_opts=${NODE_OPTIONS-}
	fi
	nc_pe_lines=$(nc_guard_lines "$nc_pe_opts")
	nc_proxy_env_warning "$nc_pe_lines"
	if [ -n "$nc_pe_lines" ]; then
		printf '%s\n' "$nc_pe_lines" >>"$nc_pe_tmp"
	fi
	nc_pe_status=ok
	nc_pe_detail="$NC_RECOVERED_ENV is current"
	NC_ENV_FILE=$NC_RECOVERED_ENV
	if ! nc_recovered_env_current "$nc_pe_tmp"; then
		chmod 0444 -- "$nc_pe_tmp"
		if nc_rename_over "$nc_pe_tmp" "$NC_RECOVERED_ENV"; then
			nc_pe_status=changed
			nc_pe_detail="wrote $NC_RECOVERED_ENV"
		else
			# Someone else's file in sticky /tmp: use a per-run file.
			nc_say "$NC_REASON; using per-run env $nc_pe_tmp"
			NC_ENV_FILE=$nc_pe_tmp
			nc_pe_status=changed
			nc_pe_detail="wrote per-run env $nc_pe_tmp ($NC_REASON)"
		fi
	fi
	if ! nc_source_env "$NC_ENV_FILE"; then
		NC_PE_FATAL=$NC_REASON
		nc_say "ERROR: $NC_PE_FATAL"
		nc_step proxy-env failed "$NC_PE_FATAL"
		return 1
	fi
	nc_say "sourced $NC_ENV_FILE"
	nc_step proxy-env "$nc_pe_status" "$nc_pe_detail ($NC_PROXY_ENV $NC_PE_WHY)"
}
# ---- gateway processes ------------------------------------------------------

# nc_matching_pids ERE prints the pids whose command line matches ERE, never
# this payload, its parent or its own children. The agent patterns bracket
# their first letter, so ps/awk/pgrep never match themselves.
nc_matching_pids() {
	if command -v ps >/dev/null 2>&1; then
		ps -eo pid=,ppid=,args= 2>/dev/null | NC_PAT=$1 NC_SELF=$$ NC_PARENT=$PPID awk '
			{
				pid = $1; ppid = $2; $1 = ""; $2 = ""
				if (pid != ENVIRON["NC_SELF"] && pid != ENVIRON["NC_PARENT"] && ppid != ENVIRON["NC_SELF"] && $0 ~ ENVIRON["NC_PAT"]) print pid
			}'
	elif command -v pgrep >/dev/null 2>&1; then
		pgrep -f -- "$1" | NC_SELF=$$ awk '$1 != ENVIRON["NC_SELF"]'
	fi
}

# nc_process_list prints the agent's processes (pid, user, command) for
# diagnostics.
nc_process_list() {
	command -v ps >/dev/null 2>&1 || return 0
	ps -eo pid=,user=,args= 2>/dev/null | NC_PAT1=$NC_GATEWAY_PATTERN NC_PAT2=$NC_DASHBOARD_PATTERN NC_DASH=$NC_DASHBOARD_ENABLED awk '
		{
			line = $0; $1 = ""; $2 = ""
			if ($0 ~ ENVIRON["NC_PAT1"] || (ENVIRON["NC_DASH"] == "1" && $0 ~ ENVIRON["NC_PAT2"])) print line
		}'
}

# nc_wait_gone ERE MILLISECONDS: poll until nothing matches.
nc_wait_gone() {
	nc_now_ms
	nc_wg_start=$NC_NOW_MS
	while [ -n "$(nc_matching_pids "$1")" ]; do
		nc_elapsed_ms "$nc_wg_start"
		if [ "$NC_ELAPSED_MS" -ge "$2" ]; then
			return 1
		fi
		nc_sleep_short
	done
	return 0
}

# nc_signal_pids SIGNAL PIDS... logs kill's own error text on failure.
nc_signal_pids() {
	nc_sg_sig=$1
	shift
	for nc_sg_pid in "$@"; do
		if ! nc_sg_err=$(kill "-$nc_sg_sig" "$nc_sg_pid" 2>&1); then
			nc_say "kill -$nc_sg_sig $nc_sg_pid failed: $nc_sg_err"
		fi
	done
}

# nc_stop_processes ERE LABEL: TERM, wait up to 5 s, KILL, wait up to 5 s.
# Sets NC_STOPPED (what was running) and NC_SURVIVORS; 0 when none is left.
nc_stop_processes() {
	NC_SURVIVORS=
	NC_STOPPED=$(nc_matching_pids "$1" | tr '\n' ' ')
	NC_STOPPED=${NC_STOPPED% }
	[ -n "$NC_STOPPED" ] || return 0
	nc_say "stopping $2 processes $NC_STOPPED with SIGTERM"
	# shellcheck disable=SC2086 # a list of pids, split on purpose
	nc_signal_pids TERM $NC_STOPPED
	if nc_wait_gone "$1" 5000; then
		return 0
	fi
	nc_sp_left=$(nc_matching_pids "$1" | tr '\n' ' ')
	nc_say "$2 processes ${nc_sp_left% } still running 5 s after SIGTERM; sending SIGKILL"
	# shellcheck disable=SC2086 # as above
	nc_signal_pids KILL $nc_sp_left
	if nc_wait_gone "$1" 5000; then
		return 0
	fi
	NC_SURVIVORS=$(nc_matching_pids "$1" | tr '\n' ' ')
	NC_SURVIVORS=${NC_SURVIVORS% }
	return 1
}

# nc_remove_openclaw_locks removes /tmp/openclaw-*/gateway.*.lock left by a
# dead gateway. A lock whose directory is a symlink is left alone (removing
# through it would follow the link); a lock that is itself a symlink is
# removed as a link.
nc_remove_openclaw_locks() {
	NC_LOCKS_REMOVED=
	for nc_ol_lock in /tmp/openclaw-*/gateway.*.lock; do
		[ -e "$nc_ol_lock" ] || [ -L "$nc_ol_lock" ] || continue
		nc_ol_dir=${nc_ol_lock%/*}
		if [ -L "$nc_ol_dir" ] || [ ! -d "$nc_ol_dir" ]; then
			nc_say "not removing $nc_ol_lock: $nc_ol_dir is not a real directory"
			continue
		fi
		if [ -d "$nc_ol_lock" ] && [ ! -L "$nc_ol_lock" ]; then
			nc_say "not removing $nc_ol_lock: it is a directory"
			continue
		fi
		if [ "$NC_CHECK" = 1 ]; then
			nc_say "would remove stale OpenClaw lock $nc_ol_lock"
			NC_LOCKS_REMOVED="$NC_LOCKS_REMOVED $nc_ol_lock"
			continue
		fi
		if nc_ol_err=$(rm -f -- "$nc_ol_lock" 2>&1); then
			nc_say "removed stale OpenClaw lock $nc_ol_lock"
			NC_LOCKS_REMOVED="$NC_LOCKS_REMOVED $nc_ol_lock"
		else
			nc_say "could not remove $nc_ol_lock: $nc_ol_err"
		fi
	done
}

# nc_find_binary sets NC_BINARY_PATH: an absolute NC_BINARY if executable,
# else command -v of its base name.
nc_find_binary() {
	NC_BINARY_PATH=
	case $NC_BINARY in
	/*)
		if [ -f "$NC_BINARY" ] && [ -x "$NC_BINARY" ]; then
			NC_BINARY_PATH=$NC_BINARY
			return 0
		fi
		nc_fb_name=${NC_BINARY##*/}
		;;
	*) nc_fb_name=$NC_BINARY ;;
	esac
	NC_BINARY_PATH=$(command -v "$nc_fb_name" 2>/dev/null) || NC_BINARY_PATH=
	[ -n "$NC_BINARY_PATH" ]
}

# nc_spawn COMMAND...: start detached (own session when setsid exists,
# immune to hangups), stdin /dev/null, output appended to the log, none of
# the payload's other descriptors (the host's stdout) inherited. Sets
# NC_SPAWNED_PID (the exec chain keeps the pid). dash makes background jobs
# ignore SIGINT and SIGQUIT and `trap -` cannot undo that; Node (every
# gateway here) resets all dispositions at startup, so its INT still works.
nc_spawn() {
	if command -v nohup >/dev/null 2>&1; then
		set -- nohup "$@"
	fi
	if command -v setsid >/dev/null 2>&1; then
		set -- setsid "$@"
	fi
	if [ "$NC_LOG_OPEN" = 1 ]; then
		(
			trap - INT QUIT TERM HUP PIPE EXIT
			exec "$@"
		) </dev/null >&3 2>&3 3>&- 4>&- &
	else
		(
			trap - INT QUIT TERM HUP PIPE EXIT
			exec "$@"
		) </dev/null >/dev/null 2>&1 3>&- 4>&- &
	fi
	NC_SPAWNED_PID=$!
}

# nc_words QUOTED_ARGV prints the words of a header argv, space-separated,
# for messages.
nc_words() {
	eval "set -- $1"
	printf '%s\n' "$*"
}

# nc_spawn_words QUOTED_ARGV: nc_spawn with a header argv.
nc_spawn_words() {
	eval "set -- $1"
	nc_spawn "$@"
}

# nc_launch_gateway QUOTED_ARGV: the agent's command, as `gateway` through
# gosu when root, OpenClaw, and both exist. Sets NC_GATEWAY_PID and
# NC_LAUNCH_DESC.
nc_launch_gateway() {
	eval "set -- $1"
	nc_lg_as="uid $NC_UID"
	if nc_is_root && [ -n "$NC_GOSU_USER" ] && command -v gosu >/dev/null 2>&1 &&
		id -u "$NC_GOSU_USER" >/dev/null 2>&1; then
		set -- gosu "$NC_GOSU_USER" "$@"
		nc_lg_as="user $NC_GOSU_USER (gosu)"
	fi
	NC_LAUNCH_DESC="$* as $nc_lg_as"
	nc_say "launching $NC_DISPLAY_NAME gateway: $NC_LAUNCH_DESC, output appended to ${NC_LOG:-/dev/null}"
	nc_spawn "$@"
	NC_GATEWAY_PID=$NC_SPAWNED_PID
}

# nc_wait_ready PID LABEL PROBE: poll PROBE every 0.2 s until it succeeds,
# failing fast when PID exits, up to the readiness budget.
nc_wait_ready() {
	nc_now_ms
	nc_wr_start=$NC_NOW_MS
	nc_wr_next=2000
	while :; do
		if "$3"; then
			return 0
		fi
		if ! nc_pid_alive "$1"; then
			NC_REASON="$2 (pid $1) exited before answering its health check"
			return 1
		fi
		nc_elapsed_ms "$nc_wr_start"
		nc_wr_el=$NC_ELAPSED_MS
		if [ "$nc_wr_el" -ge "$NC_READINESS_MS" ]; then
			NC_REASON="$2 (pid $1) not healthy within $((NC_READINESS_MS / 1000))s (last status $NC_LAST_HEALTH)"
			return 1
		fi
		if nc_deadline_passed; then
			NC_REASON="payload deadline reached while waiting for $2 (pid $1)"
			return 1
		fi
		if [ "$nc_wr_el" -ge "$nc_wr_next" ]; then
			nc_progress launch "waiting for $2 (pid $1) to answer: $((nc_wr_el / 1000))s"
			nc_wr_next=$((nc_wr_next + 2000))
		fi
		nc_sleep_short
	done
}

# nc_settle PID LABEL PROBE: the same PID stays alive and healthy for the
# settle window; one that answers and then dies is a failed recovery.
nc_settle() {
	nc_now_ms
	nc_se_start=$NC_NOW_MS
	while :; do
		if ! nc_pid_alive "$1"; then
			NC_REASON="$2 (pid $1) exited during the $((NC_SETTLE_MS / 1000))s settle window"
			return 1
		fi
		if ! "$3"; then
			NC_REASON="$2 (pid $1) stopped answering during the settle window (status $NC_LAST_HEALTH)"
			return 1
		fi
		nc_elapsed_ms "$nc_se_start"
		if [ "$NC_ELAPSED_MS" -ge "$NC_SETTLE_MS" ]; then
			return 0
		fi
		nc_sleep_short
	done
}
# ---- the steps of SPEC §5.2, in order --------------------------------------

nc_lock_step() {
	if [ "$NC_CHECK" = 1 ]; then
		# Check mode writes nothing, so it takes no lock; it reports one.
		nc_ls_holder=$(nc_lock_holder)
		if [ -n "$nc_ls_holder" ] && nc_pid_alive "$nc_ls_holder"; then
			nc_step lock skipped "check mode takes no lock; a recovery (pid $nc_ls_holder) holds $NC_LOCK_DIR now"
		else
			nc_step lock skipped "check mode takes no lock"
		fi
		return 0
	fi
	nc_take_lock
	case $? in
	0) nc_step lock ok "took $NC_LOCK_DIR" ;;
	1)
		nc_step lock skipped "another recovery (pid $NC_LOCK_HOLDER) holds $NC_LOCK_DIR"
		nc_finish in-progress "another recovery of this sandbox is in progress (pid $NC_LOCK_HOLDER)"
		;;
	*)
		nc_say "ERROR: $NC_REASON"
		nc_step lock failed "$NC_REASON"
		nc_finish failed "$NC_REASON"
		;;
	esac
}

nc_log_step() {
	if [ -n "$NC_LOG_NOTE" ]; then
		nc_say "log: $NC_LOG_NOTE"
	fi
	if [ -z "$NC_LOG" ]; then
		nc_step log skipped "no safe log file: $NC_LOG_NOTE"
	elif [ "$NC_CHECK" = 1 ]; then
		nc_step log ok "check mode: would log to $NC_LOG; nothing written${NC_LOG_NOTE:+ ($NC_LOG_NOTE)}"
	else
		nc_step log ok "logging to $NC_LOG${NC_LOG_NOTE:+ ($NC_LOG_NOTE)}"
	fi
}

# nc_guards_hold: the refusal invariant's test. Both guards ready and both
# exact --require tokens in NODE_OPTIONS (check mode: in the NODE_OPTIONS
# the recovered env would give). Sets NC_GUARD_CAUSE when they do not hold.
nc_guards_hold() {
	if [ "$NC_CHECK" = 1 ]; then
		nc_gh_opts=$NC_PREDICTED_NODE_OPTIONS
	else
		nc_gh_opts=${NODE_OPTIONS-}
	fi
	NC_GUARD_CAUSE=
	if [ -n "$NC_PE_FATAL" ]; then
		NC_GUARD_CAUSE=$NC_PE_FATAL
	elif [ "$NC_SAFETY_READY" != 1 ]; then
		NC_GUARD_CAUSE="safety-net guard $NC_SAFETY_NET_DST could not be restored from a trusted source"
	elif [ "$NC_CIAO_READY" != 1 ]; then
		NC_GUARD_CAUSE="ciao guard $NC_CIAO_DST could not be restored from a trusted source"
	elif ! nc_requires_preload "$nc_gh_opts" "$NC_SAFETY_NET_DST"; then
		NC_GUARD_CAUSE="NODE_OPTIONS has no exact --require $NC_SAFETY_NET_DST"
	elif ! nc_requires_preload "$nc_gh_opts" "$NC_CIAO_DST"; then
		NC_GUARD_CAUSE="NODE_OPTIONS has no exact --require $NC_CIAO_DST"
	fi
	[ -z "$NC_GUARD_CAUSE" ]
}

# nc_refuse STEP: the refusal, with its exact message; nothing is launched.
nc_refuse() {
	nc_say "$NC_REFUSAL"
	nc_step "$1" failed "$NC_GUARD_CAUSE"
	nc_finish refused "$NC_GUARD_CAUSE; ${NC_REFUSAL#ERROR: }"
}

# nc_assert_guards STEP reports the invariant as STEP, or refuses.
nc_assert_guards() {
	nc_guards_hold || nc_refuse "$1"
	if [ "$NC_CHECK" = 1 ]; then
		nc_step "$1" ok "NODE_OPTIONS would require both guards"
	else
		nc_step "$1" ok "NODE_OPTIONS requires $NC_SAFETY_NET_DST and $NC_CIAO_DST"
	fi
}

# nc_run_validator ARGS...: the Hermes validator, its output never kept (it
# may print secrets).
nc_run_validator() {
	if [ "$NC_VALIDATOR_DIRECT" = 1 ]; then
		nc_with_timeout 30 "$NC_HERMES_VALIDATOR" "$@" >/dev/null 2>&1
	else
		nc_with_timeout 30 python3 "$NC_HERMES_VALIDATOR" "$@" >/dev/null 2>&1
	fi
}

nc_secret_boundary_step() {
	[ "$NC_SECRET_BOUNDARY" = 1 ] || return 0
	if [ ! -e "$NC_HERMES_VALIDATOR" ] && [ ! -L "$NC_HERMES_VALIDATOR" ]; then
		nc_say "WARNING: Hermes secret-boundary validator $NC_HERMES_VALIDATOR not found - continuing without the secret-boundary check"
		nc_step secret-boundary skipped "validator $NC_HERMES_VALIDATOR not found"
		return 0
	fi
	nc_sb_fail=
	if [ -f "$NC_HERMES_VALIDATOR" ] && [ -x "$NC_HERMES_VALIDATOR" ]; then
		NC_VALIDATOR_DIRECT=1
	elif command -v python3 >/dev/null 2>&1; then
		NC_VALIDATOR_DIRECT=0
	else
		nc_sb_fail="validator $NC_HERMES_VALIDATOR is not executable and python3 is not available"
	fi
	if [ -z "$nc_sb_fail" ] && [ -f "$NC_HERMES_ENV_FILE" ]; then
		nc_run_validator "$NC_HERMES_ENV_FILE"
		nc_sb_status=$?
		if [ "$nc_sb_status" != 0 ]; then
			nc_sb_fail="$NC_HERMES_ENV_FILE check failed (validator exit status $nc_sb_status)"
		fi
	fi
	if [ -z "$nc_sb_fail" ]; then
		nc_run_validator --process-env
		nc_sb_status=$?
		if [ "$nc_sb_status" != 0 ]; then
			nc_sb_fail="runtime environment check failed (validator exit status $nc_sb_status)"
		fi
	fi
	if [ -z "$nc_sb_fail" ]; then
		nc_step secret-boundary ok "validator passed"
		return 0
	fi
	nc_say "ERROR: Hermes secret boundary violation: $nc_sb_fail (validator output withheld: it may contain secrets) - stopping the Hermes gateway and dashboard"
	if [ "$NC_CHECK" = 1 ]; then
		nc_step secret-boundary failed "$nc_sb_fail; would stop the Hermes gateway and dashboard"
		nc_finish secret-boundary-refused "$nc_sb_fail"
	fi
	nc_sb_left=
	nc_stop_processes "$NC_GATEWAY_PATTERN" "Hermes gateway" || nc_sb_left=$NC_SURVIVORS
	nc_stop_processes "$NC_DASHBOARD_PATTERN" "Hermes dashboard" || nc_sb_left="$nc_sb_left $NC_SURVIVORS"
	if [ -n "$nc_sb_left" ]; then
		nc_say "processes still running after SIGKILL: $nc_sb_left"
	fi
	nc_step secret-boundary failed "$nc_sb_fail"
	nc_finish secret-boundary-refused "$nc_sb_fail"
}

nc_stale_step() {
	if [ "$NC_CHECK" = 1 ]; then
		nc_st_pids=$(nc_matching_pids "$NC_GATEWAY_PATTERN" | tr '\n' ' ')
		if [ "$NC_REMOVE_OPENCLAW_LOCKS" = 1 ]; then
			nc_remove_openclaw_locks
		fi
		if [ -n "$nc_st_pids" ] || [ -n "${NC_LOCKS_REMOVED-}" ]; then
			nc_step stale-processes would-change "would stop ${nc_st_pids:-no processes}${NC_LOCKS_REMOVED:+ and remove${NC_LOCKS_REMOVED}}"
		else
			nc_step stale-processes ok "no stale gateway processes"
		fi
		return 0
	fi
	if ! nc_stop_processes "$NC_GATEWAY_PATTERN" "stale $NC_DISPLAY_NAME gateway"; then
		nc_say "ERROR: stale gateway processes $NC_SURVIVORS survived SIGTERM and SIGKILL"
		nc_step stale-processes failed "pids $NC_SURVIVORS survived SIGTERM and SIGKILL"
		nc_finish stale-processes "stale gateway processes $NC_SURVIVORS survived SIGTERM and SIGKILL"
	fi
	NC_LOCKS_REMOVED=
	if [ "$NC_REMOVE_OPENCLAW_LOCKS" = 1 ]; then
		nc_remove_openclaw_locks
	fi
	if [ -n "$NC_STOPPED" ] || [ -n "$NC_LOCKS_REMOVED" ]; then
		nc_step stale-processes changed "stopped ${NC_STOPPED:-no processes}${NC_LOCKS_REMOVED:+; removed${NC_LOCKS_REMOVED}}"
	else
		nc_step stale-processes ok "no stale gateway processes"
	fi
}

nc_binary_step() {
	if nc_find_binary; then
		nc_step binary ok "$NC_BINARY_PATH"
		return 0
	fi
	nc_say "ERROR: $NC_DISPLAY_NAME gateway binary $NC_BINARY not found (PATH=$PATH)"
	nc_step binary failed "$NC_BINARY not found"
	nc_finish agent-missing "$NC_DISPLAY_NAME gateway binary $NC_BINARY not found in the sandbox"
}

# nc_gateway_failed REASON: the launched gateway died or never answered.
nc_gateway_failed() {
	nc_say "ERROR: $1"
	nc_say "last lines of ${NC_LOG:-the log}:"
	# Shown on stderr only, unprefixed: they are already in the log.
	nc_log_tail | while IFS= read -r nc_gf_line; do
		printf '  | %s\n' "$nc_gf_line" >&2
	done
	nc_finish gateway-failed "$1"
}

nc_launch_and_settle_gateway() {
	if [ "$NC_CHECK" = 1 ]; then
		nc_step launch would-change "would launch $(nc_words "$NC_GATEWAY_ARGV")"
		nc_step settle skipped "check mode"
		return 0
	fi
	nc_launch_gateway "$NC_GATEWAY_ARGV"
	if ! nc_wait_ready "$NC_GATEWAY_PID" "$NC_DISPLAY_NAME gateway" nc_gateway_alive; then
		nc_step launch failed "$NC_REASON"
		nc_gateway_failed "$NC_REASON"
	fi
	nc_step launch changed "launched pid $NC_GATEWAY_PID: $NC_LAUNCH_DESC"
	if [ "$NC_SETTLE_MS" -le 0 ]; then
		nc_step settle skipped "settle window disabled"
		return 0
	fi
	if ! nc_settle "$NC_GATEWAY_PID" "$NC_DISPLAY_NAME gateway" nc_gateway_alive; then
		nc_step settle failed "$NC_REASON"
		nc_gateway_failed "$NC_REASON"
	fi
	nc_step settle ok "pid $NC_GATEWAY_PID healthy for $((NC_SETTLE_MS / 1000))s"
}

# nc_dashboard_step ensures the Hermes dashboard serves on its internal port.
nc_dashboard_step() {
	NC_DASH_CHANGED=0
	if nc_dashboard_alive; then
		nc_step dashboard ok "$NC_DASHBOARD_URL answered $NC_LAST_HEALTH (forwarded as port $NC_DASHBOARD_PORT)"
		return 0
	fi
	if [ "$NC_CHECK" = 1 ]; then
		nc_step dashboard would-change "$NC_DASHBOARD_URL answered $NC_LAST_HEALTH; would restart the Hermes dashboard"
		NC_DASH_CHANGED=1
		return 0
	fi
	nc_say "Hermes dashboard not serving on $NC_DASHBOARD_URL (status $NC_LAST_HEALTH)"
	if ! nc_stop_processes "$NC_DASHBOARD_PATTERN" "stale Hermes dashboard"; then
		NC_REASON="stale Hermes dashboard processes $NC_SURVIVORS survived SIGTERM and SIGKILL"
		nc_step dashboard failed "$NC_REASON"
		return 1
	fi
	if ! nc_find_binary; then
		NC_REASON="hermes binary not found for the dashboard"
		nc_step dashboard failed "$NC_REASON"
		return 1
	fi
	nc_guards_hold || nc_refuse dashboard
	nc_say "launching Hermes dashboard on internal port $NC_DASHBOARD_INTERNAL_PORT: $(nc_words "$NC_DASHBOARD_ARGV")"
	nc_spawn_words "$NC_DASHBOARD_ARGV"
	nc_ds_pid=$NC_SPAWNED_PID
	if ! nc_wait_ready "$nc_ds_pid" "Hermes dashboard" nc_dashboard_alive; then
		nc_step dashboard failed "$NC_REASON"
		return 1
	fi
	if [ "$NC_SETTLE_MS" -gt 0 ] && ! nc_settle "$nc_ds_pid" "Hermes dashboard" nc_dashboard_alive; then
		nc_step dashboard failed "$NC_REASON"
		return 1
	fi
	NC_DASH_CHANGED=1
	nc_step dashboard changed "launched Hermes dashboard pid $nc_ds_pid on $NC_DASHBOARD_URL (forwarded as port $NC_DASHBOARD_PORT)"
}

# nc_inference_step probes inference.local through the sandbox's own route
# (its proxy terminates TLS, so verification is off): 200-499 reachable.
nc_inference_step() {
	nc_in_body=
	if command -v curl >/dev/null 2>&1; then
		nc_in_out=$(curl -sk --connect-timeout 3 --max-time 8 -w '\n%{http_code}' -- "$NC_INFERENCE_URL" 2>/dev/null)
		nc_in_code=${nc_in_out##*"$NC_NL"}
		nc_in_body=${nc_in_out%"$NC_NL"*}
	elif command -v wget >/dev/null 2>&1; then
		nc_in_code=$(wget --no-check-certificate -q -S -O /dev/null -T 8 -t 1 -- "$NC_INFERENCE_URL" 2>&1 | awk '/^ *HTTP\// { c = $2 } END { print c }')
	elif command -v node >/dev/null 2>&1; then
		nc_in_code=$(env -u NODE_OPTIONS node -e "$NC_NODE_PROBE" "$NC_INFERENCE_URL" 8 2>/dev/null)
	else
		nc_step inference skipped "no curl, wget or node in the sandbox"
		return 0
	fi
	case $nc_in_code in
	[234][0-9][0-9])
		NC_INFERENCE=ok
		nc_step inference ok "$NC_INFERENCE_URL answered HTTP $nc_in_code"
		;;
	*)
		NC_INFERENCE=broken
		nc_in_head=$(printf '%s' "$nc_in_body" | head -c 160)
		nc_say "inference route broken: $NC_INFERENCE_URL answered ${nc_in_code:-000}"
		nc_step inference failed "HTTP ${nc_in_code:-000} from $NC_INFERENCE_URL${nc_in_head:+: $nc_in_head}"
		;;
	esac
}

# nc_after_gateway OUTCOME: the dashboard (when enabled), inference, result.
nc_after_gateway() {
	if [ "$NC_DASHBOARD_ENABLED" = 1 ]; then
		nc_check_deadline dashboard
		if ! nc_dashboard_step; then
			nc_finish failed "$NC_REASON"
		fi
	fi
	nc_check_deadline inference
	nc_inference_step
	nc_finish "$1" ""
}

nc_running_gateway_pid() {
	nc_rg_pids=$(nc_matching_pids "$NC_GATEWAY_PATTERN")
	printf '%s\n' "${nc_rg_pids%%"$NC_NL"*}"
}

nc_gateway_flow() {
	nc_check_deadline health
	if nc_gateway_alive; then
		NC_GATEWAY_PID=$(nc_running_gateway_pid)
		nc_step health ok "$NC_HEALTH_URL answered $NC_LAST_HEALTH"
		for nc_gw_s in stale-processes binary reassert launch settle; do
			nc_emit "step step=$nc_gw_s status=skipped detail=gateway%20already%20running"
		done
		nc_after_gateway already-running
	fi
	if [ "$NC_CHECK" = 1 ]; then
		nc_step health would-change "$NC_HEALTH_URL answered $NC_LAST_HEALTH; would relaunch the gateway"
	else
		nc_step health failed "$NC_HEALTH_URL answered $NC_LAST_HEALTH; relaunching the gateway"
	fi
	nc_check_deadline stale-processes
	nc_stale_step
	nc_binary_step
	nc_check_deadline reassert
	nc_assert_guards reassert
	nc_launch_and_settle_gateway
	nc_after_gateway recovered
}

nc_dashboard_only_flow() {
	nc_check_deadline health
	if ! nc_gateway_alive; then
		nc_step health failed "$NC_HEALTH_URL answered $NC_LAST_HEALTH"
		nc_finish failed "the Hermes gateway is not running ($NC_HEALTH_URL answered $NC_LAST_HEALTH); a full recovery is needed, not the dashboard-only one"
	fi
	NC_GATEWAY_PID=$(nc_running_gateway_pid)
	nc_step health ok "$NC_HEALTH_URL answered $NC_LAST_HEALTH"
	nc_check_deadline dashboard
	if ! nc_dashboard_step; then
		nc_finish failed "$NC_REASON"
	fi
	nc_check_deadline inference
	nc_inference_step
	if [ "$NC_DASH_CHANGED" = 1 ]; then
		nc_finish recovered ""
	fi
	nc_finish already-running ""
}

nc_main() {
	umask 077
	LC_ALL=C
	export LC_ALL
	NC_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	PATH=$NC_PATH
	export PATH
	set +e
	set -u
	NC_NL='
'
	NC_IFS=$(printf ' \t\nx')
	NC_IFS=${NC_IFS%x}
	IFS=$NC_IFS
	NC_LOG=
	NC_LOG_NOTE=
	NC_LOG_OPEN=0
	NC_RESULT_SENT=0
	NC_LOCK_HELD=0
	NC_LOCK_HOLDER=
	NC_TEMP_FILES=
	NC_TMP=
	NC_REASON=
	NC_GATEWAY_PID=
	NC_INFERENCE=unknown
	NC_SAFETY_READY=0
	NC_CIAO_READY=0
	NC_PE_STATE=missing
	NC_PE_FATAL=
	NC_PREDICTED_NODE_OPTIONS=
	NC_ENV_FILE=
	NC_LAST_HEALTH=000
	NC_DASH_CHANGED=0
	NC_VALIDATOR_DIRECT=0
	NC_LOCKS_REMOVED=
	NC_STOPPED=
	NC_SURVIVORS=
	NC_GUARD_CAUSE=
	NC_PCT=
	NC_UID=$(id -u)
	NC_NOW_MS=0
	NC_ELAPSED_MS=0
	nc_now_ms
	NC_START_MS=$NC_NOW_MS
	trap '' PIPE
	trap nc_on_exit EXIT
	trap 'nc_on_signal INT' INT
	trap 'nc_on_signal TERM' TERM
	# A hangup (the host's connection dropping) must not abort a recovery
	# half-way: the payload runs to its own deadline and reports to the log.
	trap '' HUP

	nc_select_log
	nc_open_log
	nc_lock_step
	nc_log_step
	if nc_guard_step safety-net "$NC_SAFETY_NET_SRC" "$NC_SAFETY_NET_DST"; then
		NC_SAFETY_READY=1
	fi
	if nc_guard_step ciao "$NC_CIAO_SRC" "$NC_CIAO_DST"; then
		NC_CIAO_READY=1
	fi
	nc_check_deadline proxy-env
	nc_proxy_env_step
	nc_assert_guards guards
	nc_check_deadline secret-boundary
	nc_secret_boundary_step
	if [ "$NC_MODE" = hermes-dashboard ]; then
		nc_dashboard_only_flow
	fi
	nc_gateway_flow
}
# fd 4 is the host's stdout (machine lines only); everything else the script
# and its commands print goes to stderr; no command can read the script.
nc_main 4>&1 1>&2 </dev/null
# shellcheck disable=SC2317 # nc_main always exits; this is a guard
exit 1
}
