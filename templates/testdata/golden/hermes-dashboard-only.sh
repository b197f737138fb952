#!/bin/sh
# nemoclaw gateway recovery payload (hermes hermes-dashboard), rendered by nemoclaw: do not edit.
# Run it as `sh thisfile` or push it to `sh -s`. Everything is one brace group,
# so a truncated upload is a syntax error and runs nothing, and the shell has
# read the whole script before the first command runs.
{
readonly NC_RUN_ID='golden-run-0001'
readonly NC_AGENT='hermes'
readonly NC_DISPLAY_NAME='Hermes Agent'
readonly NC_MODE='hermes-dashboard'
readonly NC_CHECK='0'
readonly NC_PORT='18789'
# shellcheck disable=SC1003,SC2016 # data from Quote, literal on purpose
readonly NC_GATEWAY_ARGV=''\''env'\'' '\''HERMES_HOME=/sandbox/.hermes'\'' '\''hermes'\'' '\''gateway'\'' '\''run'\'''
readonly NC_GATEWAY_PATTERN='[h]ermes[ -]gateway'
readonly NC_HEALTH_URL='http://localhost:8642/health'
readonly NC_BINARY='/usr/local/bin/hermes'
readonly NC_GOSU_USER=''
readonly NC_REMOVE_OPENCLAW_LOCKS='0'
readonly NC_SECRET_BOUNDARY='1'
readonly NC_DEADLINE_MS='120000'
readonly NC_READINESS_MS='90000'
readonly NC_SETTLE_MS='3000'
readonly NC_DASHBOARD_ENABLED='1'
readonly NC_DASHBOARD_PORT='18789'
readonly NC_DASHBOARD_INTERNAL_PORT='9119'
# shellcheck disable=SC1003,SC2016 # data from Quote, literal on purpose
readonly NC_DASHBOARD_ARGV=''\''env'\'' '\''HERMES_HOME=/sandbox/.hermes'\'' '\''hermes'\'' '\''dashboard'\'' '\''--host'\'' '\''127.0.0.1'\'' '\''--port'\'' '\''9119'\'' '\''--skip-build'\'' '\''--no-open'\'''
readonly NC_DASHBOARD_PATTERN='[h]ermes[ -]dashboard'
readonly NC_DASHBOARD_URL='http://127.0.0.1:9119/'
