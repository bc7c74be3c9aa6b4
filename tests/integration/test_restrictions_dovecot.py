"""Restrictions end to end on the real servers: a contact cap and a subject restriction."""

from __future__ import annotations

import json

from tests.mailtest import Org, deliver_and_wait, message, wait_for_count

TOPICS = '\n[topics]\nrepairs = ["repair", "leak", "damp"]\nnoise = ["noise", "loud"]\n'


def restrict(org: Org, **columns: str) -> None:
    """Re-import the organisation's customer with extra restriction columns."""
    org.config.write_text(org.config.read_text() + TOPICS)
    lines = (org.root / "register.csv").read_text().splitlines()
    header = lines[0] + "," + ",".join(columns)
    row = lines[1] + "," + ",".join(columns.values())
    (org.root / "restricted.csv").write_text(f"{header}\n{row}\n")
    org.spocbot("register", "import", str(org.root / "restricted.csv"))


def test_contact_over_the_weekly_cap_is_a_breach_forwarded_to_the_spoc(org: Org) -> None:
    restrict(org, max_contacts="1/week")
    deliver_and_wait(message(org.customer, org.spoc, subject="Leak"), [org.spoc])
    org.spocbot("watch", "--once")
    deliver_and_wait(message(org.customer, org.spoc, subject="Another leak"), [org.spoc])

    report = json.loads(org.spocbot("watch", "--once", "--json").stdout)

    assert 1 == report["new_breaches"]
    [breach] = json.loads(org.spocbot("breaches", "list", "--json").stdout)
    assert ["over-contact-limit"] == breach["rules"]
    assert "contact 2 this week, over the limit of 1/week" == breach["reason"]
    assert any(b"X-Spocbot-Kind: breach-forward" in m for m in wait_for_count(org.spoc, 3))


def test_message_about_another_subject_is_judged_on_its_text(org: Org) -> None:
    restrict(org, subject_matters="repairs")
    deliver_and_wait(
        message(org.customer, org.spoc, subject="Hello", body="The music next door is so loud."),
        [org.spoc],
    )
    deliver_and_wait(
        message(org.customer, org.spoc, subject="Hello again", body="The bathroom has damp."),
        [org.spoc],
    )

    report = json.loads(org.spocbot("watch", "--once", "--json").stdout)

    assert {"breach": 1, "allowed": 1} == report["decisions"]
    [breach] = json.loads(org.spocbot("breaches", "list", "--json").stdout)
    assert (
        "about none of the permitted subjects (repairs); it mentions noise: loud"
        == (breach["reason"])
    )


def test_emergency_reaches_spoc_and_emergency_route_at_once(org: Org) -> None:
    route = f"emergencies-{org.tag}@test.example"
    org.config.write_text(
        org.config.read_text() + f'\n[emergency]\nforward_to = "{route}"\nname = "Contact centre"\n'
    )
    restrict(org, max_contacts="1/month")
    deliver_and_wait(message(org.customer, org.spoc, subject="Earlier"), [org.spoc])
    org.spocbot("watch", "--once")
    raw = message(org.customer, org.info, subject="Help", body="I can smell gas in the hallway.")
    deliver_and_wait(raw, [org.info])

    report = json.loads(org.spocbot("watch", "--once", "--json").stdout)

    assert {"emergency": 1} == report["decisions"]
    for address in (org.spoc, route):
        forwards = [m for m in wait_for_count(address, 1) if b"[POSSIBLE EMERGENCY]" in m]
        assert 1 == len(forwards), address
        assert b"Importance: high" in forwards[0]
    [breach] = json.loads(org.spocbot("breaches", "list", "--json").stdout)
    assert ["emergency", "bypassed-spoc", "over-contact-limit"] == breach["rules"]


def test_acknowledgement_reaches_the_customer_and_none_answers_an_auto_reply(org: Org) -> None:
    restrict(org, acknowledge="yes")
    auto_reply = message(org.customer, org.spoc, subject="Automatic reply: away").replace(
        b"MIME-Version", b"Auto-Submitted: auto-replied\r\nMIME-Version"
    )
    deliver_and_wait(auto_reply, [org.spoc])
    org.spocbot("watch", "--once")
    assert [] == wait_for_count(org.customer, 1, timeout=2)
    deliver_and_wait(message(org.customer, org.spoc, subject="Leak"), [org.spoc])

    org.spocbot("watch", "--once")

    [ack] = wait_for_count(org.customer, 1)
    assert b"Auto-Submitted: auto-replied" in ack
    assert b"Sam Spoc will deal with it" in ack.replace(b"=\r\n", b"")
