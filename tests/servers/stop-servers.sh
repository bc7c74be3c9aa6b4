#!/usr/bin/env bash
# Stop the spocbot test mail servers started by start-servers.sh (Postfix on
# 127.0.0.1:10025, Dovecot on 127.0.0.1:10143/10024).  Idempotent: stopping
# servers that are not running is not an error.  Mail and logs are kept under
# $SPOCBOT_TEST_STATE (default /var/tmp/spocbot-test); delete that directory
# for a clean slate.
set -euo pipefail

STATE=${SPOCBOT_TEST_STATE:-/var/tmp/spocbot-test}
STATE=${STATE%/}
DOVECOT_CONF=$STATE/dovecot/dovecot.conf
DOVECOT_PIDFILE=$STATE/dovecot/run/master.pid
POSTFIX_DIR=$STATE/postfix/etc
POSTFIX_PIDFILE=$STATE/postfix/spool/pid/master.pid

say() { echo "stop-servers: $*"; }
# Alive = exists and is not a zombie (PID 1 in containers may reap late).
pid_alive() {
    [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null &&
        [[ $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) != Z ]]
}
pidfile_pid() { [[ -r $1 ]] && tr -dc '0-9' <"$1" || true; }
wait_gone() { # wait_gone PID SECONDS
    local i
    for ((i = 0; i < $2 * 10; i++)); do pid_alive "$1" || return 0; sleep 0.1; done
    return 1
}

[[ $(id -u) -eq 0 ]] || { echo "stop-servers: must run as root" >&2; exit 1; }

# Postfix first, so nothing is handed to a Dovecot that is going away.
pid=$(pidfile_pid "$POSTFIX_PIDFILE")
if pid_alive "$pid"; then
    postfix -c "$POSTFIX_DIR" stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 10; then
        postfix -c "$POSTFIX_DIR" abort >/dev/null 2>&1 || kill -9 "$pid" 2>/dev/null || true
        wait_gone "$pid" 3 || true
    fi
    say "postfix stopped (pid $pid)"
else
    say "postfix not running"
fi

pid=$(pidfile_pid "$DOVECOT_PIDFILE")
if pid_alive "$pid"; then
    doveadm -c "$DOVECOT_CONF" stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 10; then
        kill -9 "$pid" 2>/dev/null || true
        wait_gone "$pid" 3 || true
    fi
    rm -f "$DOVECOT_PIDFILE"
    say "dovecot stopped (pid $pid)"
else
    say "dovecot not running"
fi
