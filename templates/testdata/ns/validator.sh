#!/bin/sh
# Test stand-in for /usr/local/lib/nemoclaw/validate-hermes-env-secret-boundary.py
# (installed executable, so the payload runs it directly). It records each
# call, and in the violation modes prints the secret it found, as a careless
# real validator might: the payload must never copy that output into a log.
mode=$(cat /run/ns/validator.mode 2>/dev/null || echo clean)
printf 'uid=%s args=%s\n' "$(id -u)" "$*" >>/run/ns/rec/validator.log
case "$1" in
--process-env)
	if [ "$mode" = violate-env ]; then
		echo "secret in process environment: $(cat /sandbox/.hermes/.env)"
		echo "secret in process environment: $(cat /sandbox/.hermes/.env)" >&2
		exit 41
	fi
	;;
*)
	if [ "$mode" = violate-file ]; then
		echo "secret in $1: $(cat "$1")"
		echo "secret in $1: $(cat "$1")" >&2
		exit 37
	fi
	;;
esac
exit 0
