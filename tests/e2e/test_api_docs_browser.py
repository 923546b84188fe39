"""/docs: the API reference works offline under the portal's own CSP."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import SERVICEBAY, LiveServer, screenshot
from tests.e2e.portal_support import AXE

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _token_for(server: LiveServer, username: str) -> str:
    env = {**os.environ, "SERVICEBAY_DATA_DIR": str(server.data_dir)}
    env.pop("SERVICEBAY_DATABASE_URL", None)
    issued = subprocess.run(
        [str(SERVICEBAY), "tokens", "create", username, "--name", "api docs"],
        env=env,
        cwd=server.data_dir,
        check=True,
        capture_output=True,
        text=True,
    )
    return issued.stdout.strip().splitlines()[0]


def test_api_reference_lists_operations_and_tries_one_with_a_token(
    page: Page, live_server: LiveServer
) -> None:
    outside: list[str] = []
    page.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(live_server.url) else None,
    )
    page.add_init_script(
        "window.cspViolations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    page.goto(live_server.url + "/docs")
    operation = page.locator(".opblock-get").filter(has=page.locator("[data-path='/api/v1/me']"))
    expect(operation).to_be_visible()
    assert page.locator(".opblock").count() > 20
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    screenshot(page, "api-docs")

    token = _token_for(live_server, "casey")
    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".modal-ux")
    dialog.locator("input").fill(token)
    dialog.get_by_role("button", name="Apply credentials").click()
    expect(dialog.get_by_role("button", name="Remove authorization")).to_be_visible()
    dialog.get_by_role("button", name="Close", exact=True).click()

    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    answer = operation.locator(".live-responses-table .response")
    expect(answer.locator(".response-col_status")).to_have_text("200")
    expect(answer.locator(".response-col_description")).to_contain_text('"username": "casey"')
    screenshot(page, "api-docs-try-it-out")
    assert outside == []
    assert page.evaluate("window.cspViolations") == []


def test_api_reference_has_no_serious_accessibility_violations(
    browser: Browser, live_server: LiveServer
) -> None:
    # Injecting axe adds a script the page's Content-Security-Policy would refuse.
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    problems: dict[str, list[dict[str, Any]]] = {}
    for width, viewport in (("desktop", 1280), ("phone", 390)):
        page.set_viewport_size({"width": viewport, "height": 900})
        page.goto(live_server.url + "/docs")
        operation = page.locator(".opblock-get").filter(
            has=page.locator("[data-path='/api/v1/me']")
        )
        operation.locator(".opblock-summary").click()
        operation.get_by_role("button", name="Try it out").click()
        operation.get_by_role("button", name="Execute").click()
        expect(
            operation.locator(".live-responses-table .response .response-col_status")
        ).to_contain_text("401")
        editor = page.locator(".opblock-post").first
        editor.locator(".opblock-summary").click()
        editor.get_by_role("button", name="Try it out").click()
        expect(editor.get_by_role("textbox", name="Request body")).to_be_visible()
        page.add_script_tag(path=str(AXE))
        found: list[dict[str, Any]] = page.evaluate(
            """async () => {
                const result = await axe.run(document, {resultTypes: ["violations"]});
                return result.violations
                  .filter(v => v.impact === "serious" || v.impact === "critical")
                  .map(v => ({id: v.id, nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
            }"""
        )
        if found:
            problems[width] = found
    context.close()
    assert problems == {}
