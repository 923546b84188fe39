"""The portal's HTML pages without a browser: what a person sees and can do on each."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.catalog import demand as demand_service
from servicebay.catalog.models import Demand
from servicebay.core import clock, preferences
from servicebay.core.identity import Role, Team, User
from servicebay.requests import service as requests_service
from servicebay.requests.fulfilment import engine
from servicebay.requests.models import Request
from tests.factories import PASSWORD, make_offering, make_team, make_user

INPUTS = {"name": "ledger", "size": "small"}
APPROVAL = {"steps": [{"name": "Lead check", "decider": "owner_leads"}]}


def sign_in(client: TestClient, username: str) -> str:
    client.cookies.clear()
    client.get("/login")
    token = client.cookies["sb_csrf"]
    client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    return client.cookies["sb_csrf"]  # signing in renews the token


def owner(db: Session) -> tuple[Team, User]:
    team = make_team(db, "platform")
    return team, make_user(db, "pat", team=team, role=Role.LEAD)


def test_my_requests_filter_by_status_sort_and_page(client: TestClient, db: Session) -> None:
    team, pat = owner(db)
    database = make_offering(db, team, pat, name="Database")
    gated = make_offering(db, team, pat, name="Firewall", approval_policy=APPROVAL)
    casey = make_user(db, "casey")
    for _ in range(21):
        requests_service.submit(db, actor=casey, offering_slug=database.slug, inputs=INPUTS)
    waiting = requests_service.submit(db, actor=casey, offering_slug=gated.slug, inputs=INPUTS)
    db.commit()
    sign_in(client, "casey")

    first = client.get("/requests")
    assert "22 requests" in first.text and "Page 1 of 2" in first.text
    assert client.get("/requests?page=2").text.count("<tr>") == 1 + 2  # header + 2 rows

    pending = client.get("/requests?status=pending_approval").text
    assert f"#{waiting.id}</a>" in pending and "1 request<" in pending
    assert client.get("/requests?q=fire").text.count("Firewall</a>") == 1
    oldest = client.get("/requests?sort=oldest").text
    assert oldest.index(">#1</a>") < oldest.index(">#2</a>")


def test_requester_cancels_an_open_request_and_sees_it_said_once(
    client: TestClient, db: Session
) -> None:
    team, pat = owner(db)
    gated = make_offering(db, team, pat, approval_policy=APPROVAL)
    casey = make_user(db, "casey")
    asked = requests_service.submit(db, actor=casey, offering_slug=gated.slug, inputs=INPUTS)
    db.commit()
    csrf = sign_in(client, "casey")

    page = client.get(f"/requests/{asked.id}")
    assert "Cancel this request" in page.text and 'hx-trigger="every 2s"' in page.text
    done = client.post(
        f"/requests/{asked.id}/cancel", data={"csrf_token": csrf, "reason": "Not needed now"}
    )
    assert done.status_code == 200 and f"Request #{asked.id} is cancelled." in done.text
    assert 'data-status="cancelled"' in done.text and "Not needed now" in done.text
    again = client.get(f"/requests/{asked.id}").text
    assert "is cancelled." not in again, "a flash message shows once"
    assert "Cancel this request" not in again and "every 2s" not in again


def test_an_empty_comment_is_refused_and_a_comment_is_shown(
    client: TestClient, db: Session
) -> None:
    team, pat = owner(db)
    offering = make_offering(db, team, pat)
    casey = make_user(db, "casey")
    asked = requests_service.submit(db, actor=casey, offering_slug=offering.slug, inputs=INPUTS)
    db.commit()
    csrf = sign_in(client, "casey")

    empty = client.post(f"/requests/{asked.id}/comments", data={"csrf_token": csrf, "body": " "})
    assert empty.status_code == 422 and "A comment needs some text" in empty.text
    sign_in(client, "pat")
    posted = client.post(
        f"/requests/{asked.id}/comments",
        data={"csrf_token": client.cookies["sb_csrf"], "body": "Which region?"},
    )
    assert "Which region?" in posted.text and "Comment added." in posted.text


def test_only_the_requester_of_a_completed_request_rates_it(
    client: TestClient, db: Session
) -> None:
    team, pat = owner(db)
    offering = make_offering(db, team, pat)
    casey = make_user(db, "casey")
    asked = requests_service.submit(db, actor=casey, offering_slug=offering.slug, inputs=INPUTS)
    asked.status = "completed"
    asked_id = asked.id
    db.commit()
    csrf = sign_in(client, "casey")

    assert "How did it go?" in client.get(f"/requests/{asked_id}").text
    wrong = client.post(f"/requests/{asked_id}/rating", data={"csrf_token": csrf, "score": "9"})
    assert wrong.status_code == 422 and "choose from 1 (poor) to 5" in wrong.text
    rated = client.post(
        f"/requests/{asked_id}/rating", data={"csrf_token": csrf, "score": "4", "comment": "Quick"}
    )
    assert "Thank you for rating" in rated.text and "Your rating" in rated.text
    db.expire_all()
    rated_request = db.get_one(Request, asked_id)
    assert (rated_request.rating, rated_request.rating_comment) == (4, "Quick")
    db.rollback()
    sign_in(client, "pat")
    assert "How did it go?" not in client.get(f"/requests/{asked_id}").text


def test_approver_must_give_a_reason_to_reject_and_the_requester_reads_it(
    client: TestClient, db: Session
) -> None:
    team, pat = owner(db)
    gated = make_offering(db, team, pat, name="Firewall", approval_policy=APPROVAL)
    casey = make_user(db, "casey")
    requests_service.submit(db, actor=casey, offering_slug=gated.slug, inputs=INPUTS)
    asked = requests_service.submit(db, actor=casey, offering_slug=gated.slug, inputs=INPUTS)
    db.commit()
    csrf = sign_in(client, "pat")

    inbox = client.get("/approvals").text
    assert "2 decisions waiting for you" in inbox and "1 earlier request" in inbox
    step = re.findall(r'action="[^"]*/approvals/(\d+)"', inbox)[-1]
    bare = client.post(f"/approvals/{step}", data={"csrf_token": csrf, "decision": "reject"})
    assert bare.status_code == 422 and "Say why you reject it" in bare.text
    client.post(
        f"/approvals/{step}",
        data={"csrf_token": csrf, "decision": "reject", "reason": "Use the shared ruleset"},
    )
    assert "1 decision waiting for you" in client.get("/approvals").text

    sign_in(client, "casey")
    page = client.get(f"/requests/{asked.id}").text
    assert 'data-status="rejected"' in page and "Use the shared ruleset" in page
    assert 'id="unread-count">3<' in page, "two waited for approval, one was rejected"


def test_notifications_list_and_mark_all_read(client: TestClient, db: Session) -> None:
    team, pat = owner(db)
    offering = make_offering(db, team, pat, name="Database")
    casey = make_user(db, "casey")
    requests_service.submit(db, actor=casey, offering_slug=offering.slug, inputs=INPUTS)
    db.commit()
    csrf = sign_in(client, "casey")

    listed = client.get("/notifications").text
    assert "(Database) is being fulfilled" in listed and "Mark all 1 as read" in listed
    read = client.post("/notifications/read", data={"csrf_token": csrf})
    assert "All caught up." in read.text and "unread-count" not in read.text
    assert "(Database) is being fulfilled" in read.text


def test_a_need_is_recorded_voted_once_and_triaged(client: TestClient, db: Session) -> None:
    team, pat = owner(db)
    make_offering(db, team, pat)  # leads of teams that own offerings triage unaddressed needs
    team_slug = team.slug
    make_user(db, "casey")
    make_user(db, "dana")
    db.commit()
    csrf = sign_in(client, "casey")

    blank = client.post("/demand", data={"csrf_token": csrf, "title": "", "urgency": "high"})
    assert blank.status_code == 422 and "say in a few words what you need" in blank.text
    client.post("/demand", data={"csrf_token": csrf, "title": "Kafka topics", "urgency": "high"})
    first = db.scalar(select(Demand.id).where(Demand.title == "Kafka topics"))
    assert first is not None
    db.commit()
    client.post("/demand", data={"csrf_token": csrf, "title": "Kafka please"})
    csrf = sign_in(client, "dana")
    client.post(f"/demand/{first}/vote", data={"csrf_token": csrf})
    client.post(f"/demand/{first}/vote", data={"csrf_token": csrf})
    db.expire_all()
    assert db.get_one(Demand, first).votes == 2
    db.rollback()

    csrf = sign_in(client, "pat")
    duplicate = db.scalar(select(Demand.id).where(Demand.title == "Kafka please"))
    assert duplicate is not None
    db.commit()
    no_reason = client.post(f"/ops/demand/{duplicate}/decline", data={"csrf_token": csrf})
    assert no_reason.status_code == 422 and "Say why it is declined" in no_reason.text
    client.post(f"/ops/demand/{duplicate}/merge", data={"csrf_token": csrf, "into": str(first)})
    db.expire_all()
    assert db.get_one(Demand, duplicate).state == "declined"
    db.rollback()
    sign_in(client, "casey")
    assert f"Declined: Merged into #{first}" in client.get("/demand").text, "the author reads why"
    csrf = sign_in(client, "pat")
    assert db.get_one(Demand, first).votes == 2, "casey voted for both: counted once"
    db.rollback()
    accepted = client.post(
        f"/ops/demand/{first}/accept", data={"csrf_token": csrf, "team": team_slug}
    )
    assert "is a draft offering of your team now" in accepted.text
    db.expire_all()
    assert demand_service.get(db, demand_id=first).state == "accepted"


def test_someone_outside_the_team_cannot_accept_a_demand(client: TestClient, db: Session) -> None:
    owner(db)
    casey = make_user(db, "casey", team=make_team(db, "payments"))
    need = demand_service.create(db, actor=casey, title="Kafka topics")
    db.commit()
    csrf = sign_in(client, "casey")
    refused = client.post(
        f"/ops/demand/{need.id}/accept", data={"csrf_token": csrf, "team": "platform"}
    )
    assert refused.status_code == 403


def test_offering_page_shows_the_promise_beside_the_last_30_days(
    client: TestClient, db: Session
) -> None:
    team, pat = owner(db)
    offering = make_offering(
        db, team, pat, sle={"percent": 85, "within_hours": 48}, approval_policy=APPROVAL
    )
    casey = make_user(db, "casey")
    now = clock.now()
    for hours in (1, 10, 30, 100):
        made = requests_service.submit(db, actor=casey, offering_slug=offering.slug, inputs=INPUTS)
        made.status, made.submitted_at = "completed", now - timedelta(hours=hours + 1)
        made.closed_at = made.submitted_at + timedelta(hours=hours)
    db.commit()
    sign_in(client, "casey")
    page = client.get(f"/offerings/{offering.slug}").text
    assert "85 % within 2 days" in page
    assert "last 30 days: 75 %" in page and "of 4 completed" in page
    assert "Lead check" in page


def test_home_shows_popular_offerings_and_my_open_requests(client: TestClient, db: Session) -> None:
    team, pat = owner(db)
    popular = make_offering(db, team, pat, name="Popular thing")
    make_offering(db, team, pat, name="Quiet thing")
    casey = make_user(db, "casey")
    asked = requests_service.submit(db, actor=casey, offering_slug=popular.slug, inputs=INPUTS)
    db.commit()
    sign_in(client, "casey")
    home = client.get("/").text
    popular_section = home[home.index("Popular this month") : home.index("New in the catalog")]
    assert "Popular thing" in popular_section and "Quiet thing" not in popular_section
    assert f"#{asked.id} Popular thing" in home
    assert "Can't find what you need?" in home


def test_unknown_pages_answer_with_a_friendly_404(client: TestClient, db: Session) -> None:
    make_user(db, "casey")
    db.commit()
    sign_in(client, "casey")
    missing = client.get("/requests/424242")
    assert missing.status_code == 404 and "We could not find that page" in missing.text


def test_notification_preferences_are_kept_and_shown_again(client: TestClient, db: Session) -> None:
    casey = make_user(db, "casey")
    casey_id = casey.id
    db.commit()
    csrf = sign_in(client, "casey")
    assert "Email me too" in client.get("/account").text
    saved = client.post(
        "/account/notifications",
        data={"csrf_token": csrf, "topics": ["rejected", "completed"]},
    )
    assert "Notification preferences saved." in saved.text
    chosen = saved.text.split('id="notification-preferences"')[1].split("</section>")[0]
    assert 'value="completed" checked' in chosen
    assert 'value="in_fulfilment" checked' not in chosen
    assert preferences.channels(db, user_id=casey_id, topic="completed") == {"app"}
    assert preferences.channels(db, user_id=casey_id, topic="in_fulfilment") == frozenset()


def test_board_shows_wip_limits_and_starting_past_one_needs_an_override(
    client: TestClient, db: Session
) -> None:
    team, pat = owner(db)
    manual = make_offering(db, team, pat, name="Laptop", fulfilment={"kind": "manual"})
    casey = make_user(db, "casey")
    _, second = (
        requests_service.submit(db, actor=casey, offering_slug=manual.slug, inputs=INPUTS).id
        for _ in range(2)
    )
    db.commit()
    csrf = sign_in(client, "pat")
    client.post("/ops/wip-limits", data={"csrf_token": csrf, "team": "platform", "doing": "1"})
    board = client.get("/ops").text
    task_ids = re.findall(r'action="[^"]*/ops/tasks/(\d+)/advance"', board)
    assert len(task_ids) == 2 and "0 / 1" in board

    client.post(f"/ops/tasks/{task_ids[0]}/advance", data={"csrf_token": csrf})
    full = client.get("/ops").text
    assert "1 / 1" in full and "At its WIP limit" in full and "Start anyway" in full
    refused = client.post(f"/ops/tasks/{task_ids[1]}/advance", data={"csrf_token": csrf})
    assert "needs an override" in refused.text
    forced = client.post(
        f"/ops/tasks/{task_ids[1]}/advance", data={"csrf_token": csrf, "override": "on"}
    )
    assert f"Request #{second} moved to doing" in forced.text and "2 / 1" in forced.text


def test_request_page_shows_progress_reported_by_the_receiver_without_worker_names(
    client: TestClient, db: Session
) -> None:
    team, pat = owner(db)
    offering = make_offering(db, team, pat)
    casey = make_user(db, "casey")
    asked = requests_service.submit(db, actor=casey, offering_slug=offering.slug, inputs=INPUTS)
    run = engine.runs_for_request(db, request_id=asked.id)[0]
    engine.log(
        db,
        run_id=run.id,
        attempt=1,
        level="info",
        message="attempt 1 of 5 started by worker vm:1:ab",
    )
    engine.log(db, run_id=run.id, attempt=1, level="info", message="progress: Disk attached")
    asked_id = asked.id
    db.commit()
    sign_in(client, "casey")
    page = client.get(f"/requests/{asked_id}").text
    assert "Disk attached" in page and "Attempt 1 of 5 started<" in page
    assert "vm:1:ab" not in page


def test_a_request_closed_exactly_at_the_promised_hours_counts_as_kept(
    client: TestClient, db: Session
) -> None:
    team, pat = owner(db)
    offering = make_offering(db, team, pat, sle={"percent": 85, "within_hours": 48})
    casey = make_user(db, "casey")
    now = clock.now()
    for hours in (48, 49):  # on the limit, and an hour past it
        made = requests_service.submit(db, actor=casey, offering_slug=offering.slug, inputs=INPUTS)
        made.status, made.submitted_at = "completed", now - timedelta(hours=hours + 1)
        made.closed_at = made.submitted_at + timedelta(hours=hours)
    db.commit()
    sign_in(client, "casey")
    page = client.get(f"/offerings/{offering.slug}").text
    assert "last 30 days: 50 %" in page and "of 2 completed" in page


def test_rating_without_a_score_is_refused_on_the_request_page_with_the_comment_kept(
    client: TestClient, db: Session
) -> None:
    team, pat = owner(db)
    offering = make_offering(db, team, pat)
    casey = make_user(db, "casey")
    asked = requests_service.submit(db, actor=casey, offering_slug=offering.slug, inputs=INPUTS)
    asked.status = "completed"
    asked_id = asked.id
    db.commit()
    csrf = sign_in(client, "casey")

    refused = client.post(
        f"/requests/{asked_id}/rating", data={"csrf_token": csrf, "comment": "Fast, thanks"}
    )
    assert refused.status_code == 422
    assert "choose from 1 (poor) to 5" in refused.text and "Fast, thanks" in refused.text
    by_htmx = client.post(
        f"/requests/{asked_id}/rating",
        data={"csrf_token": csrf, "comment": "Fast, thanks"},
        headers={"HX-Request": "true"},
    )
    assert by_htmx.status_code == 422 and by_htmx.text.lstrip().startswith('<div id="live"')
    assert "choose from 1 (poor) to 5" in by_htmx.text
    assert 'hx-target="#live"' in client.get(f"/requests/{asked_id}").text

    reloaded = client.get(f"/requests/{asked_id}/rating")
    assert reloaded.status_code == 200 and "text/html" in reloaded.headers["content-type"]
    assert str(reloaded.url).endswith(f"/requests/{asked_id}#rating")
    assert "How did it go?" in reloaded.text


def test_a_date_field_carries_its_bounds_and_refuses_a_past_date_on_the_server(
    client: TestClient, db: Session
) -> None:
    clock.freeze(clock.now().replace(year=2026, month=12, day=1, hour=9))
    team, pat = owner(db)
    form = {
        "fields": [
            {"name": "needed_by", "label": "Needed by", "type": "date", "not_in_past": True},
            {"name": "until", "label": "Keep until", "type": "date", "max_date": "2027-12-31"},
        ]
    }
    offering = make_offering(db, team, pat, form=form)
    make_user(db, "casey")
    db.commit()
    csrf = sign_in(client, "casey")

    page = client.get(f"/offerings/{offering.slug}").text
    needed_by = re.search(r'<input[^>]*id="field-needed_by"[^>]*>', page)
    until = re.search(r'<input[^>]*id="field-until"[^>]*>', page)
    assert needed_by and 'min="2026-12-01"' in needed_by.group(0)
    assert until and 'max="2027-12-31"' in until.group(0) and "min=" not in until.group(0)

    refused = client.post(
        f"/offerings/{offering.slug}/request",
        data={"csrf_token": csrf, "needed_by": "2026-11-30", "until": "2027-01-01"},
    )
    assert refused.status_code == 422
    assert "Needed by cannot be in the past: choose today (2026-12-01) or later" in refused.text
    assert 'value="2026-11-30"' in refused.text  # what was typed stays in the form
    accepted = client.post(
        f"/offerings/{offering.slug}/request",
        data={"csrf_token": csrf, "needed_by": "2026-12-01", "until": "2027-01-01"},
        follow_redirects=False,
    )
    assert accepted.status_code == 303
