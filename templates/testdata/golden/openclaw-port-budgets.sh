#!/bin/sh
# nemoclaw gateway recovery payload (openclaw gateway), rendered by nemoclaw: do not edit.
# Run it as `sh thisfile` or push it to `sh -s`. Everything is one brace group,
# so a truncated upload is a syntax error and runs nothing, and the shell has
# read the whole script before the first command runs.
{
readonly NC_RUN_ID='golden-run-0001'
readonly NC_AGENT='openclaw'
readonly NC_DISPLAY_NAME='OpenClaw'
readonly NC_MODE='gateway'
readonly NC_CHECK='0'
readonly NC_PORT='19000'
# shellcheck disable=SC1003,SC2016 # data from Quote, literal on purpose
readonly NC_GATEWAY_ARGV=''\''openclaw'\'' '\''gateway'\'' '\''run'\'' '\''--port'\'' '\''19000'\'''
readonly NC_GATEWAY_PATTERN='[o]penclaw[ -]gateway'
readonly NC_HEALTH_URL='http://127.0.0.1:19000/health'
readonly NC_BINARY='openclaw'
readonly NC_GOSU_USER='gateway'
readonly NC_REMOVE_OPENCLAW_LOCKS='1'
readonly NC_SECRET_BOUNDARY='0'
readonly NC_DEADLINE_MS='30000'
readonly NC_READINESS_MS='20000'
readonly NC_SETTLE_MS='0'
readonly NC_DASHBOARD_ENABLED='0'
readonly NC_DASHBOARD_PORT='0'
readonly NC_DASHBOARD_INTERNAL_PORT='0'
# shellcheck disable=SC1003,SC2016 # data from Quote, literal on purpose
readonly NC_DASHBOARD_ARGV=''\''env'\'' '\''HERMES_HOME=/sandbox/.hermes'\'' '\''hermes'\'' '\''dashboard'\'' '\''--host'\'' '\''127.0.0.1'\'' '\''--port'\'' '\''0'\'' '\''--skip-build'\'' '\''--no-open'\'''
readonly NC_DASHBOARD_PATTERN='[h]ermes[ -]dashboard'
readonly NC_DASHBOARD_URL='http://127.0.0.1:0/'
