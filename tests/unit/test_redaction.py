"""Replacing people's identifiers: whole references and addresses only, any case, names
split across lines; in messages, encoded headers and quoted-printable or base64 text parts,
with attachments listed as not searched."""

from __future__ import annotations

from base64 import b64encode
from email import message_from_bytes
from email.policy import compat32, default

from bot.redaction import Redactor

R = Redactor(["C-1", "Casey One", "casey@mail.example"], "[x]")


def test_a_reference_is_replaced_whole_but_not_inside_a_longer_one() -> None:
    assert "[x], C-10 and XC-1" == R.text("C-1, C-10 and XC-1")


def test_an_address_is_replaced_in_any_case_but_not_inside_another() -> None:
    assert "<[x]> x.casey@mail.example casey@mail.example.org" == R.text(
        "<CASEY@mail.example> x.casey@mail.example casey@mail.example.org"
    )


def test_a_name_split_across_lines_is_replaced() -> None:
    assert "Dear [x]." == R.text("Dear casey\n  one.")


def test_strings_in_nested_data_are_replaced() -> None:
    assert {"who": ["[x]", 3]} == R.data({"who": ["C-1", 3]})


def test_encoded_headers_and_text_parts_are_redacted_and_attachments_listed() -> None:
    raw = (
        b"From: =?utf-8?q?Casey_One?= <casey@mail.example>\r\nSubject: hi\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nCasey O=\r\nne wrote\r\n"
        b"--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + b64encode(b"\x89PNG C-1")
        + b"\r\n--b--\r\n"
    )

    result = R.message(raw)

    parsed = message_from_bytes(result.raw, policy=default)
    text = parsed.get_body(("plain",))
    assert text is not None
    assert ("[x] <[x]>", "[x] wrote", ["part 3 (image/png): not text"]) == (
        str(message_from_bytes(result.raw, policy=compat32)["From"]),
        text.get_content().strip(),
        list(result.unchecked),
    )


def test_an_unchanged_message_keeps_its_bytes() -> None:
    raw = b"From: someone@else.example\r\nSubject: hi\r\n\r\nNothing here\r\n"

    assert (raw, False) == (R.message(raw).raw, R.message(raw).changed)


def test_names_and_addresses_written_the_html_or_url_way_are_replaced() -> None:
    r = Redactor(["Kim Oakes", "kim.oakes@mail.example", "Erin O'Quill", "KEEP-2"], "[X]")

    for written in (
        "Kim&nbsp;Oakes",
        "Kim <b>Oakes</b>",
        "Kim\u00a0Oakes",
        "Kim%20Oakes",
        "mailto:kim.oakes%40mail.example",
        "erin o&#39;quill",
        "Erin O&#x27;Quill",
        "Erin O\u2019Quill",
        "KEEP\u20112",
    ):
        assert not r.found_in(r.text(written)), written
    assert "Kimberly Oakes" == r.text("Kimberly Oakes")
    raw = "Content-Type: text/html; charset=utf-8\r\n\r\n<p>Kim&nbsp;Oakes, O\u2019Quill</p>\r\n"
    assert b"Oakes" not in Redactor(["Kim Oakes"], "[X]").message(raw.encode()).raw


def test_terms_right_after_url_encoded_characters_and_other_html_spellings_are_replaced() -> None:
    r = Redactor(["Siobhan O'Brien", "NV-1009", "siobhan.obrien@mail.example"], "[X]")

    for written in (
        "?q=Dear%20Siobhan%20O%27Brien",
        "subject=Re%3A%20NV-1009%20repair",
        "to=a%40b.example%2Csiobhan.obrien%40mail.example",
        "Siobhan O&#039;Brien",
        "Siobhan O&#8217;Brien",
        "Siobhan+O%27Brien",
        "siobhan&#x2E;obrien&#x40;mail.example",
        "NV&#45;1009",
        "NV\u20131009",
    ):
        assert not r.found_in(r.text(written)), written
    assert ("NV-10090", "xNV-1009") == (r.text("NV-10090"), r.text("xNV-1009"))
