#!/usr/bin/env python3
"""Smoke check for the spocbot test mail servers (stdlib only).

Sends mail through SMTP 127.0.0.1:10025 to a fresh random address, logs into
IMAP 127.0.0.1:10143 as that address (password "testpass") and checks:

* both messages arrive in INBOX within 10 s;
* UID FETCH (BODY.PEEK[HEADER]) works and does not set \\Seen;
* UID STORE +FLAGS ($SpocbotHandled) works and the keyword is kept
  (seen again from a new session, and found by UID SEARCH KEYWORD);
* BODY.PEEK[] ends with exactly the bytes sent: the 8-bit UTF-8 body and
  the 2000-character line come through unchanged, and nothing is added to
  the sent header block (no Message-ID/Date added when missing);
* CAPABILITY has IDLE and UIDPLUS, and IDLE reports a new message.

Usage: python3 tests/servers/smoke.py [-v]    (-v prints delivered headers)
Exit status 0 on success, 1 with a message on failure.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import smtplib
import sys
import time
import uuid

HOST = "127.0.0.1"
SMTP_PORT = 10025
IMAP_PORT = 10143
PASSWORD = "testpass"
KEYWORD = "$SpocbotHandled"
ARRIVAL_TIMEOUT = 10.0

VERBOSE = "-v" in sys.argv[1:]


class SmokeFailure(Exception):
    pass


def check(cond: bool, what: str) -> None:
    if not cond:
        raise SmokeFailure(what)
    print(f"ok   {what}")


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


def build_messages(addr: str, token: str) -> dict[str, bytes]:
    """Two raw messages (CRLF line endings, as they travel over SMTP)."""
    # 1: complete headers, 8-bit UTF-8 body of about 2000 characters in
    #    ordinary short lines.
    lines = [
        "Grüße aus Köln – ça va? Ελληνικά, русский, 日本語, emoji 📬.",
        "Zeile mit Umlauten: äöü ÄÖÜ ß, and a trailing space: ",
        ".a line that starts with a dot (SMTP dot-stuffing)",
        "From the start of a line (mbox quoting must not happen)",
    ]
    body_lines = []
    i = 0
    while sum(len(x) + 1 for x in body_lines) < 2000:
        body_lines.append(f"{i:03d} {lines[i % len(lines)]}")
        i += 1
    body1 = "\n".join(body_lines) + "\n"
    msg1 = crlf(
        f"From: Smoke Sender <sender@smoke.example>\n"
        f"To: <{addr}>\n"
        f"Subject: spocbot smoke 8bit {token}\n"
        f"Date: Mon, 01 Jan 2024 12:00:00 +0000\n"
        f"Message-ID: <{token}.1@smoke.example>\n"
        f"MIME-Version: 1.0\n"
        f"Content-Type: text/plain; charset=utf-8\n"
        f"Content-Transfer-Encoding: 8bit\n"
        f"X-Spocbot-Smoke: {token} 1\n"
        f"\n"
    ) + crlf(body1)

    # 2: no Date, no Message-ID, no To; one 2000-character line (longer
    #    than the 998 of RFC 5322) plus a short one.
    long_line = ("0123456789abcdefghijklmnopqrstuvwxyz" * 60)[:2000]
    body2 = long_line + "\nend\n"
    msg2 = crlf(
        f"From: sender@smoke.example\n"
        f"Subject: spocbot smoke long line {token}\n"
        f"X-Spocbot-Smoke: {token} 2\n"
        f"\n"
    ) + crlf(body2)
    return {"1": msg1, "2": msg2}


def split_message(raw: bytes) -> tuple[bytes, bytes]:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise SmokeFailure("fetched message has no header/body separator")
    return head + b"\r\n", body


def imap_login(addr: str) -> imaplib.IMAP4:
    m = imaplib.IMAP4(HOST, IMAP_PORT, timeout=10)
    m.login(addr, PASSWORD)
    return m


def fetch_one(m: imaplib.IMAP4, uid: bytes, item: str) -> bytes:
    typ, data = m.uid("FETCH", uid, f"({item})")
    if typ != "OK":
        raise SmokeFailure(f"UID FETCH {uid!r} ({item}) failed: {data!r}")
    for part in data:
        if isinstance(part, tuple):
            return part[1]
    raise SmokeFailure(f"UID FETCH {uid!r} ({item}) returned no literal: {data!r}")


def flags_of(m: imaplib.IMAP4, uid: bytes) -> list[str]:
    typ, data = m.uid("FETCH", uid, "(FLAGS)")
    if typ != "OK" or not data or data[0] is None:
        raise SmokeFailure(f"UID FETCH {uid!r} (FLAGS) failed: {data!r}")
    raw = data[0].decode() if isinstance(data[0], bytes) else data[0][0].decode()
    mo = re.search(r"FLAGS \(([^)]*)\)", raw)
    if not mo:
        raise SmokeFailure(f"no FLAGS in {raw!r}")
    return mo.group(1).split()


def wait_for_uids(m: imaplib.IMAP4, count: int, timeout: float) -> list[bytes]:
    deadline = time.monotonic() + timeout
    while True:
        m.noop()
        typ, data = m.uid("SEARCH", None, "ALL")
        uids = data[0].split() if typ == "OK" and data and data[0] else []
        if len(uids) >= count or time.monotonic() >= deadline:
            return uids
        time.sleep(0.05)


def idle_check(addr: str, send) -> float:
    """IDLE on INBOX, send one more message, expect an untagged EXISTS."""
    m = imap_login(addr)
    try:
        m.select("INBOX")
        tag = m._new_tag()  # imaplib in 3.11 has no idle(): speak it raw
        m.send(tag + b" IDLE\r\n")
        line = m.readline()
        if not line.startswith(b"+"):
            raise SmokeFailure(f"IDLE not accepted: {line!r}")
        t0 = time.monotonic()
        send()
        m.sock.settimeout(ARRIVAL_TIMEOUT)
        try:
            while True:
                line = m.readline()
                if not line:
                    raise SmokeFailure("connection closed during IDLE")
                if re.match(rb"\* \d+ EXISTS", line):
                    break
        except TimeoutError:
            raise SmokeFailure(f"no EXISTS during IDLE within {ARRIVAL_TIMEOUT}s") from None
        elapsed = time.monotonic() - t0
        m.send(b"DONE\r\n")
        while True:
            line = m.readline()
            if line.startswith(tag):
                if b" OK" not in line:
                    raise SmokeFailure(f"IDLE ended badly: {line!r}")
                break
        return elapsed
    finally:
        with contextlib.suppress(Exception):
            m.logout()


def main() -> int:
    token = uuid.uuid4().hex[:10]
    addr = f"smoke-{token}@test.example"
    msgs = build_messages(addr, token)
    print(f"smoke: recipient {addr}")

    # --- send -------------------------------------------------------------
    t_send = time.monotonic()
    with smtplib.SMTP(HOST, SMTP_PORT, timeout=10) as s:
        s.ehlo("smoke.example")
        check(s.has_extn("8bitmime"), "SMTP announces 8BITMIME")
        size = int((s.esmtp_features.get("size") or "0").split()[0] or 0)
        check(size >= 50 * 1024 * 1024, f"SMTP SIZE limit >= 50 MB ({size})")
        for key in ("1", "2"):
            refused = s.sendmail(
                "sender@smoke.example", [addr], msgs[key], mail_options=["BODY=8BITMIME"]
            )
            check(not refused, f"SMTP accepted message {key}")

    # --- arrival ----------------------------------------------------------
    m = imap_login(addr)
    check(True, f"IMAP login as {addr} / {PASSWORD}")
    typ, caps = m.capability()
    caps = caps[0].decode().upper().split()
    check("IDLE" in caps and "UIDPLUS" in caps, "CAPABILITY has IDLE and UIDPLUS")
    typ, data = m.select("INBOX")
    check(typ == "OK", "SELECT INBOX")
    _, perm = m.response("PERMANENTFLAGS")
    check(
        bool(perm and perm[0] and b"\\*" in perm[0]),
        f"PERMANENTFLAGS allows new keywords ({perm[0]!r})",
    )
    uids = wait_for_uids(m, 2, ARRIVAL_TIMEOUT)
    elapsed = time.monotonic() - t_send
    check(len(uids) == 2, f"both messages arrived in INBOX ({elapsed:.3f}s after sending)")

    # map our messages to UIDs via the marker header
    by_key: dict[str, bytes] = {}
    headers: dict[str, bytes] = {}
    for uid in uids:
        head = fetch_one(m, uid, "BODY.PEEK[HEADER]")
        mo = re.search(rb"X-Spocbot-Smoke: " + token.encode() + rb" (\d)", head)
        if mo:
            by_key[mo.group(1).decode()] = uid
            headers[mo.group(1).decode()] = head
    check(set(by_key) == {"1", "2"}, "UID FETCH (BODY.PEEK[HEADER]) works")
    for key, uid in by_key.items():
        check("\\Seen" not in flags_of(m, uid), f"BODY.PEEK[HEADER] left msg {key} unseen")

    # --- keyword ----------------------------------------------------------
    uid1 = by_key["1"]
    typ, data = m.uid("STORE", uid1, "+FLAGS", f"({KEYWORD})")
    check(
        typ == "OK" and KEYWORD.encode() in b" ".join(d for d in data if isinstance(d, bytes)),
        f"UID STORE +FLAGS ({KEYWORD})",
    )
    m.logout()

    m = imap_login(addr)
    m.select("INBOX")
    f1 = flags_of(m, uid1)
    check(KEYWORD in f1 and "\\Seen" not in f1, f"{KEYWORD} kept in a new session (flags {f1})")
    typ, data = m.uid("SEARCH", None, "KEYWORD", KEYWORD)
    check(typ == "OK" and data[0].split() == [uid1], f"UID SEARCH KEYWORD {KEYWORD}")

    # --- bytes ------------------------------------------------------------
    for key, uid in sorted(by_key.items()):
        raw = fetch_one(m, uid, "BODY.PEEK[]")
        _, sent_body = split_message(msgs[key])
        _, got_body = split_message(raw)
        check(
            got_body == sent_body, f"message {key}: body bytes unchanged ({len(sent_body)} bytes)"
        )
        check(
            raw.endswith(msgs[key]),
            f"message {key}: whole sent message is an unchanged suffix "
            f"(only trace headers prepended)",
        )
        added = raw[: len(raw) - len(msgs[key])]
        if VERBOSE:
            print(f"---- message {key}: header lines added in transit ----")
            print(added.decode("utf-8", "replace").rstrip())
    f2 = flags_of(m, by_key["2"])
    check("\\Seen" not in f2, "BODY.PEEK[] left message unseen")
    m.logout()

    # --- IDLE -------------------------------------------------------------
    def send_third() -> None:
        with smtplib.SMTP(HOST, SMTP_PORT, timeout=10) as s:
            s.sendmail(
                "sender@smoke.example",
                [addr],
                crlf(f"From: sender@smoke.example\nSubject: idle {token}\n\nidle\n"),
            )

    took = idle_check(addr, send_third)
    check(True, f"IDLE saw the new message {took:.3f}s after sending")

    print("smoke: all checks passed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SmokeFailure as e:
        print(f"FAIL {e}", file=sys.stderr)
        sys.exit(1)
    except (OSError, smtplib.SMTPException, imaplib.IMAP4.error) as e:
        print(
            f"FAIL {type(e).__name__}: {e} "
            f"(are the servers running? tests/servers/start-servers.sh)",
            file=sys.stderr,
        )
        sys.exit(1)
