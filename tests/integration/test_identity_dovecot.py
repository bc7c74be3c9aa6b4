"""Who wrote it, end to end on the real servers: an agreed representative's mail counts as the
customer's, and a possible match waits in the review queue until the DMO confirms it."""

from __future__ import annotations

import json

from tests.integration.test_restrictions_dovecot import restrict
from tests.mailtest import Org, deliver_and_wait, message, wait_for_count


def test_representatives_message_to_the_information_mailbox_is_the_customers_breach(
    org: Org,
) -> None:
    advocate = f"advocate-{org.tag}@advocacy.example"
    restrict(org, representative_emails=advocate)
    deliver_and_wait(message(advocate, org.info, subject="On behalf of my client"), [org.info])

    report = json.loads(org.spocbot("watch", "--once", "--json").stdout)

    assert 1 == report["new_breaches"]
    [breach] = json.loads(org.spocbot("breaches", "list", "--json").stdout)
    assert ("T-1", ["bypassed-spoc"]) == (breach["customer_ref"], breach["rules"])
    assert "sent by the customer's agreed representative" in breach["reason"]
    [forward] = [m for m in wait_for_count(org.spoc, 1) if b"breach-forward" in m]
    assert b"On behalf of my client" in forward


def test_possible_match_is_forwarded_only_once_the_dmo_confirms_it(org: Org) -> None:
    stranger = f"new-address-{org.tag}@elsewhere.example"
    signed = "The tap is still leaking.\r\n\r\nKind regards,\r\nTest Customer"
    deliver_and_wait(message(stranger, org.info, subject="Tap", body=signed), [org.info])

    report = json.loads(org.spocbot("watch", "--once", "--json").stdout)

    assert (1, 0, 0) == (report["to_review"], report["new_breaches"], report["forwards_sent"])
    [item] = json.loads(org.spocbot("review", "list", "--json").stdout)
    assert (stranger, ["T-1"]) == (item["sender"], item["candidates"])
    assert [] == wait_for_count(org.spoc, 1, timeout=1)

    confirmed = org.spocbot("review", "confirm", str(item["id"]), "--operator", "Dana DMO")
    assert f"{stranger} added to customer T-1" in confirmed.stdout
    report = json.loads(org.spocbot("watch", "--once", "--json").stdout)

    assert 1 == report["forwards_sent"]
    [forward] = wait_for_count(org.spoc, 1)
    assert b"confirmed as the customer's from the review queue by Dana DMO" in forward.replace(
        b"=\r\n", b""
    )
    *_, event = json.loads(
        org.spocbot("audit", "list", "--action", "review.", "--json").stdout
    )  # after the import
    assert ("Dana DMO", "review.confirm", "T-1") == (
        event["operator"],
        event["action"],
        event["customer_ref"],
    )
    # From now on the new address is the customer's: no review, straight to a breach.
    deliver_and_wait(message(stranger, org.info, subject="Again"), [org.info])
    report = json.loads(org.spocbot("watch", "--once", "--json").stdout)
    assert (0, 1) == (report["to_review"], report["new_breaches"])


def test_dismissed_possible_match_is_never_forwarded(org: Org) -> None:
    stranger = f"neighbour-{org.tag}@elsewhere.example"
    body = "My neighbour's fence is down.\r\n\r\nThanks,\r\nJo, next door to Test Customer"
    deliver_and_wait(message(stranger, org.info, subject="Fence", body=body), [org.info])
    org.spocbot("watch", "--once")
    [item] = json.loads(org.spocbot("review", "list", "--json").stdout)

    dismissed = org.spocbot("review", "dismiss", str(item["id"]), "--note", "a neighbour")
    org.spocbot("watch", "--once")

    assert f"Review item {item['id']} dismissed." in dismissed.stdout
    assert [] == json.loads(org.spocbot("review", "list", "--json").stdout)
    assert [] == wait_for_count(org.spoc, 1, timeout=1)
    refused = org.spocbot("review", "confirm", str(item["id"]), check=False)
    assert 1 == refused.returncode
    assert "already dismissed" in refused.stderr
