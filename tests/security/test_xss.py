"""Hostile text in every field a person can write, rendered in Chromium: nothing runs.

Each payload is stored where users put text (offering name, summary, description, tags,
form labels, help, options and inputs, comments, rating text, demand titles, team names);
then the pages that show it are opened. No dialog may open and no element, attribute or
script the payload tried to bring may exist in the page.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page

from servicebay.catalog import demand as demand_service
from servicebay.catalog import service as catalog_service
from servicebay.catalog.schemas import OfferingIn
from servicebay.core import identity, migrations
from servicebay.core.database import make_engine, make_sessionmaker, transaction
from servicebay.core.identity import Role
from servicebay.core.settings import Settings
from servicebay.requests import service as requests_service
from servicebay.requests import tasks
from tests.e2e.conftest import SERVICEBAY, LiveServer
from tests.factories import pass_dry_run
from tests.servers import free_port, serve_process

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

PASSWORD = "xss-corpus-password"

# Each payload carries the marker "xss" wherever it would show up once injected.
PAYLOADS = [
    "<script>alert('xss')</script>",
    "<img src=x onerror=alert('xss') data-xss=1>",
    "<svg onload=alert('xss') data-xss=1>",
    "<svg><script>alert('xss')</script></svg>",
    "\"><script>alert('xss')</script>",
    "'><script>alert('xss')</script>",
    '" onmouseover="alert(\'xss\')" data-xss="1',
    "' onmouseover='alert(`xss`)' data-xss='1",
    "</textarea><script>alert('xss')</script>",
    "</title><script>alert('xss')</script>",
    "</script><script>alert('xss')</script>",
    "<iframe src=\"javascript:alert('xss')\" data-xss=1></iframe>",
    "<body onload=alert('xss') data-xss=1>",
    "<input autofocus onfocus=alert('xss') data-xss=1>",
    "<details open ontoggle=alert('xss') data-xss=1>",
    "<a href=\"javascript:alert('xss')\" data-xss=1>click</a>",
    "[click](javascript:alert('xss'))",
    "[click](JaVaScRiPt:alert('xss'))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgneHNzJyk8L3NjcmlwdD4=)",
    "![img](x\" onerror=\"alert('xss'))",
    "<a href=x onclick=alert('xss') data-xss=1>x</a>",
    '<div hx-get="/xss" hx-trigger="load" data-xss=1>x</div>',
    '" hx-get="/xss" hx-trigger="load" data-xss="1',
    "' hx-get='/xss' hx-trigger='load' data-xss='1",
    "<div hx-on:click=\"alert('xss')\" data-xss=1>x</div>",
    "<form action=\"javascript:alert('xss')\" data-xss=1><button>go</button></form>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert('xss') data-xss=1>",
    "<object data=\"javascript:alert('xss')\" data-xss=1></object>",
    "<embed src=\"javascript:alert('xss')\" data-xss=1>",
    "<link rel=stylesheet href=\"javascript:alert('xss')\" data-xss=1>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(\'xss\')" data-xss=1>',
    "<base href=\"javascript:alert('xss')//\" data-xss=1>",
    "<style>@import 'javascript:alert(\"xss\")';</style>",
    "<video><source onerror=alert('xss') data-xss=1></video>",
    "<audio src=x onerror=alert('xss') data-xss=1>",
    "<marquee onstart=alert('xss') data-xss=1>x</marquee>",
    "<select onfocus=alert('xss') autofocus data-xss=1>",
    "<textarea onfocus=alert('xss') autofocus data-xss=1>",
    "<keygen onfocus=alert('xss') autofocus data-xss=1>",
    '<img src="x" onerror="&#97;lert(\'xss\')" data-xss=1>',
    "&lt;script&gt;alert('xss')&lt;/script&gt;",
    "%3Cscript%3Ealert('xss')%3C/script%3E",
    "\\u003cscript\\u003ealert('xss')\\u003c/script\\u003e",
    "{{ 7*7 }}<span data-xss=1>{{ request }}</span>",
    "{% raw %}<script>alert('xss')</script>{% endraw %}",
    "${alert('xss')}<b data-xss=1>x</b>",
    "<scr<script>ipt>alert('xss')</scr</script>ipt>",
    "<ScRiPt>alert('xss')</sCrIpT>",
    "<<script>alert('xss');//<</script>",
    "<img src=x:alert(xss) onerror=eval(src) data-xss=1>",
    "javascript:alert('xss')",
    "<svg><animate onbegin=alert('xss') attributeName=x dur=1s data-xss=1>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert('xss') data-xss=1>\">",
    "<template><img src=x onerror=alert('xss')></template><b data-xss=1>x</b>",
    "<isindex action=javascript:alert('xss') type=image data-xss=1>",
    "\u2028<script>alert('xss')</script>\u2029",
]

# Run in the page: anything a payload could have brought in.
FIND_INJECTED = """() => {
  const found = [];
  for (const el of document.querySelectorAll('*')) {
    if (el.hasAttribute('data-xss')) found.push('data-xss on ' + el.tagName);
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      const value = attr.value.toLowerCase();
      if (name.startsWith('on')) found.push(name + ' on ' + el.tagName);
      if (name.startsWith('hx-') && value.includes('xss')) found.push(name + ' on ' + el.tagName);
      const link = ['href', 'src', 'action', 'data', 'formaction'].includes(name);
      if (link && value.trim().startsWith('javascript:')) found.push(name + ' on ' + el.tagName);
    }
  }
  for (const s of document.querySelectorAll('script')) {
    const src = s.getAttribute('src') || '';
    const own = src && new URL(src, location.href).origin === location.origin
      && new URL(src, location.href).pathname.startsWith('/static/');
    if (!own && s.type !== 'application/json')
      found.push('script ' + (src || s.textContent.slice(0, 60)));
  }
  for (const tag of ['iframe', 'object', 'embed', 'base', 'meta[http-equiv]']) {
    if (document.querySelector(tag)) found.push(tag);
  }
  return found;
}"""


def _seed(settings: Settings) -> dict[str, list[str]]:
    """Store every payload in every place people write text; return the pages to open."""
    migrations.upgrade(settings.effective_database_url)
    settings.configure_secrets()
    engine = make_engine(settings.effective_database_url)
    sessions = make_sessionmaker(engine)
    pages: dict[str, list[str]] = {"admin": [], "casey": []}
    with transaction(sessions) as db:
        owners = identity.create_team(db, slug="owners", name=PAYLOADS[0])
        admin = identity.create_user(db, username="admin", password=PASSWORD, is_admin=True)
        lead = identity.create_user(db, username="lead", password=PASSWORD)
        identity.add_member(db, user=lead, team=owners, role=Role.LEAD)
        casey = identity.create_user(db, username="casey", password=PASSWORD, is_analyst=True)
        for number, payload in enumerate(PAYLOADS):
            team = identity.create_team(db, slug=f"team-{number}", name=payload)
            identity.add_member(db, user=casey, team=team)
            offering = catalog_service.create_offering(
                db, actor=lead, definition=_definition(number, payload)
            )
            pass_dry_run(db, offering)
            catalog_service.publish(db, actor=lead, offering=offering)
            asked = requests_service.submit(
                db,
                actor=casey,
                offering_slug=offering.slug,
                inputs={"name": payload, "size": "small", "notes": payload},
            )
            db.flush()
            requests_service.add_comment(db, actor=casey, request_id=asked.id, body=payload)
            requests_service.add_comment(db, actor=lead, request_id=asked.id, body=payload)
            (task,) = [
                t for t in tasks.board(db, team_id=owners.id)["todo"] if t.request_id == asked.id
            ]
            for _ in range(2):
                tasks.advance(
                    db, actor=lead, task_id=task.id, outputs={"result": payload}, notes=payload
                )
            requests_service.rate(
                db, actor=casey, request_id=asked.id, score=1 + number % 5, comment=payload
            )
            demand_service.create(db, actor=casey, title=payload, description=payload)
            pages["casey"] += [f"/offerings/{offering.slug}", f"/requests/{asked.id}"]
            pages["admin"] += [f"/ops/offerings/{offering.slug}"]
        del admin
    engine.dispose()
    pages["casey"] += ["/", "/?q=script", "/requests", "/account", "/insights"]
    pages["casey"] += [
        f"/insights/{section}" for section in ("adoption", "flow", "value", "demand")
    ]
    pages["admin"] += ["/ops/offerings", "/admin/audit", "/insights/demand", "/insights/adoption"]
    return pages


def _definition(number: int, payload: str) -> OfferingIn:
    return OfferingIn.model_validate(
        {
            "slug": f"offering-{number}",
            "name": payload[:200],
            "summary": payload,
            "description": f"# {payload}\n\n{payload}\n\n* {payload}\n\n`{payload}`",
            "category": payload[:100],
            "tags": [payload[:50], "xss"],
            "owner_team": "owners",
            "contact": payload,
            "runbook_url": "https://runbooks.example.com/xss",
            "sle": {"percent": 85, "within_hours": 48},
            "form": {
                "fields": [
                    {
                        "name": "name",
                        "label": payload[:200],
                        "help": payload,
                        "placeholder": payload,
                    },
                    {
                        "name": "size",
                        "label": payload[:200],
                        "type": "select",
                        "options": [payload, "small"],
                    },
                    {"name": "notes", "label": payload[:200], "type": "textarea", "help": payload},
                ]
            },
            # A checklist item is a template over the inputs and earlier steps: one that
            # names anything else is refused when the offering is saved, so the template
            # payload reaches it with its braces as text.
            "fulfilment": {"kind": "manual", "checklist": [_as_template_text(payload)]},
        }
    )


def _as_template_text(payload: str) -> str:
    if "{{" not in payload and "{%" not in payload:
        return payload
    return "{% raw %}" + payload.replace("{% endraw %}", "") + "{% endraw %}"


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict]]:
    data_dir = tmp_path_factory.mktemp("xss")
    port = free_port()
    env = {
        **os.environ,
        "SERVICEBAY_DATA_DIR": str(data_dir),
        "SERVICEBAY_BASE_URL": f"http://127.0.0.1:{port}",
        "SERVICEBAY_SECRET_KEY": "xss-corpus-secret-key-0123456789",
        "SERVICEBAY_RATE_LIMIT_LOGIN": "1000",
    }
    env.pop("SERVICEBAY_DATABASE_URL", None)
    settings = Settings(data_dir=Path(data_dir), secret_key=env["SERVICEBAY_SECRET_KEY"])
    pages = _seed(settings)
    command = [str(SERVICEBAY), "serve", "--port", str(port), "--no-worker"]
    with serve_process(command, port=port, env=env, cwd=data_dir) as url:
        yield LiveServer(url=url, data_dir=data_dir), pages


def _sign_in(page: Page, url: str, username: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(url + "/")


@pytest.mark.parametrize("who", ["casey", "admin"])
def test_no_payload_runs_or_injects_anything_on_any_page(
    browser: Browser, hostile_server: tuple[LiveServer, dict[str, list[str]]], who: str
) -> None:
    assert len(PAYLOADS) >= 50
    server, pages = hostile_server
    context = browser.new_context()
    page = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message} on {page.url}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url) if "xss" in r.url.lower() else None)
    page.set_content("<p>x</p><img src=x data-xss=1 onerror=1>")
    assert len(page.evaluate(FIND_INJECTED)) == 2, "the detector itself must see an injection"
    _sign_in(page, server.url, who)
    problems: dict[str, list[str]] = {}
    shown = 0
    for path in pages[who]:
        answer = page.goto(server.url + path)
        assert answer is not None and answer.status < 500, (path, answer and answer.status)
        page.wait_for_timeout(30)
        shown += page.inner_text("body").count("alert('xss')")
        found = page.evaluate(FIND_INJECTED)
        if found:
            problems[path] = found
    context.close()
    assert shown >= len(PAYLOADS), "the payloads should be on the pages, shown as text"
    assert dialogs == []
    assert problems == {}
    assert [url for url in requested if "q=script" not in url] == []
