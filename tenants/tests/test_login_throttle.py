"""Failed logins are throttled per address across accounts too: one address cannot try a few passwords
on each of many accounts (credential stuffing). Test settings: AXES_FAILURE_LIMIT = 3."""

from __future__ import annotations

import pytest

from tenants.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.9"
SOMEONE_ELSE = "198.51.100.20"


def _login(client, user, password: str, address: str):
    return client.post(
        "/accounts/login/", {"username": user.email, "password": password}, REMOTE_ADDR=address
    )


def test_one_address_failing_on_many_accounts_is_locked_out_of_every_account(client, settings):
    victims = [UserFactory() for _ in range(settings.AXES_FAILURE_LIMIT)]
    # One guess per account, never the limit for any one account; the address reaches it on the last.
    statuses = [_login(client, victim, "Winter2026!", ATTACKER).status_code for victim in victims]
    assert statuses == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    bystander = UserFactory()
    refused = _login(client, bystander, PASSWORD, ATTACKER)  # the right password, but from that address
    assert refused.status_code == 429
    assert b"Too many failed logins" in refused.content
    elsewhere = _login(client, bystander, PASSWORD, SOMEONE_ELSE)  # the account itself is not locked
    assert elsewhere.status_code == 302


def test_a_few_mistakes_from_one_address_still_let_its_users_in(client, settings):
    first, second = UserFactory(), UserFactory()
    assert _login(client, first, "typo", ATTACKER).status_code == 200
    assert _login(client, first, PASSWORD, ATTACKER).status_code == 302
    assert _login(client, second, PASSWORD, ATTACKER).status_code == 302
