#!/usr/bin/env bash
# Start the spocbot test mail servers on loopback (idempotent):
#   Dovecot  IMAP 127.0.0.1:10143 (no TLS), LMTP 127.0.0.1:10024
#   Postfix  SMTP 127.0.0.1:10025 (no auth) -> LMTP -> Dovecot
# Config templates live next to this script; runtime state (rendered config,
# mail, queues, logs) under $SPOCBOT_TEST_STATE (default /var/tmp/spocbot-test).
#
# Already running, answering and configured as in the repo: exit 0 at once.
# Stale (dead, not answering, or repo config changed): restarted.
# Needs root and the packages from .ci/install-servers.sh.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${SPOCBOT_TEST_STATE:-/var/tmp/spocbot-test}
STATE=${STATE%/}
MAILUSER=spocbotmail
IMAP_PORT=10143
LMTP_PORT=10024
SMTP_PORT=10025
SUBMISSION_PORT=10587
TIMEOUT=${SPOCBOT_TEST_START_TIMEOUT:-30}

DOVECOT_CONF=$STATE/dovecot/dovecot.conf
DOVECOT_PIDFILE=$STATE/dovecot/run/master.pid
POSTFIX_DIR=$STATE/postfix/etc
POSTFIX_PIDFILE=$STATE/postfix/spool/pid/master.pid
DOVECOT_LOG=$STATE/log/dovecot.log
POSTFIX_LOG=$STATE/log/postfix.log

say() { echo "start-servers: $*"; }
die() { echo "start-servers: ERROR: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (Postfix and Dovecot need it)"
[[ $STATE == /* ]] || die "SPOCBOT_TEST_STATE must be an absolute path: $STATE"
for cmd in dovecot doveadm postfix postconf; do
    command -v "$cmd" >/dev/null || die "$cmd not found; run .ci/install-servers.sh first"
done

# ---------------------------------------------------------------- helpers

# probe PORT GREETING_PREFIX QUIT_COMMAND: connect, check the greeting, quit.
probe() {
    # shellcheck disable=SC2016  # expanded by the inner bash
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        IFS= read -r -t 2 line <&3 || exit 1
        printf "%s\r\n" "$3" >&3
        cat <&3 >/dev/null
        [[ $line == "$2"* ]]' probe "$1" "$2" "$3" 2>/dev/null
}
dovecot_answers() { probe "$IMAP_PORT" "* OK" "a LOGOUT" && probe "$LMTP_PORT" "220 " "QUIT"; }
postfix_answers() { probe "$SMTP_PORT" "220 " "QUIT" && probe "$SUBMISSION_PORT" "220 " "QUIT"; }

# Alive = exists and is not a zombie (PID 1 in containers may reap late).
pid_alive() {
    [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null &&
        [[ $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) != Z ]]
}
pidfile_pid() { [[ -r $1 ]] && tr -dc '0-9' <"$1" || true; }

# Kill leftovers of *our* instances still holding PORT (e.g. the state dir
# was wiped while they ran): only processes whose command line or
# environment names our state dir.
kill_strays_on_port() {
    local port=$1 pid
    command -v ss >/dev/null || return 0
    for pid in $(ss -ltnpH "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
        if tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$STATE/" ||
           tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | grep -qF "MAIL_CONFIG=$POSTFIX_DIR"; then
            say "killing stray process $pid on port $port"
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
}

port_owner() {
    command -v ss >/dev/null && ss -ltnpH "sport = :$1" 2>/dev/null || true
}

# render TEMPLATE DEST: substitute @STATE@ etc.; returns 0 if DEST changed.
render() {
    local tmp
    tmp=$(mktemp "$2.XXXXXX")
    sed -e "s|@STATE@|$STATE|g" -e "s|@MAILUSER@|$MAILUSER|g" -e "s|@MAILGROUP@|$MAILUSER|g" \
        "$1" >"$tmp"
    if [[ -f $2 ]] && cmp -s "$tmp" "$2"; then
        rm -f "$tmp"
        return 1
    fi
    chmod 644 "$tmp"
    mv -f "$tmp" "$2"
    return 0
}

wait_for() { # wait_for NAME CHECK_FN LOG
    local deadline=$((SECONDS + TIMEOUT))
    until "$2"; do
        if ((SECONDS >= deadline)); then
            echo "start-servers: ERROR: $1 did not answer within ${TIMEOUT}s" >&2
            echo "---- last lines of $3 ----" >&2
            tail -n 40 "$3" >&2 2>/dev/null || echo "(no log)" >&2
            exit 1
        fi
        sleep 0.1
    done
}

# ---------------------------------------------------------------- setup

if ! getent group "$MAILUSER" >/dev/null; then groupadd --system "$MAILUSER"; fi
if ! getent passwd "$MAILUSER" >/dev/null; then
    useradd --system --gid "$MAILUSER" --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin "$MAILUSER"
fi

mkdir -p "$STATE/log" "$STATE/dovecot/run" "$STATE/dovecot/state" "$STATE/mail" \
         "$POSTFIX_DIR" "$STATE/postfix/spool" "$STATE/postfix/data"
chmod 755 "$STATE" "$STATE/log" "$STATE/dovecot" "$STATE/postfix" "$POSTFIX_DIR"
# Mail left by an earlier spocbotmail with another uid (new machine, same
# state dir): hand all of it to the current one.
if [[ $(stat -c %U "$STATE/mail") != "$MAILUSER" ]]; then
    chown -R "$MAILUSER:$MAILUSER" "$STATE/mail"
fi
chmod 750 "$STATE/mail"
# The key the local Entra ID stand-in signs XOAUTH2 tokens with: read by the tests (root)
# and by Dovecot's checkpassword program (its internal user).
mkdir -p "$STATE/oauth"
if [[ ! -s $STATE/oauth/xoauth2.key ]]; then
    od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$STATE/oauth/xoauth2.key"
fi
auth_group=$(id -gn "$(doveconf -c "$HERE/dovecot.conf.in" -h default_internal_user 2>/dev/null || echo dovecot)" 2>/dev/null || echo root)
chown "root:$auth_group" "$STATE/oauth" "$STATE/oauth/xoauth2.key"
chmod 750 "$STATE/oauth"
chmod 640 "$STATE/oauth/xoauth2.key"

dovecot_changed=0
postfix_changed=0
render "$HERE/dovecot.conf.in" "$DOVECOT_CONF" && dovecot_changed=1
render "$HERE/check-xoauth2-token.in" "$STATE/dovecot/check-xoauth2-token" && dovecot_changed=1
render "$HERE/xoauth2.lua.in" "$STATE/dovecot/xoauth2.lua" && dovecot_changed=1
chmod 755 "$STATE/dovecot/check-xoauth2-token"
render "$HERE/postfix/main.cf.in" "$POSTFIX_DIR/main.cf" && postfix_changed=1
render "$HERE/postfix/master.cf" "$POSTFIX_DIR/master.cf" && postfix_changed=1

# ---------------------------------------------------------------- Dovecot

dovecot_stop() {
    local pid
    pid=$(pidfile_pid "$DOVECOT_PIDFILE")
    if pid_alive "$pid"; then
        doveadm -c "$DOVECOT_CONF" stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
        for _ in $(seq 100); do pid_alive "$pid" || break; sleep 0.1; done
        pid_alive "$pid" && kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$DOVECOT_PIDFILE"
    kill_strays_on_port "$IMAP_PORT"
    kill_strays_on_port "$LMTP_PORT"
}

dovecot_restarted=0
dpid=$(pidfile_pid "$DOVECOT_PIDFILE")
if pid_alive "$dpid" && ((dovecot_changed == 0)) && dovecot_answers; then
    say "dovecot already running (pid $dpid)"
else
    if pid_alive "$dpid"; then
        if ((dovecot_changed)); then say "dovecot config changed: restarting"
        else say "dovecot (pid $dpid) not answering: restarting"; fi
    fi
    dovecot_stop
    for port in "$IMAP_PORT" "$LMTP_PORT"; do
        owner=$(port_owner "$port")
        [[ -z $owner ]] || die "port $port is taken by another process: $owner"
    done
    : >>"$DOVECOT_LOG"
    dovecot -c "$DOVECOT_CONF" || {
        tail -n 20 "$DOVECOT_LOG" >&2 || true
        die "dovecot failed to start (config $DOVECOT_CONF)"
    }
    wait_for dovecot dovecot_answers "$DOVECOT_LOG"
    dovecot_restarted=1
    say "dovecot started (pid $(pidfile_pid "$DOVECOT_PIDFILE"))"
fi

# ---------------------------------------------------------------- Postfix

pf() { postfix -c "$POSTFIX_DIR" "$@"; }

postfix_stop() {
    local pid
    pid=$(pidfile_pid "$POSTFIX_PIDFILE")
    if pid_alive "$pid"; then
        pf stop >/dev/null 2>&1 || true
        for _ in $(seq 100); do pid_alive "$pid" || break; sleep 0.1; done
        if pid_alive "$pid"; then
            pf abort >/dev/null 2>&1 || kill -9 "$pid" 2>/dev/null || true
            for _ in $(seq 30); do pid_alive "$pid" || break; sleep 0.1; done
        fi
    fi
    kill_strays_on_port "$SMTP_PORT"
    kill_strays_on_port "$SUBMISSION_PORT"
}

ppid_=$(pidfile_pid "$POSTFIX_PIDFILE")
if pid_alive "$ppid_" && ((postfix_changed == 0)) && postfix_answers; then
    say "postfix already running (pid $ppid_)"
    # Deferred mail (e.g. while Dovecot was down): deliver it now.
    if ((dovecot_restarted)); then pf flush >/dev/null 2>&1 || true; fi
else
    if pid_alive "$ppid_"; then
        if ((postfix_changed)); then say "postfix config changed: restarting"
        else say "postfix (pid $ppid_) not answering: restarting"; fi
    fi
    postfix_stop
    for port in "$SMTP_PORT" "$SUBMISSION_PORT"; do
        owner=$(port_owner "$port")
        [[ -z $owner ]] || die "port $port is taken by another process: $owner"
    done
    : >>"$POSTFIX_LOG"
    # Creates/repairs queue directories and ownership, then starts master.
    pf set-permissions >/dev/null 2>&1 || true
    if ! out=$(pf start 2>&1); then
        echo "$out" >&2
        tail -n 20 "$POSTFIX_LOG" >&2 || true
        die "postfix failed to start (config $POSTFIX_DIR)"
    fi
    wait_for postfix postfix_answers "$POSTFIX_LOG"
    say "postfix started (pid $(pidfile_pid "$POSTFIX_PIDFILE"))"
fi

say "IMAP 127.0.0.1:$IMAP_PORT  LMTP 127.0.0.1:$LMTP_PORT  SMTP 127.0.0.1:$SMTP_PORT"
say "submission (SASL XOAUTH2) 127.0.0.1:$SUBMISSION_PORT"
say "logs: $DOVECOT_LOG $POSTFIX_LOG"
say "mail: $STATE/mail/<domain>/<user>/Maildir"
