#!/usr/bin/env bash
# Install the mail servers used by spocbot's integration tests (Debian 12):
# Dovecot (IMAP + LMTP) and Postfix; and the DejaVu fonts that PDF letters are printed in
# (names such as "Zoë Łukasiewicz" need more than the PDF base fonts).  Idempotent; run as root.
#
# The packages' own default instances are NOT used: tests/servers/start-servers.sh
# runs private instances on 127.0.0.1:10143 (IMAP), 10024 (LMTP), 10025 (SMTP).
# The system instances are kept from starting during install, and stopped and
# disabled afterwards if they run anyway, so nothing is left on 25/143/993.
set -euo pipefail

PACKAGES=(postfix dovecot-core dovecot-imapd dovecot-lmtpd dovecot-auth-lua iproute2 python3
    fonts-dejavu-core)
MAILUSER=spocbotmail

if [[ $(id -u) -ne 0 ]]; then
    echo "install-servers.sh: must run as root" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed; then
        missing+=("$p")
    fi
done

if ((${#missing[@]})); then
    echo "install-servers.sh: installing ${missing[*]}"
    # Postfix: no questions, and no system configuration (no /etc/postfix/main.cf,
    # so the system instance does not start).  Harmless if already answered.
    debconf-set-selections <<'DEBCONF'
postfix postfix/main_mailer_type select No configuration
postfix postfix/mailname string spocbot-test
DEBCONF
    # Keep package scripts from starting the system services.  Use a temporary
    # policy-rc.d only if the machine has none (containers often do already).
    tmp_policy=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        tmp_policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$tmp_policy"
        chmod 755 "$tmp_policy"
        trap 'rm -f "$tmp_policy"' EXIT
    fi
    apt-get update -q
    apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}"
    if [[ -n $tmp_policy ]]; then
        rm -f "$tmp_policy"
        trap - EXIT
    fi
else
    echo "install-servers.sh: packages already installed: ${PACKAGES[*]}"
fi

# Unprivileged owner of the test mailboxes.
if ! getent group "$MAILUSER" >/dev/null; then
    groupadd --system "$MAILUSER"
fi
if ! getent passwd "$MAILUSER" >/dev/null; then
    useradd --system --gid "$MAILUSER" --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin "$MAILUSER"
fi

# Stop and disable the system instances if they are running/enabled anyway.
if [[ -d /run/systemd/system ]]; then
    systemctl disable --now dovecot.service dovecot.socket postfix.service >/dev/null 2>&1 || true
else
    if [[ -e /run/dovecot/master.pid ]]; then
        doveadm stop >/dev/null 2>&1 || true
    fi
    if [[ -e /etc/postfix/main.cf ]] && postfix status >/dev/null 2>&1; then
        postfix stop >/dev/null 2>&1 || true
    fi
    if command -v update-rc.d >/dev/null; then
        update-rc.d dovecot disable >/dev/null 2>&1 || true
        update-rc.d postfix disable >/dev/null 2>&1 || true
    fi
fi

echo "install-servers.sh: done ($(dovecot --version | cut -d' ' -f1 | sed 's/^/dovecot /'), postfix $(postconf -dh mail_version))"
