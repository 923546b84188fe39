"""A form sent twice acts once: the second post lands where the first landed, never on an
error page. Each test posts the page's own form, hidden fields and all, as a browser does."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from servicebay.catalog.models import Demand, DemandVote
from servicebay.core import clock, idempotency
from servicebay.core.identity import ApiToken, Role, User
from servicebay.portal.form_tokens import PURPOSE
from servicebay.requests import service
from servicebay.requests.models import Comment, Request
from tests.factories import make_offering, make_team, make_user, sign_in
from tests.requests.support import INPUTS

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


class _Forms(HTMLParser):
    """The hidden fields of each form on a page, by the form's action."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, str]] = {}
        self._current: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self._current = self.forms.setdefault(found.get("action") or "", {})
        elif tag == "input" and self._current is not None and found.get("type") == "hidden":
            self._current[found.get("name") or ""] = found.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def hidden_fields(client: TestClient, page: str, action: str) -> dict[str, str]:
    """What the form posting to ``action`` on ``page`` carries hidden, read from the page."""
    parser = _Forms()
    parser.feed(client.get(page).text)
    return dict(parser.forms["http://testserver" + action])


def count(sessions: sessionmaker[Session], table: type) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def offering_and_requester(db: Session, **overrides: object) -> str:
    team = make_team(db)
    lead = make_user(db, "pat", team=team, role=Role.LEAD)
    offering = make_offering(db, team, lead, **overrides)
    make_user(db, "casey", team=make_team(db))
    db.commit()
    return offering.slug


def test_a_request_form_sent_twice_makes_one_request_and_both_posts_land_on_it(
    client: TestClient, db: Session, sessions: sessionmaker[Session]
) -> None:
    slug = offering_and_requester(db)
    sign_in(client, "casey")
    action = f"/offerings/{slug}/request"
    form = {**hidden_fields(client, f"/offerings/{slug}", action), **INPUTS}
    assert form["form_token"] and form["csrf_token"]

    forged = client.post(action, data={**form, "csrf_token": "x"}, follow_redirects=False)
    assert forged.status_code == 403  # a form token is no pass: the CSRF check comes first
    first = client.post(action, data=form, follow_redirects=False)
    again = client.post(action, data=form, follow_redirects=False)
    by_htmx = client.post(action, data=form, headers={"HX-Request": "true"})

    assert first.status_code == again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    assert re.search(r"/requests/\d+$", first.headers["location"])
    assert by_htmx.status_code == 204
    assert by_htmx.headers["HX-Redirect"] == first.headers["location"]
    assert count(sessions, Request) == 1
    fresh = {**hidden_fields(client, f"/offerings/{slug}", action), **INPUTS}
    assert fresh["form_token"] != form["form_token"]  # every page shows a new one
    assert client.post(action, data=fresh, follow_redirects=False).status_code == 303
    assert count(sessions, Request) == 2


def test_a_comment_sent_twice_is_added_once_and_a_form_shown_again_keeps_nothing(
    client: TestClient, db: Session, sessions: sessionmaker[Session]
) -> None:
    slug = offering_and_requester(db)
    casey = db.scalars(select(User).where(User.username == "casey")).one()
    request_id = service.submit(db, actor=casey, offering_slug=slug, inputs=INPUTS).id
    db.commit()
    sign_in(client, "casey")
    action = f"/requests/{request_id}/comments"
    form = hidden_fields(client, f"/requests/{request_id}", action)

    empty = client.post(action, data={**form, "body": " "})
    assert empty.status_code == 422  # shown again with its problem: the token stays unused
    first = client.post(action, data={**form, "body": "Please hurry"}, follow_redirects=False)
    again = client.post(action, data={**form, "body": "Please hurry"})

    assert first.status_code == 303
    assert again.status_code == 200 and str(again.url).endswith(f"/requests/{request_id}#comments")
    assert "Comment added." in again.text  # the first post's message, not an error
    assert again.text.count("Please hurry") == 1
    assert count(sessions, Comment) == 1


def test_a_need_filed_twice_is_recorded_once_and_a_vote_sent_twice_counts_once(
    client: TestClient, db: Session, sessions: sessionmaker[Session]
) -> None:
    make_user(db, "casey", team=make_team(db))
    make_user(db, "dana", team=make_team(db))
    db.commit()
    sign_in(client, "casey")
    form = {
        **hidden_fields(client, "/demand", "/demand"),
        "title": "Kafka topics",
        "despite_similar": "1",  # filed again on purpose: no "did you mean" step between
    }
    filed = [client.post("/demand", data=form, follow_redirects=False) for _ in range(2)]
    assert filed[0].headers["location"] == filed[1].headers["location"]
    assert count(sessions, Demand) == 1

    sign_in(client, "dana")
    with sessions() as session:
        need = session.scalars(select(Demand.id)).one()
    action = f"/demand/{need}/vote"
    vote = hidden_fields(client, "/demand", action)
    answers = [client.post(action, data=vote) for _ in range(2)]
    assert [answer.status_code for answer in answers] == [200, 200]
    assert "You voted for “Kafka topics”." in answers[1].text
    with sessions() as session:
        voters = session.scalars(select(User.username).join(DemandVote)).all()
    assert sorted(voters) == ["casey", "dana"]  # the author's own vote, and dana's once


def test_an_approval_sent_twice_decides_once_and_the_second_lands_on_the_inbox(
    client: TestClient, db: Session
) -> None:
    policy = {"steps": [{"name": "Owner check", "decider": "owner_leads"}]}
    slug = offering_and_requester(db, approval_policy=policy)
    casey = db.scalars(select(User).where(User.username == "casey")).one()
    request_id = service.submit(db, actor=casey, offering_slug=slug, inputs=INPUTS).id
    db.commit()
    sign_in(client, "pat")
    parser = _Forms()
    parser.feed(client.get("/approvals").text)
    action, form = next((a, f) for a, f in parser.forms.items() if "/approvals/" in a)

    answers = [client.post(action, data={**form, "decision": "approve"}) for _ in range(2)]

    assert [answer.status_code for answer in answers] == [200, 200]
    assert f"Request #{request_id} approved." in answers[1].text


def test_a_token_form_sent_twice_makes_one_token_and_says_where_its_value_went(
    client: TestClient, db: Session, sessions: sessionmaker[Session]
) -> None:
    make_user(db, "casey")
    db.commit()
    sign_in(client, "casey")
    form = {**hidden_fields(client, "/account", "/account/tokens"), "name": "deploy"}

    first = client.post("/account/tokens", data=form)
    again = client.post("/account/tokens", data=form)

    assert 'id="issued-token"' in first.text
    assert again.status_code == 200 and 'id="issued-token"' not in again.text
    assert "already created the token “deploy”" in again.text
    assert count(sessions, ApiToken) == 1


def test_a_repeat_sent_while_the_first_post_runs_waits_for_it_and_lands_on_its_result(
    client: TestClient, db: Session, sessions: sessionmaker[Session], database_url: str
) -> None:
    slug = offering_and_requester(db)
    casey_id = db.scalars(select(User.id).where(User.username == "casey")).one()
    db.commit()
    sign_in(client, "casey")
    action = f"/offerings/{slug}/request"
    form = {**hidden_fields(client, f"/offerings/{slug}", action), **INPUTS}
    with sessions() as first, ThreadPoolExecutor(max_workers=1) as pool:
        # The first post, caught between reserving its token and committing its request.
        reservation = idempotency.reserve(
            first, user_id=casey_id, purpose=PURPOSE, key=form["form_token"]
        )
        made = service.submit(
            first, actor=first.get_one(User, casey_id), offering_slug=slug, inputs=dict(INPUTS)
        )
        idempotency.settle(reservation, {"location": f"/requests/{made.id}", "notice": ""})
        repeat = pool.submit(client.post, action, data=form, follow_redirects=False)
        if database_url.startswith("postgresql"):
            wait_for_a_lock_waiter(first)
        first.commit()
        answer: httpx.Response = repeat.result(timeout=30)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/requests/{made.id}"
    assert count(sessions, Request) == 1


def wait_for_a_lock_waiter(session: Session) -> None:
    """Until another connection waits for a lock this session holds."""
    deadline = time.monotonic() + 30
    waiting = text("SELECT count(*) FROM pg_locks WHERE NOT granted")
    while not session.connection().execute(waiting).scalar():
        assert time.monotonic() < deadline, "the repeat never waited for the first post"
        time.sleep(0.02)


def test_every_form_that_posts_carries_the_csrf_and_form_tokens() -> None:
    """One include emits both, so no form can forget either."""
    missing = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        for form in re.findall(r"<form\b.*?</form>", template.read_text(), flags=re.S):
            opening = form[: form.index(">")]
            if 'method="post"' in opening and "{{ form_tokens() }}" not in form:
                missing.append(f"{template.relative_to(TEMPLATES)}: {opening[:80]}")
    assert missing == []
    assert not any(
        'name="csrf_token"' in template.read_text() for template in TEMPLATES.rglob("*.html")
    )


def test_a_form_token_older_than_a_day_is_forgotten_and_acts_again(
    client: TestClient, db: Session, sessions: sessionmaker[Session]
) -> None:
    """As an API Idempotency-Key: kept a day, then the same post is a new one."""
    make_user(db, "casey", team=make_team(db))
    db.commit()
    sign_in(client, "casey")
    form = {
        **hidden_fields(client, "/demand", "/demand"),
        "title": "Kafka topics",
        "despite_similar": "1",  # filed again on purpose: no "did you mean" step between
    }
    assert client.post("/demand", data=form, follow_redirects=False).status_code == 303
    clock.advance(timedelta(hours=23))
    sign_in(client, "casey")  # the sign-in of a day ago has ended meanwhile
    form["csrf_token"] = client.cookies["sb_csrf"]
    assert client.post("/demand", data=form, follow_redirects=False).status_code == 303
    assert count(sessions, Demand) == 1
    clock.advance(timedelta(hours=2))
    sign_in(client, "casey")
    form["csrf_token"] = client.cookies["sb_csrf"]
    assert client.post("/demand", data=form, follow_redirects=False).status_code == 303
    assert count(sessions, Demand) == 2
