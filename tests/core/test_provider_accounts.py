"""Accounts made by an identity provider's sign-in, when two arrive at once."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from servicebay.core import identity
from servicebay.core.identity import ExternalIdentity, ProviderPerson, User

PERSON = ProviderPerson(
    issuer="https://id.example.com",
    subject="248289761001",
    email="jane@example.com",
    name="Jane Doe",
    preferred_username="jane",
)


def test_two_first_sign_ins_of_one_person_at_once_make_one_account_and_both_succeed(
    sessions: sessionmaker[Session], database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer: two first sign-ins cannot overlap there")
    first, second = sessions(), sessions()
    try:
        made_first = identity.user_from_provider(first, person=PERSON)  # not committed yet
        outcome: dict[str, object] = {}

        def sign_in_again() -> None:
            try:
                outcome["user"] = identity.user_from_provider(second, person=PERSON).id
                second.commit()
            except Exception as error:  # the test reports what the second sign-in met
                outcome["error"] = error

        racer = threading.Thread(target=sign_in_again)
        racer.start()
        racer.join(timeout=1.0)  # the second waits on the first's unique key
        first.commit()
        racer.join(timeout=30)
        assert "error" not in outcome, outcome.get("error")
        assert outcome["user"] == made_first.id
    finally:
        first.close()
        second.close()
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1
        assert session.scalar(select(func.count()).select_from(ExternalIdentity)) == 1
