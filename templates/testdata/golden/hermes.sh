#!/bin/sh
# nemoclaw gateway recovery payload (hermes gateway) from nemoclaw's
# templates/payload (comments there); do not edit. One brace group: a
# truncated upload runs nothing.
# shellcheck disable=SC1090,SC2317 # sources what it generates; trap handlers
{
readonly NC_RUN_ID='golden-run-0001'
readonly NC_AGENT='hermes'
readonly NC_DISPLAY_NAME='Hermes Agent'
readonly NC_MODE='gateway'
# shellcheck disable=SC2034
readonly NC_CHECK='0'
readonly NC_PORT='18789'
# shellcheck disable=SC1003,SC2016
readonly NC_GATEWAY_PATTERN='[h]ermes[[:space:]]+gateway[[:space:]]+run([[:space:]]|$)'
readonly NC_HEALTH_URL='http://localhost:8642/health'
readonly NC_DEADLINE_MS='120000'
readonly NC_READINESS_MS='90000'
readonly NC_SETTLE_MS='3000'
readonly NC_STOP_GRACE_MS='5000'
# shellcheck disable=SC1003,SC2016
readonly NC_GATEWAY_ARGV=''\''env'\'' '\''HERMES_HOME=/sandbox/.hermes'\'' '\''hermes'\'' '\''gateway'\'' '\''run'\'''
readonly NC_BINARY='/usr/local/bin/hermes'
# shellcheck disable=SC1003,SC2016
readonly NC_DASHBOARD_PATTERN='[h]ermes[[:space:]]+dashboard([[:space:]]|$)'
readonly NC_SAFETY_NET_SRC=/usr/local/lib/nemoclaw/preloads/sandbox-safety-net.js \
NC_CIAO_SRC=/usr/local/lib/nemoclaw/preloads/ciao-network-guard.js \
NC_SHA256SUMS=/usr/local/lib/nemoclaw/preloads/SHA256SUMS \
NC_SAFETY_NET_DST=/tmp/nemoclaw-sandbox-safety-net.js \
NC_CIAO_DST=/tmp/nemoclaw-ciao-network-guard.js \
NC_PROXY_ENV=/tmp/nemoclaw-proxy-env.sh \
NC_RECOVERED_ENV=/tmp/nemoclaw-recovered-proxy-env.sh \
NC_LOG_PRIMARY=/tmp/gateway.log \
NC_LOG_FALLBACK=/tmp/gateway-recovery.log \
NC_LOCK_DIR=/tmp/nemoclaw-gateway-recovery.lock \
NC_INFERENCE_URL=https://inference.local/v1/models \
NC_LOCK_MARGIN_MS=30000
readonly NC_LOG_CAP_BYTES=8388608
readonly NC_HERMES_ENV_FILE=/sandbox/.hermes/.env \
NC_HERMES_VALIDATOR=/usr/local/lib/nemoclaw/validate-hermes-env-secret-boundary.py
readonly NC_REFUSAL='ERROR: NODE_OPTIONS missing safety-net preload or ciao preload after trusted recovery - refusing unguarded gateway relaunch (#2478/#2701)'
nc_pct() {
case $1 in
*[![:print:]]*)
NC_PCT=$(nc_pct_bytes "$1")
return 0
;;
*[!A-Za-z0-9._~/:@+,=-]*) ;;
*)
NC_PCT=$1
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
*)
nc_pc_hex=${NC_PCT_MAP#*"$nc_pc_c"}
nc_pc_out=$nc_pc_out%${nc_pc_hex%"${nc_pc_hex#??}"}
;;
esac
done
NC_PCT=$nc_pc_out
}
# shellcheck disable=SC2016
readonly NC_PCT_MAP=' 20!21"22#23$24%25&26'"'"'27(28)29*2A;3B<3C>3E?3F[5B\5C]5D^5E`60{7B|7C}7D'
nc_pct_bytes() {
printf '%s' "$1" | od -An -v -tu1 | awk '{ for (i = 1; i <= NF; i++) { n = $i + 0; c = sprintf("%c", n); if (n > 32 && n < 127 && index(k, c)) printf "%s", c; else printf "%%%02X", n } }' k='0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._~/:@+,=-'
}
nc_requires_preload() {
nc_rp_prev=
set -f
for nc_rp_tok in $1; do
case "$nc_rp_prev $nc_rp_tok" in
"--require $2" | "-r $2" | *" --require=$2")
set +f
return 0
;;
esac
nc_rp_prev=$nc_rp_tok
done
set +f
return 1
}
nc_strip_code_loading() {
NC_SO_KEPT=
NC_SO_DROPPED=
case $1 in
*[\"\\]*)
NC_SO_DROPPED=$1
return 0
;;
esac
nc_so_value=0
set -f
for nc_so_tok in $1; do
if [ "$nc_so_value" = 1 ]; then
nc_so_value=0
NC_SO_DROPPED="$NC_SO_DROPPED $nc_so_tok"
continue
fi
case ${nc_so_tok%%=*} in
--require | --import | --loader | --experimental-loader | --experimental_loader | -r*)
NC_SO_DROPPED="${NC_SO_DROPPED:+$NC_SO_DROPPED
}$nc_so_tok"
case $nc_so_tok in
*=* | -r?*) ;;
*) nc_so_value=1 ;;
esac
;;
*) NC_SO_KEPT="${NC_SO_KEPT:+$NC_SO_KEPT }$nc_so_tok" ;;
esac
done
set +f
}
nc_now_ms() {
if { read -r nc_nm_up _ </proc/uptime; } 2>/dev/null; then
case $nc_nm_up in
*.[0-9][0-9])
nc_nm_cs=${nc_nm_up%.*}${nc_nm_up#*.}
nc_nm_cs=${nc_nm_cs#"${nc_nm_cs%%[!0]*}"}
NC_NOW_MS=$((${nc_nm_cs:-0} * 10))
return 0
;;
esac
fi
NC_NOW_MS=$(($(date +%s) * 1000))
}
nc_elapsed_ms() {
nc_now_ms
NC_ELAPSED_MS=$((NC_NOW_MS - $1))
}
nc_sleep_short() {
sleep 0.2 2>/dev/null || sleep 1
}
nc_deadline_passed() {
nc_elapsed_ms "$NC_START_MS"
[ "$NC_ELAPSED_MS" -ge "$NC_DEADLINE_MS" ]
}
nc_check_deadline() {
nc_deadline_passed && nc_finish failed "payload deadline of $((NC_DEADLINE_MS / 1000))s exceeded during step $1"
}
nc_say() {
printf '[gateway-recovery] %s\n' "$1" >&2
if [ -n "$NC_LOG_FD" ]; then
printf '[gateway-recovery] %s\n' "$1" >&3 2>/dev/null || :
fi
}
nc_emit() {
printf '@nemoclaw %s %s\n' "$NC_RUN_ID" "$1" >&4 2>/dev/null || :
}
nc_step() {
nc_say "step $1: $2 - $3"
nc_pct "$3"
nc_emit "step step=$1 status=$2 detail=$NC_PCT"
}
nc_progress() {
nc_pct "$2"
nc_emit "progress step=$1 detail=$NC_PCT"
}
nc_log_tail() {
[ -f "$NC_LOG" ] && [ ! -L "$NC_LOG" ] && tail -n 20 -- "$NC_LOG" 2>/dev/null
}
nc_diag() {
nc_pct "$NC_LOG"
nc_dg_log=$NC_PCT
nc_pct "$(nc_log_tail)"
nc_dg_tail=$NC_PCT
nc_pct "$(nc_process_list)"
nc_emit "diag log=$nc_dg_log log_tail=$nc_dg_tail ps=$NC_PCT"
}
nc_finish() {
nc_fi_outcome=$1
case $nc_fi_outcome in
already-running | recovered) nc_fi_status=0 ;;
in-progress) nc_fi_status=75 ;;
*) nc_fi_status=1 ;;
esac
[ "$NC_RESULT_SENT" = 1 ] && exit "$nc_fi_status"
NC_RESULT_SENT=1
nc_say "result: $nc_fi_outcome${2:+ - $2}"
[ "$nc_fi_status" != 1 ] || nc_diag
nc_pct "$2"
nc_fi_reason=$NC_PCT
nc_pct "$NC_LOG"
nc_emit "result outcome=$nc_fi_outcome gateway_pid=$NC_GATEWAY_PID inference=$NC_INFERENCE log=$NC_PCT reason=$nc_fi_reason"
exit "$nc_fi_status"
}
nc_is_root() {
[ "$NC_UID" = 0 ]
}
nc_stat() {
NC_ST_MODE=
NC_ST_UID=
nc_st_out=$(stat -c '%a %u' -- "$1" 2>/dev/null) || return 1
NC_ST_MODE=${nc_st_out% *}
NC_ST_UID=${nc_st_out#* }
}
nc_kind() {
NC_KIND=
if [ -L "$1" ]; then
NC_KIND="a symlink"
elif [ ! -e "$1" ]; then
NC_KIND=missing
elif [ -d "$1" ]; then
NC_KIND="a directory"
elif [ ! -f "$1" ]; then
NC_KIND="not a regular file"
fi
}
nc_same_bytes() {
if command -v cmp >/dev/null 2>&1; then
cmp -s -- "$1" "$2"
else
[ "$(sha256sum <"$1")" = "$(sha256sum <"$2")" ]
fi
}
nc_mktemp() {
if ! NC_TMP=$(mktemp "/tmp/.$1.XXXXXXXX" 2>&1); then
NC_REASON="mktemp failed: $NC_TMP"
NC_TMP=
return 1
fi
NC_TEMP_FILES="$NC_TEMP_FILES $NC_TMP"
}
nc_try() {
nc_tr_what=$1
shift
nc_tr_err=$("$@" 2>&1) && return 0
NC_REASON="$nc_tr_what failed: $nc_tr_err"
return 1
}
nc_pid_alive() {
NC_PROC_START=
case $1 in '' | *[!0-9]*) return 1 ;; esac
nc_pa_stat=
if { read -r nc_pa_stat <"/proc/$1/stat"; } 2>/dev/null; then
nc_pa_stat=${nc_pa_stat##*) }
set -f
# shellcheck disable=SC2086
set -- $nc_pa_stat
set +f
case $1 in
Z* | X*) return 1 ;;
esac
[ "$#" -lt 20 ] || NC_PROC_START=${20}
return 0
fi
[ -d "/proc/$1" ] || kill -0 "$1" 2>/dev/null
}
nc_http() {
NC_HTTP_CODE=000
NC_HTTP_BODY=
if command -v curl >/dev/null 2>&1; then
if [ -n "${3-}" ]; then
nc_ht_out=$(curl -sk --connect-timeout 3 --max-time "$2" -w '\n%{http_code}' -- "$1" 2>/dev/null)
else
nc_ht_out=$(curl --noproxy '*' -so /dev/null --max-time "$2" -w '\n%{http_code}' -- "$1" 2>/dev/null)
fi
NC_HTTP_BODY=${nc_ht_out%"$NC_NL"*}
nc_ht_out=${nc_ht_out##*"$NC_NL"}
elif command -v node >/dev/null 2>&1; then
nc_ht_out=$(env -u NODE_OPTIONS node -e "$NC_NODE_PROBE" "$1" "$2" 2>/dev/null)
else
return 1
fi
case $nc_ht_out in
[0-9][0-9][0-9]) NC_HTTP_CODE=$nc_ht_out ;;
esac
}
readonly NC_NODE_PROBE='const [u, s] = process.argv.slice(1), d = (c) => { console.log(c); process.exit(); };
setTimeout(d, s * 1e3, 0);
require(u.split(":")[0]).get(u, { rejectUnauthorized: false }, (r) => d(r.statusCode)).on("error", d);'
nc_gateway_alive() {
nc_http "$NC_HEALTH_URL" 3
NC_LAST_HEALTH=$NC_HTTP_CODE
[ "$NC_LAST_HEALTH" = 200 ] || [ "$NC_LAST_HEALTH" = 401 ]
}
nc_log_candidate_ok() {
nc_kind "$1"
case $NC_KIND in
missing) return 0 ;;
'')
[ -w "$1" ] && return 0
NC_REASON="$1 is not writable by uid $NC_UID"
;;
*) NC_REASON="$1 is $NC_KIND" ;;
esac
return 1
}
nc_select_log() {
NC_LOG_NOTE=
for NC_LOG in "$NC_LOG_PRIMARY" "$NC_LOG_FALLBACK"; do
nc_log_candidate_ok "$NC_LOG" && return 0
NC_LOG_NOTE="${NC_LOG_NOTE:+$NC_LOG_NOTE; }$NC_REASON"
done
NC_LOG=
NC_LOG_NOTE="$NC_LOG_NOTE; logging to stderr only"
}
nc_fd_is() {
[ -e "/proc/$$/fd/$1" ] || return 0
nc_fi_open=$(stat -L -c '%d:%i' "/proc/$$/fd/$1" 2>/dev/null) || return 1
nc_fi_path=$(stat -c '%d:%i' -- "$2" 2>/dev/null) || return 1
[ "$nc_fi_open" = "$nc_fi_path" ] && [ ! -L "$2" ] && [ -f "$2" ]
}
nc_rotate_log() {
NC_ROTATE_NOTE=
nc_rl_size=$(stat -c %s -- "$1" 2>/dev/null) || return 0
[ "$nc_rl_size" -gt "$NC_LOG_CAP_BYTES" ] || return 0
NC_ROTATE_NOTE="rotated $1 ($nc_rl_size bytes) to $1.1"
if [ -d "$1.1" ] && [ ! -L "$1.1" ]; then
NC_ROTATE_NOTE="not rotating: $1.1 is a directory"
elif ! nc_try "rotating $1" mv -f -T -- "$1" "$1.1"; then
NC_ROTATE_NOTE=$NC_REASON
fi
}
nc_open_log() {
[ -n "$NC_LOG" ] || return 0
if [ -f "$NC_LOG" ]; then
nc_rotate_log "$NC_LOG"
NC_LOG_NOTE=$NC_LOG_NOTE${NC_ROTATE_NOTE:+${NC_LOG_NOTE:+; }$NC_ROTATE_NOTE}
fi
if nc_log_candidate_ok "$NC_LOG" && { command exec 3>>"$NC_LOG"; } 2>/dev/null && nc_fd_is 3 "$NC_LOG"; then
NC_LOG_FD=3
nc_say "===== run $NC_RUN_ID: $NC_DISPLAY_NAME ($NC_AGENT, port $NC_PORT) $NC_MODE recovery at $(date -u '+%Y-%m-%dT%H:%M:%SZ') (pid $$, uid $NC_UID) ====="
return 0
fi
exec 3>&-
NC_LOG_NOTE="${NC_LOG_NOTE:+$NC_LOG_NOTE; }could not open $NC_LOG safely; logging to stderr only"
NC_LOG=
}
nc_on_exit() {
nc_oe_status=$?
set +e
for nc_oe_f in $NC_TEMP_FILES; do
rm -f -- "$nc_oe_f"
done
nc_release_lock
[ "$NC_RESULT_SENT" = 1 ] || nc_finish failed "payload ended unexpectedly with status $nc_oe_status"
exit "$nc_oe_status"
}
nc_on_signal() {
trap '' INT TERM
nc_finish failed "interrupted by SIG$1"
}
nc_lock_read() {
NC_LOCK_PID=
NC_LOCK_START=
NC_LOCK_CREATED=
nc_lr_line=
if [ -f "$1/holder" ] && [ ! -L "$1/holder" ]; then
{ read -r nc_lr_line <"$1/holder"; } 2>/dev/null
fi
set -f
# shellcheck disable=SC2086
set -- $nc_lr_line
set +f
[ "$#" = 3 ] || return 1
for nc_lr_n; do
case $nc_lr_n in
*[!0-9]* | 0?* | ???????????????????*) return 1 ;;
esac
done
NC_LOCK_PID=$1
NC_LOCK_START=$2
NC_LOCK_CREATED=$3
}
nc_lock_live() {
if ! nc_lock_read "$1"; then
NC_LOCK_WHY="$1 holds no well-formed record"
return 1
fi
nc_now_ms
nc_ll_age=$((NC_NOW_MS - NC_LOCK_CREATED))
nc_ll_why=
if ! nc_pid_alive "$NC_LOCK_PID"; then
nc_ll_why="that pid is not running"
elif [ "$NC_LOCK_START" != 0 ] && [ -n "$NC_PROC_START" ] && [ "$NC_PROC_START" != "$NC_LOCK_START" ]; then
nc_ll_why="that pid is another process now (start time $NC_PROC_START)"
elif [ "$nc_ll_age" -lt -2000 ] || [ "$nc_ll_age" -ge $((NC_DEADLINE_MS + NC_LOCK_MARGIN_MS)) ]; then
nc_ll_why="not within the ${NC_DEADLINE_MS}ms deadline plus ${NC_LOCK_MARGIN_MS}ms"
fi
NC_LOCK_WHY="$1 names pid $NC_LOCK_PID (start time $NC_LOCK_START), taken $((nc_ll_age / 1000))s ago: ${nc_ll_why:-live}"
[ -z "$nc_ll_why" ]
}
nc_lock_fail() {
nc_step lock failed "$1"
nc_finish failed "$1"
}
nc_lock_busy() {
NC_REASON="another recovery of this sandbox (pid $NC_LOCK_PID) holds $NC_LOCK_DIR"
nc_step lock skipped "$NC_REASON"
nc_finish in-progress "$NC_REASON"
}
nc_lock_step() {
nc_tl_tries=0
while [ "$nc_tl_tries" -le 15 ]; do
nc_tl_tries=$((nc_tl_tries + 1))
if nc_tl_err=$(mkdir -m 0755 -- "$NC_LOCK_DIR" 2>&1); then
nc_now_ms
(umask 022 && echo "$$ $NC_SELF_START $NC_NOW_MS" >"$NC_LOCK_DIR/holder") 2>/dev/null || {
rmdir -- "$NC_LOCK_DIR"
nc_lock_fail "cannot write $NC_LOCK_DIR/holder"
}
NC_LOCK_HELD=1
nc_step lock ok "took $NC_LOCK_DIR"
return
fi
if [ -L "$NC_LOCK_DIR" ] || [ ! -d "$NC_LOCK_DIR" ]; then
nc_lock_fail "cannot take $NC_LOCK_DIR: $nc_tl_err"
fi
nc_lock_live "$NC_LOCK_DIR" && nc_lock_busy
nc_tl_found=$NC_LOCK_WHY
if [ -z "$NC_LOCK_PID" ] && [ "$nc_tl_tries" -le 5 ]; then
nc_sleep_short
elif nc_tl_err=$(mv -f -T -- "$NC_LOCK_DIR" "$NC_LOCK_DIR.stale.$$" 2>&1); then
if nc_lock_live "$NC_LOCK_DIR.stale.$$"; then
mv -T -- "$NC_LOCK_DIR.stale.$$" "$NC_LOCK_DIR" 2>/dev/null
nc_lock_busy
fi
rm -rf -- "$NC_LOCK_DIR.stale.$$"
nc_say "took over stale lock: $nc_tl_found"
elif ! nc_is_root && nc_stat "$NC_LOCK_DIR" && [ "$NC_ST_UID" != "$NC_UID" ]; then
nc_lock_fail "cannot take over stale lock $nc_tl_found; it is owned by uid $NC_ST_UID ($nc_tl_err)"
else
nc_sleep_short
fi
done
nc_lock_fail "cannot take over stale lock $nc_tl_found"
}
nc_release_lock() {
[ "$NC_LOCK_HELD" = 1 ] || return 0
NC_LOCK_HELD=0
if nc_lock_read "$NC_LOCK_DIR" && [ "$NC_LOCK_PID" = "$$" ] && [ "$NC_LOCK_START" = "$NC_SELF_START" ]; then
rm -f -- "$NC_LOCK_DIR/holder"
rmdir -- "$NC_LOCK_DIR" 2>/dev/null
fi
}
nc_dirs_root_owned() {
nc_dr_dir=$1
set -- /
while nc_dr_dir=${nc_dr_dir%/*} && [ -n "$nc_dr_dir" ]; do
set -- "$@" "$nc_dr_dir"
done
if ! nc_dr_out=$({ stat -c '%u %n' -- "$@" && stat -L -c '%u %n' -- "$@"; } 2>&1); then
NC_REASON="cannot stat its parent directories: $nc_dr_out"
return 1
fi
nc_dr_bad=$(printf '%s\n' "$nc_dr_out" | awk '$1 != "0" { print; exit }')
[ -z "$nc_dr_bad" ] && return 0
NC_REASON="parent directory ${nc_dr_bad#* } is not owned by root (uid ${nc_dr_bad%% *})"
return 1
}
nc_file_trusted() {
nc_kind "$1"
if [ -n "$NC_KIND" ]; then
NC_REASON="is $NC_KIND"
[ "$NC_KIND" != missing ] || NC_REASON=unavailable
return 1
fi
if [ ! -r "$1" ] || ! nc_stat "$1"; then
NC_REASON="is not readable by uid $NC_UID"
return 1
fi
case $NC_ST_MODE in
*[2367]? | *[2367])
NC_REASON="is group- or other-writable (mode $NC_ST_MODE)"
return 1
;;
esac
if nc_is_root; then
if [ "$NC_ST_UID" != 0 ]; then
NC_REASON="is owned by uid $NC_ST_UID, not root"
return 1
fi
nc_dirs_root_owned "$1" || return 1
fi
return 0
}
nc_sha256_matches() {
[ -e "$NC_SHA256SUMS" ] || [ -L "$NC_SHA256SUMS" ] || return 0
if ! nc_file_trusted "$NC_SHA256SUMS"; then
NC_REASON="cannot be checked: $NC_SHA256SUMS $NC_REASON"
return 1
fi
nc_sm_want=$(awk -v n="${1##*/}" '$2 == n || $2 == ("*" n) { print tolower($1); exit }' "$NC_SHA256SUMS" 2>/dev/null)
nc_sm_got=$(sha256sum <"$1" 2>&1) || nc_sm_got="unknown ($nc_sm_got)"
nc_sm_got=${nc_sm_got%% *}
[ -n "$nc_sm_want" ] && [ "$nc_sm_got" = "$nc_sm_want" ] && return 0
NC_REASON="does not match $NC_SHA256SUMS (sha256 $nc_sm_got, listed ${nc_sm_want:-none})"
return 1
}
nc_trusted_source() {
nc_file_trusted "$1" && nc_sha256_matches "$1" && return 0
NC_REASON="trusted preload source $1 $NC_REASON - refusing preload install"
return 1
}
nc_installed_copy_ok() {
nc_kind "$2"
if [ -n "$NC_KIND" ]; then
NC_REASON="$2 is $NC_KIND"
return 1
fi
nc_stat "$2"
if [ "$NC_ST_MODE" != 444 ]; then
NC_REASON="$2 has mode $NC_ST_MODE, not 0444"
return 1
fi
if nc_is_root && [ "$NC_ST_UID" != 0 ]; then
NC_REASON="$2 is owned by uid $NC_ST_UID, not root"
return 1
fi
if ! nc_same_bytes "$1" "$2"; then
NC_REASON="$2 content differs from trusted source $1"
return 1
fi
return 0
}
nc_stage_copy() {
nc_mktemp nemoclaw-stage &&
nc_try "copying $1" cp -- "$1" "$NC_TMP" &&
{ ! nc_is_root || nc_try chown chown 0:0 -- "$NC_TMP"; } &&
nc_try chmod chmod 0444 -- "$NC_TMP" &&
nc_try "rename to $2" mv -f -T -- "$NC_TMP" "$2"
}
nc_guard_step() {
if ! nc_trusted_source "$2"; then
nc_say "$NC_REASON"
nc_step "$1" failed "$NC_REASON"
return 1
fi
if nc_installed_copy_ok "$2" "$3"; then
nc_step "$1" ok "$3 matches $2"
return 0
fi
nc_gs_why=$NC_REASON
if nc_stage_copy "$2" "$3"; then
nc_installed_copy_ok "$2" "$3" && nc_step "$1" changed "staged $2 to $3 ($nc_gs_why)" && return 0
nc_gs_fail="staged copy failed verification: $NC_REASON"
else
nc_gs_fail=$NC_REASON
nc_installed_copy_ok "$2" "$3" && nc_step "$1" ok "existing $3 verified ($nc_gs_fail)" && return 0
nc_gs_fail="$nc_gs_fail; existing copy rejected: $NC_REASON"
fi
nc_step "$1" failed "cannot install $3 from $2: $nc_gs_fail - guard not ready"
return 1
}
nc_allowlisted_name() {
case $1 in
HTTP_PROXY | HTTPS_PROXY | NO_PROXY | ALL_PROXY | http_proxy | https_proxy | no_proxy | all_proxy | \
HERMES_HOME | HERMES_TUI_DIR | JITI_FS_CACHE | NODE_EXTRA_CA_CERTS | SSL_CERT_FILE | SSL_CERT_DIR | \
REQUESTS_CA_BUNDLE | CURL_CA_BUNDLE | GIT_SSL_CAINFO | OPENCLAW_STATE_DIR | OPENCLAW_WORKSPACE_DIR | \
OPENCLAW_CONFIG_PATH | OPENCLAW_HOME | OPENCLAW_OAUTH_DIR | OPENCLAW_GATEWAY_BIND | OPENCLAW_GATEWAY_PORT | \
OPENCLAW_GATEWAY_TOKEN | OPENCLAW_GATEWAY_URL | OPENCLAW_DISABLE_BONJOUR | OPENCLAW_LOG_LEVEL | OPENCLAW_NO_RESPAWN) return 0 ;;
esac
return 1
}
nc_allowlisted_export() {
NC_REASON="not an export assignment"
case $1 in
'export '*=*) ;;
*) return 1 ;;
esac
nc_ae_rest=${1#export }
NC_AL_NAME=${nc_ae_rest%%=*}
NC_AL_VALUE=${nc_ae_rest#*=}
NC_REASON="$NC_AL_NAME is not allow-listed"
nc_allowlisted_name "$NC_AL_NAME" || return 1
NC_REASON="value of $NC_AL_NAME is not one clean quoted string or plain safe characters"
case $NC_AL_VALUE in
\'*\')
NC_AL_VALUE=${NC_AL_VALUE#\'}
NC_AL_VALUE=${NC_AL_VALUE%\'}
;;
\"*\")
NC_AL_VALUE=${NC_AL_VALUE#\"}
NC_AL_VALUE=${NC_AL_VALUE%\"}
;;
*[!A-Za-z0-9_./:@%+,=-]*) return 1 ;;
esac
case $NC_AL_VALUE in
*'$'* | *'`'* | *"\\"* | *"'"* | *'"'* | *[[:cntrl:]]*) return 1 ;;
esac
}
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
nc_classify_proxy_env() {
nc_kind "$NC_PROXY_ENV"
NC_PE_STATE=unreadable-special
NC_PE_WHY="is $NC_KIND (neither followed nor opened)"
case $NC_KIND in
missing | 'a directory')
NC_PE_STATE=${NC_KIND#a }
NC_PE_WHY="is $NC_KIND"
;;
'')
nc_stat "$NC_PROXY_ENV"
NC_PE_STATE=untrusted-file
NC_PE_WHY="is uid $NC_ST_UID, mode $NC_ST_MODE (trusted only as uid 0, mode 0444)"
if [ "$NC_ST_UID:$NC_ST_MODE" = 0:444 ]; then
NC_PE_STATE=trusted
NC_PE_WHY="is root-owned 0444"
fi
;;
esac
}
nc_render_env_base() {
printf '# nemoclaw recovery env from %s (%s)\n' "$NC_PROXY_ENV" "$NC_PE_STATE"
case $NC_PE_STATE in
trusted)
cat -- "$NC_PROXY_ENV"
[ -z "$(tail -c 1 -- "$NC_PROXY_ENV")" ] || echo
;;
untrusted-file)
nc_allowlisted_lines "$NC_PROXY_ENV"
;;
esac
}
nc_guard_line() {
# shellcheck disable=SC2016
printf 'export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--require %s"\n' "$1"
}
nc_guard_lines() {
[ "$NC_SAFETY_READY" = 1 ] && ! nc_requires_preload "$1" "$NC_SAFETY_NET_DST" && nc_guard_line "$NC_SAFETY_NET_DST"
[ "$NC_CIAO_READY" = 1 ] && ! nc_requires_preload "$1" "$NC_CIAO_DST" && nc_guard_line "$NC_CIAO_DST"
}
nc_clean_node_options() {
nc_strip_code_loading "${NODE_OPTIONS-}"
nc_cn_rest=$NC_SO_DROPPED${NC_SO_DROPPED:+$NC_NL}
while [ -n "$nc_cn_rest" ]; do
nc_say "dropped inherited NODE_OPTIONS option ${nc_cn_rest%%"$NC_NL"*} (it loads code)"
nc_cn_rest=${nc_cn_rest#*"$NC_NL"}
done
unset NODE_OPTIONS
[ -z "$NC_SO_KEPT" ] || export NODE_OPTIONS="$NC_SO_KEPT"
}
nc_proxy_env_warning() {
if [ "$NC_PE_STATE" != trusted ]; then
nc_say "$NC_PROXY_ENV $NC_PE_WHY"
nc_say "WARNING: $NC_PROXY_ENV missing or unsafe - restoring library guards from packaged preloads (#2478/#2701)"
elif [ -n "$1" ]; then
nc_say "WARNING: $NC_PROXY_ENV incomplete - rewriting library guards from packaged preloads (#2478/#2701)"
fi
}
nc_recovered_env_current() {
[ -f "$NC_RECOVERED_ENV" ] && [ ! -L "$NC_RECOVERED_ENV" ] || return 1
nc_stat "$NC_RECOVERED_ENV"
[ "$NC_ST_MODE" = 444 ] && [ "$NC_ST_UID" = "$NC_UID" ] || return 1
cmp -s -- "$1" "$NC_RECOVERED_ENV"
}
nc_proxy_env_fatal() {
NC_PE_FATAL=$1
nc_step proxy-env failed "$NC_PE_FATAL"
return 1
}
nc_node_options_after() {
(
set +u
. "$1" >/dev/null 2>&1
printf '%s' "${NODE_OPTIONS-}"
) 3>&- 4>&-
}
nc_source_env() {
if ! nc_se_err=$(sh -n "$1" 2>&1); then
NC_REASON="generated env $1 does not parse: $nc_se_err"
return 1
fi
set +u
. "$1"
set +e
set -u
IFS=$NC_IFS
PATH=$NC_PATH
LC_ALL=C
export PATH LC_ALL
return 0
}
nc_recreate_proxy_env() {
nc_rp_err=
nc_mktemp nemoclaw-proxy-env &&
{ nc_guard_line "$NC_SAFETY_NET_DST" && nc_guard_line "$NC_CIAO_DST"; } >"$NC_TMP" &&
chmod 0444 -- "$NC_TMP" && nc_rp_err=$(ln -- "$NC_TMP" "$NC_PROXY_ENV" 2>&1) && return 0
nc_say "not recreating $NC_PROXY_ENV: ${nc_rp_err:-$NC_REASON}"
return 1
}
nc_proxy_env_step() {
nc_clean_node_options
nc_classify_proxy_env
if [ "$NC_PE_STATE" = directory ]; then
nc_proxy_env_fatal "$NC_PROXY_ENV is a directory: the guard chain cannot be read or repaired"
return
fi
nc_mktemp nemoclaw-env || {
nc_proxy_env_fatal "cannot create the recovered env: $NC_REASON"
return
}
nc_pe_tmp=$NC_TMP
nc_render_env_base >"$nc_pe_tmp" || {
nc_proxy_env_fatal "cannot write $nc_pe_tmp"
return
}
nc_pe_opts=${NODE_OPTIONS-}
if [ "$NC_PE_STATE" = trusted ]; then
nc_pe_opts=$(nc_node_options_after "$nc_pe_tmp")
fi
nc_pe_lines=$(nc_guard_lines "$nc_pe_opts")
nc_proxy_env_warning "$nc_pe_lines"
[ -z "$nc_pe_lines" ] || printf '%s\n' "$nc_pe_lines" >>"$nc_pe_tmp"
nc_pe_status=ok
nc_pe_detail="$NC_RECOVERED_ENV is current"
NC_ENV_FILE=$NC_RECOVERED_ENV
if ! nc_recovered_env_current "$nc_pe_tmp"; then
nc_pe_status=changed
nc_pe_detail="wrote $NC_RECOVERED_ENV"
chmod 0444 -- "$nc_pe_tmp"
if ! nc_try "rename to $NC_RECOVERED_ENV" mv -f -T -- "$nc_pe_tmp" "$NC_RECOVERED_ENV"; then
NC_ENV_FILE=$nc_pe_tmp
nc_pe_detail="wrote per-run env $nc_pe_tmp ($NC_REASON)"
fi
fi
nc_source_env "$NC_ENV_FILE" || {
nc_proxy_env_fatal "$NC_REASON"
return
}
nc_say "sourced $NC_ENV_FILE"
if [ "$NC_PE_STATE$NC_SAFETY_READY$NC_CIAO_READY" = missing11 ] && nc_recreate_proxy_env; then
nc_pe_status=changed
nc_pe_detail="$nc_pe_detail; recreated $NC_PROXY_ENV (the guard requires only)"
fi
nc_step proxy-env "$nc_pe_status" "$nc_pe_detail ($NC_PROXY_ENV $NC_PE_WHY)"
}
nc_matching_pids() {
ps -eo pid=,ppid=,args= 2>/dev/null | NC_PAT=$1 NC_SELF=$$ NC_PARENT=$PPID awk '{ p = $1; pp = $2; $1 = $2 = ""; if (p != ENVIRON["NC_SELF"] && p != ENVIRON["NC_PARENT"] && pp != ENVIRON["NC_SELF"] && $0 ~ ENVIRON["NC_PAT"]) print p }'
}
nc_process_list() {
ps -eo pid=,user=,args= 2>/dev/null | NC_PAT1=$NC_GATEWAY_PATTERN NC_PAT2=$NC_DASHBOARD_PATTERN awk '{ l = $0; $1 = $2 = ""; if ($0 ~ ENVIRON["NC_PAT1"] || $0 ~ ENVIRON["NC_PAT2"]) print l }'
}
nc_wait_gone() {
nc_now_ms
nc_wg_start=$NC_NOW_MS
while [ -n "$(nc_matching_pids "$1")" ]; do
nc_elapsed_ms "$nc_wg_start"
[ "$NC_ELAPSED_MS" -ge "$NC_STOP_GRACE_MS" ] && return 1
nc_sleep_short
done
}
nc_signal_pids() {
nc_sg_sig=$1
shift
for nc_sg_pid in "$@"; do
nc_try "kill -$nc_sg_sig $nc_sg_pid" kill "-$nc_sg_sig" "$nc_sg_pid" || nc_say "$NC_REASON"
done
}
nc_stop_processes() {
NC_SURVIVORS=
NC_STOPPED=$(nc_matching_pids "$1" | tr '\n' ' ')
NC_STOPPED=${NC_STOPPED% }
[ -n "$NC_STOPPED" ] || return 0
nc_say "stopping $2 processes $NC_STOPPED with SIGTERM"
# shellcheck disable=SC2086
nc_signal_pids TERM $NC_STOPPED
nc_wait_gone "$1" && return 0
nc_say "$2 processes still running ${NC_STOP_GRACE_MS}ms after SIGTERM; sending SIGKILL"
# shellcheck disable=SC2046
nc_signal_pids KILL $(nc_matching_pids "$1")
nc_wait_gone "$1" && return 0
NC_SURVIVORS=$(nc_matching_pids "$1" | tr '\n' ' ')
NC_SURVIVORS=${NC_SURVIVORS% }
return 1
}
nc_find_binary() {
NC_BINARY_PATH=$NC_BINARY
case $NC_BINARY in
/*) [ -f "$NC_BINARY" ] && [ -x "$NC_BINARY" ] && return 0 ;;
esac
NC_BINARY_PATH=$(command -v "${NC_BINARY##*/}" 2>/dev/null)
}
nc_spawn_child() {
trap - INT QUIT TERM HUP PIPE EXIT
umask "$NC_LAUNCH_UMASK"
unset LC_ALL
[ "$NC_CALLER_LC_ALL_SET" = 1 ] && export LC_ALL="$NC_CALLER_LC_ALL"
exec "$@"
}
nc_spawn() {
nc_sn_fd=${1:-6}
shift
command -v nohup >/dev/null 2>&1 && set -- nohup "$@"
command -v setsid >/dev/null 2>&1 && set -- setsid "$@"
nc_spawn_child "$@" </dev/null >&"$nc_sn_fd" 2>&1 3>&- 4>&- 5>&- 6>&- &
NC_SPAWNED_PID=$!
}
nc_launch_gateway() {
eval "set -- $1"
nc_lg_as="uid $NC_UID"
NC_LAUNCH_DESC="$* as $nc_lg_as"
nc_say "launching $NC_DISPLAY_NAME gateway: $NC_LAUNCH_DESC, output to ${NC_LOG:-/dev/null}"
nc_spawn "$NC_LOG_FD" "$@"
NC_GATEWAY_PID=$NC_SPAWNED_PID
}
nc_await() {
nc_aw_who="$2 (pid $1)"
NC_AW_PHASE=launch
nc_now_ms
nc_aw_start=$NC_NOW_MS
nc_aw_next=2000
while :; do
if "$3"; then
if [ "$NC_AW_PHASE" = launch ]; then
NC_AW_PHASE=settle
nc_now_ms
nc_aw_start=$NC_NOW_MS
fi
elif [ "$NC_AW_PHASE" = settle ]; then
NC_REASON="$nc_aw_who stopped answering during the settle window (status $NC_LAST_HEALTH)"
return 1
fi
if ! nc_pid_alive "$1"; then
NC_REASON="$nc_aw_who exited before answering its health check"
[ "$NC_AW_PHASE" = launch ] || NC_REASON="$nc_aw_who exited during the settle window"
return 1
fi
nc_elapsed_ms "$nc_aw_start"
if [ "$NC_AW_PHASE" = settle ]; then
[ "$NC_ELAPSED_MS" -ge "$NC_SETTLE_MS" ] && return 0
elif [ "$NC_ELAPSED_MS" -ge "$NC_READINESS_MS" ]; then
NC_REASON="$nc_aw_who not healthy within $((NC_READINESS_MS / 1000))s (last status $NC_LAST_HEALTH)"
return 1
elif [ "$NC_ELAPSED_MS" -ge "$nc_aw_next" ]; then
nc_progress launch "waiting for $nc_aw_who to answer: $((NC_ELAPSED_MS / 1000))s"
nc_aw_next=$((nc_aw_next + 2000))
fi
if nc_deadline_passed; then
NC_REASON="payload deadline reached waiting for $nc_aw_who"
return 1
fi
nc_sleep_short
done
}
nc_with_timeout() {
nc_wt_secs=$1
shift
if command -v timeout >/dev/null 2>&1; then
timeout "$nc_wt_secs" "$@"
else
"$@"
fi
}
nc_pick_python() {
for NC_PYTHON in /opt/hermes/.venv/bin/python3 /usr/local/bin/python3 /usr/bin/python3; do
if [ -f "$NC_PYTHON" ] && [ -x "$NC_PYTHON" ]; then
return 0
fi
done
NC_PYTHON=
return 1
}
nc_validate() {
nc_va_err=$(nc_with_timeout 30 "$NC_PYTHON" -I "$NC_HERMES_VALIDATOR" "$@" 2>&1 >/dev/null 3>&- 4>&- 5>&-)
NC_VAL_STATUS=$?
nc_va_rest=$nc_va_err$NC_NL
nc_va_n=0
while [ -n "$nc_va_rest" ] && [ "$nc_va_n" -lt 50 ]; do
nc_va_line=${nc_va_rest%%"$NC_NL"*}
nc_va_rest=${nc_va_rest#*"$NC_NL"}
if [ -n "$nc_va_line" ]; then
nc_say "secret-boundary validator ($1): $nc_va_line"
nc_va_n=$((nc_va_n + 1))
fi
done
}
nc_validator_usable() {
NC_SB_CAUSE=
if [ ! -e "$NC_HERMES_VALIDATOR" ] && [ ! -L "$NC_HERMES_VALIDATOR" ]; then
return 1
fi
if ! nc_file_trusted "$NC_HERMES_VALIDATOR"; then
NC_SB_CAUSE="validator $NC_HERMES_VALIDATOR $NC_REASON - not running it"
elif ! nc_pick_python; then
NC_SB_CAUSE="no python3 at a trusted absolute path to run $NC_HERMES_VALIDATOR"
fi
return 0
}
nc_validator_missing() {
nc_say "WARNING: secret-boundary validator script $NC_HERMES_VALIDATOR missing on this sandbox image; skipping recovery boundary check. Production images bake the validator in; older images recover without it."
}
nc_boundary_refused() {
nc_say "ERROR: Hermes secret boundary: $2"
nc_step "$1" failed "$2"
nc_finish secret-boundary-refused "$2"
}
nc_secret_boundary_step() {
if ! nc_validator_usable; then
nc_validator_missing
nc_step secret-boundary skipped "validator $NC_HERMES_VALIDATOR not found"
return 0
fi
if [ -n "$NC_SB_CAUSE" ]; then
nc_boundary_refused secret-boundary "$NC_SB_CAUSE"
fi
nc_validate env-file "$NC_HERMES_ENV_FILE"
case $NC_VAL_STATUS in
0)
nc_step secret-boundary ok "$NC_HERMES_ENV_FILE passed the validator"
return 0
;;
1) ;;
*) nc_boundary_refused secret-boundary "the validator could not check $NC_HERMES_ENV_FILE (exit status $NC_VAL_STATUS)" ;;
esac
nc_sb_fail="$NC_HERMES_ENV_FILE holds raw secret-shaped values (validator exit status 1; the keys are logged above)"
nc_say "ERROR: Hermes secret boundary violation: $nc_sb_fail - stopping the Hermes gateway and dashboard"
nc_sb_left=
nc_stop_processes "$NC_GATEWAY_PATTERN" "Hermes gateway" || nc_sb_left=$NC_SURVIVORS
nc_stop_processes "$NC_DASHBOARD_PATTERN" "Hermes dashboard" || nc_sb_left="$nc_sb_left $NC_SURVIVORS"
if [ -n "$nc_sb_left" ]; then
nc_say "processes still running after SIGKILL: $nc_sb_left"
fi
nc_step secret-boundary failed "$nc_sb_fail"
nc_finish secret-boundary-refused "$nc_sb_fail"
}
nc_runtime_env_ok() {
[ "$NC_RUNTIME_ENV_CHECKED" = 0 ] || return 0
NC_RUNTIME_ENV_CHECKED=1
if ! nc_validator_usable; then
nc_validator_missing
NC_RE_DETAIL="validator $NC_HERMES_VALIDATOR not found"
return 0
fi
[ -z "$NC_SB_CAUSE" ] || return 1
nc_validate runtime-env
case $NC_VAL_STATUS in
0)
NC_RE_DETAIL="the launch environment passed the validator"
return 0
;;
1) NC_SB_CAUSE="the launch environment holds raw secret-shaped values (validator exit status 1; the keys are logged above); nothing launched, nothing stopped" ;;
*) NC_SB_CAUSE="the validator could not check the launch environment (exit status $NC_VAL_STATUS); nothing launched" ;;
esac
return 1
}
nc_log_step() {
[ -z "$NC_LOG_NOTE" ] || nc_say "log: $NC_LOG_NOTE"
if [ -z "$NC_LOG" ]; then
nc_step log skipped "no safe log file: $NC_LOG_NOTE"
else
nc_step log ok "logging to $NC_LOG${NC_LOG_NOTE:+ ($NC_LOG_NOTE)}"
fi
}
nc_guards_hold() {
NC_GUARD_CAUSE=$NC_PE_FATAL
if [ -z "$NC_GUARD_CAUSE" ] && [ "$NC_SAFETY_READY$NC_CIAO_READY" != 11 ]; then
NC_GUARD_CAUSE="a critical guard is not restored from its trusted source"
fi
for nc_gh_p in "$NC_SAFETY_NET_DST" "$NC_CIAO_DST"; do
[ -n "$NC_GUARD_CAUSE" ] || nc_requires_preload "${NODE_OPTIONS-}" "$nc_gh_p" ||
NC_GUARD_CAUSE="NODE_OPTIONS has no exact --require $nc_gh_p"
done
[ -z "$NC_GUARD_CAUSE" ]
}
nc_refuse() {
nc_say "$2"
nc_step "$1" failed "$NC_GUARD_CAUSE"
nc_finish refused "$NC_GUARD_CAUSE; ${2#ERROR: }"
}
nc_assert_guards() {
nc_guards_hold || nc_refuse "$1" "$2"
nc_step "$1" ok "NODE_OPTIONS requires $NC_SAFETY_NET_DST and $NC_CIAO_DST"
}
nc_inference_step() {
if ! nc_http "$NC_INFERENCE_URL" 8 via-proxy; then
nc_step inference skipped "no curl or node in the sandbox"
return 0
fi
case $NC_HTTP_CODE in
[234][0-9][0-9])
NC_INFERENCE=ok
nc_step inference ok "$NC_INFERENCE_URL answered HTTP $NC_HTTP_CODE"
;;
*)
NC_INFERENCE=broken
nc_in_head=$(printf '%.160s' "$NC_HTTP_BODY")
nc_step inference failed "HTTP $NC_HTTP_CODE from $NC_INFERENCE_URL${nc_in_head:+: $nc_in_head}"
;;
esac
}
nc_stale_step() {
if ! nc_stop_processes "$NC_GATEWAY_PATTERN" "stale $NC_DISPLAY_NAME gateway"; then
NC_REASON="stale gateway processes $NC_SURVIVORS survived SIGTERM and SIGKILL"
nc_step stale-processes failed "$NC_REASON"
nc_finish stale-processes "$NC_REASON"
fi
if [ -n "$NC_STOPPED$NC_LOCKS_REMOVED" ]; then
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
nc_step binary failed "$NC_BINARY not found (PATH=$PATH)"
nc_finish agent-missing "$NC_DISPLAY_NAME gateway binary $NC_BINARY not found in the sandbox"
}
nc_gateway_failed() {
nc_say "ERROR: $1; last lines of ${NC_LOG:-the log}:"
nc_log_tail | sed 's/^/  | /' >&2
nc_finish gateway-failed "$1"
}
nc_launch_and_settle_gateway() {
nc_launch_gateway "$NC_GATEWAY_ARGV"
nc_await "$NC_GATEWAY_PID" "$NC_DISPLAY_NAME gateway" nc_gateway_alive
nc_lsg_ok=$?
[ "$NC_AW_PHASE" = launch ] || nc_step launch changed "launched pid $NC_GATEWAY_PID: $NC_LAUNCH_DESC"
if [ "$nc_lsg_ok" != 0 ]; then
nc_step "$NC_AW_PHASE" failed "$NC_REASON"
nc_gateway_failed "$NC_REASON"
fi
nc_step settle ok "pid $NC_GATEWAY_PID healthy for $((NC_SETTLE_MS / 1000))s"
}
nc_after_gateway() {
nc_check_deadline inference
nc_inference_step
nc_finish "$1" ""
}
nc_gateway_flow() {
nc_check_deadline health
if nc_gateway_alive; then
NC_GATEWAY_PID=$(nc_matching_pids "$NC_GATEWAY_PATTERN" | head -n 1)
nc_step health ok "$NC_HEALTH_URL answered $NC_LAST_HEALTH"
for nc_gw_s in stale-processes binary reassert runtime-env launch settle; do
nc_emit "step step=$nc_gw_s status=skipped detail=gateway%20already%20running"
done
nc_after_gateway already-running
fi
nc_step health failed "$NC_HEALTH_URL answered $NC_LAST_HEALTH; relaunching the gateway"
nc_check_deadline stale-processes
nc_stale_step
nc_binary_step
nc_check_deadline reassert
nc_assert_guards reassert "$NC_REFUSAL"
nc_check_deadline runtime-env
if nc_runtime_env_ok; then
nc_step runtime-env ok "$NC_RE_DETAIL"
else
nc_boundary_refused runtime-env "$NC_SB_CAUSE"
fi
nc_launch_and_settle_gateway
nc_after_gateway recovered
}
nc_main() {
NC_LAUNCH_UMASK=0007
NC_CALLER_LC_ALL_SET=${LC_ALL+1}
NC_CALLER_LC_ALL=${LC_ALL-}
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
NC_LOG_FD=
NC_RESULT_SENT=0
NC_LOCK_HELD=0
NC_TEMP_FILES=
NC_REASON=
NC_GATEWAY_PID=
NC_INFERENCE=unknown
NC_SAFETY_READY=0
NC_CIAO_READY=0
NC_PE_FATAL=
NC_LOCKS_REMOVED=
NC_SB_CAUSE=
NC_RUNTIME_ENV_CHECKED=0
NC_RE_DETAIL=
NC_UID=$(id -u)
nc_now_ms
NC_START_MS=$NC_NOW_MS
nc_pid_alive "$$"
NC_SELF_START=${NC_PROC_START:-0}
exec 6>/dev/null
trap '' PIPE
trap nc_on_exit EXIT
trap 'nc_on_signal INT' INT
trap 'nc_on_signal TERM' TERM
trap '' HUP
nc_select_log
nc_open_log
nc_lock_step
nc_log_step
nc_guard_step safety-net "$NC_SAFETY_NET_SRC" "$NC_SAFETY_NET_DST" && NC_SAFETY_READY=1
nc_guard_step ciao "$NC_CIAO_SRC" "$NC_CIAO_DST" && NC_CIAO_READY=1
nc_check_deadline proxy-env
nc_proxy_env_step
nc_assert_guards guards "$NC_REFUSAL"
nc_check_deadline secret-boundary
nc_secret_boundary_step
nc_gateway_flow
}
nc_main 4>&1 1>&2 </dev/null
exit 1
}
