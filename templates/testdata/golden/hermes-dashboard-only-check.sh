#!/bin/sh
# nemoclaw gateway recovery payload (hermes hermes-dashboard check) from nemoclaw's
# templates/payload (comments there); do not edit. One brace group: a
# truncated upload runs nothing.
# shellcheck disable=SC1090,SC2317 # sources what it generates; trap handlers
{
readonly NC_RUN_ID='golden-run-0001'
readonly NC_AGENT='hermes'
readonly NC_DISPLAY_NAME='Hermes Agent'
readonly NC_MODE='hermes-dashboard'
# shellcheck disable=SC2034
readonly NC_CHECK='1'
readonly NC_PORT='18789'
# shellcheck disable=SC1003,SC2016
readonly NC_GATEWAY_PATTERN='[h]ermes[[:space:]]+gateway[[:space:]]+run([[:space:]]|$)'
readonly NC_HEALTH_URL='http://localhost:8642/health'
readonly NC_DEADLINE_MS='120000'
readonly NC_DASHBOARD_PORT='18789'
# shellcheck disable=SC1003,SC2016
readonly NC_DASHBOARD_ARGV=''\''env'\'' '\''HERMES_HOME=/sandbox/.hermes'\'' '\''hermes'\'' '\''dashboard'\'' '\''--host'\'' '\''127.0.0.1'\'' '\''--port'\'' '\''9119'\'' '\''--skip-build'\'' '\''--no-open'\'''
readonly NC_DASHBOARD_URL='http://127.0.0.1:9119/'
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
readonly NC_HERMES_ENV_FILE=/sandbox/.hermes/.env \
NC_HERMES_VALIDATOR=/usr/local/lib/nemoclaw/validate-hermes-env-secret-boundary.py
readonly NC_DASHBOARD_REFUSAL='ERROR: NODE_OPTIONS missing safety-net preload or ciao preload after trusted recovery - refusing unguarded dashboard relaunch (#2478/#2701)'
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
already-running | would-recover | would-refuse) ;;
recovered) nc_fi_outcome=would-recover ;;
*) nc_fi_outcome=would-refuse ;;
esac
case $nc_fi_outcome in
already-running | would-recover) nc_fi_status=0 ;;
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
nc_open_log() {
nc_say "===== check of $NC_DISPLAY_NAME ($NC_AGENT, port $NC_PORT) $NC_MODE recovery at $(date -u '+%Y-%m-%dT%H:%M:%SZ') (pid $$, uid $NC_UID); nothing is written ====="
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
nc_release_lock() { :; }
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
nc_step "$1" would-change "would stage $2 to $3 ($NC_REASON)"
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
nc_predicted_node_options() {
if [ "$NC_PE_STATE" = trusted ]; then
printf '%s %s' "${NODE_OPTIONS-}" "$(tr "\"'{}" '    ' <"$NC_PROXY_ENV" 2>/dev/null)"
else
printf '%s' "${NODE_OPTIONS-}"
fi
}
nc_proxy_env_step() {
nc_clean_node_options
nc_classify_proxy_env
if [ "$NC_PE_STATE" = directory ]; then
nc_proxy_env_fatal "$NC_PROXY_ENV is a directory: the guard chain cannot be read or repaired"
return
fi
nc_pe_opts=$(nc_predicted_node_options)
nc_pe_lines=$(nc_guard_lines "$nc_pe_opts")
nc_proxy_env_warning "$nc_pe_lines"
NC_PREDICTED_NODE_OPTIONS=$nc_pe_opts
for nc_pe_dst in $(printf '%s\n' "$nc_pe_lines" | awk '{ print $NF }' | tr -d '"'); do
NC_PREDICTED_NODE_OPTIONS="$NC_PREDICTED_NODE_OPTIONS --require $nc_pe_dst"
done
nc_pe_also=
if [ "$NC_PE_STATE" = missing ]; then
nc_pe_also="; would recreate $NC_PROXY_ENV with the guard requires"
fi
if { nc_render_env_base && nc_guard_lines "$nc_pe_opts"; } | nc_recovered_env_current -; then
nc_step proxy-env ok "$NC_RECOVERED_ENV is current ($NC_PROXY_ENV $NC_PE_WHY)$nc_pe_also"
else
nc_step proxy-env would-change "would generate $NC_RECOVERED_ENV ($NC_PROXY_ENV $NC_PE_WHY)$nc_pe_also"
fi
}
nc_matching_pids() {
ps -eo pid=,ppid=,args= 2>/dev/null | NC_PAT=$1 NC_SELF=$$ NC_PARENT=$PPID awk '{ p = $1; pp = $2; $1 = $2 = ""; if (p != ENVIRON["NC_SELF"] && p != ENVIRON["NC_PARENT"] && pp != ENVIRON["NC_SELF"] && $0 ~ ENVIRON["NC_PAT"]) print p }'
}
nc_process_list() {
ps -eo pid=,user=,args= 2>/dev/null | NC_PAT1=$NC_GATEWAY_PATTERN NC_PAT2=$NC_DASHBOARD_PATTERN awk '{ l = $0; $1 = $2 = ""; if ($0 ~ ENVIRON["NC_PAT1"] || $0 ~ ENVIRON["NC_PAT2"]) print l }'
}
nc_words() {
eval "set -- $1"
printf '%s\n' "$*"
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
nc_step secret-boundary failed "$nc_sb_fail; would stop the Hermes gateway and dashboard"
nc_finish secret-boundary-refused "$nc_sb_fail"
}
nc_dashboard_alive() {
nc_http "$NC_DASHBOARD_URL" 3
NC_LAST_HEALTH=$NC_HTTP_CODE
case $NC_LAST_HEALTH in
200 | 301 | 302 | 307 | 308) return 0 ;;
esac
return 1
}
nc_dashboard_step() {
NC_DASH_CHANGED=0
if nc_dashboard_alive; then
nc_step dashboard ok "$NC_DASHBOARD_URL answered $NC_LAST_HEALTH (forwarded as port $NC_DASHBOARD_PORT)"
return 0
fi
nc_step dashboard would-change "$NC_DASHBOARD_URL answered $NC_LAST_HEALTH; would restart the Hermes dashboard: $(nc_words "$NC_DASHBOARD_ARGV")"
NC_DASH_CHANGED=1
}
nc_lock_step() {
if [ ! -d "$NC_LOCK_DIR" ]; then
nc_step lock skipped "check mode takes no lock"
elif nc_lock_live "$NC_LOCK_DIR"; then
nc_step lock skipped "check mode takes no lock; a recovery holds it now: $NC_LOCK_WHY"
else
nc_step lock skipped "check mode takes no lock; a recovery would take over the stale one: $NC_LOCK_WHY"
fi
}
nc_log_step() {
[ -z "$NC_LOG_NOTE" ] || nc_say "log: $NC_LOG_NOTE"
if [ -z "$NC_LOG" ]; then
nc_step log skipped "no safe log file: $NC_LOG_NOTE"
else
nc_step log ok "check mode: would log to $NC_LOG; nothing written${NC_LOG_NOTE:+ ($NC_LOG_NOTE)}"
fi
}
nc_guards_hold() {
NC_GUARD_CAUSE=$NC_PE_FATAL
if [ -z "$NC_GUARD_CAUSE" ] && [ "$NC_SAFETY_READY$NC_CIAO_READY" != 11 ]; then
NC_GUARD_CAUSE="a critical guard is not restored from its trusted source"
fi
for nc_gh_p in "$NC_SAFETY_NET_DST" "$NC_CIAO_DST"; do
[ -n "$NC_GUARD_CAUSE" ] || nc_requires_preload "$NC_PREDICTED_NODE_OPTIONS" "$nc_gh_p" ||
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
nc_step "$1" ok "NODE_OPTIONS would require both guards"
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
nc_dashboard_only_flow() {
nc_check_deadline health
if ! nc_gateway_alive; then
nc_step health failed "$NC_HEALTH_URL answered $NC_LAST_HEALTH"
nc_finish failed "the Hermes gateway is not running ($NC_HEALTH_URL answered $NC_LAST_HEALTH); a full recovery is needed, not the dashboard-only one"
fi
NC_GATEWAY_PID=$(nc_matching_pids "$NC_GATEWAY_PATTERN" | head -n 1)
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
NC_LOG_FD=
NC_RESULT_SENT=0
NC_TEMP_FILES=
NC_REASON=
NC_GATEWAY_PID=
NC_INFERENCE=unknown
NC_SAFETY_READY=0
NC_CIAO_READY=0
NC_PE_FATAL=
NC_PREDICTED_NODE_OPTIONS=
NC_DASH_CHANGED=0
NC_SB_CAUSE=
NC_UID=$(id -u)
nc_now_ms
NC_START_MS=$NC_NOW_MS
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
nc_assert_guards guards "$NC_DASHBOARD_REFUSAL"
nc_check_deadline secret-boundary
nc_secret_boundary_step
nc_dashboard_only_flow
}
nc_main 4>&1 1>&2 </dev/null
exit 1
}
