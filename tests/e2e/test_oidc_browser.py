"""Company sign-in in Chromium: the portal sends the person to a real OpenID provider
(oidc-provider on 127.0.0.1), they sign in there, and come back signed in, with the team
their groups name; signing out ends the provider's session too."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.orm import Session

from servicebay.core import identity
from servicebay.core.identity import Role
from servicebay.core.settings import Settings
from servicebay.portal.app import create_app
from tests.e2e.conftest import screenshot
from tests.e2e.test_portal_accessibility import _violations
from tests.factories import make_team
from tests.identity_provider import PASSWORD, IdentityProvider
from tests.servers import app_on_thread, free_port

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture
def portal_with_company_sign_in(
    settings: Settings, sessions: object, identity_provider: IdentityProvider
) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    client_id = f"servicebay-{uuid.uuid4().hex[:8]}"
    identity_provider.register_client(client_id=client_id, secret="browser-secret", base_url=url)
    configured = settings.model_copy(
        update={
            "base_url": url,
            "oidc_issuer": identity_provider.url,
            "oidc_client_id": client_id,
            "oidc_client_secret": "browser-secret",
            "oidc_scopes": "openid email profile groups",
            "oidc_groups_claim": "groups",
            "oidc_provider_name": "Example SSO",
        }
    )
    with app_on_thread(create_app(configured), port) as served:
        yield served


def test_company_sign_in_in_chromium_creates_the_user_with_the_team_from_groups(
    page: Page,
    portal_with_company_sign_in: str,
    identity_provider: IdentityProvider,
    db: Session,
) -> None:
    url = portal_with_company_sign_in
    make_team(db, "payments")
    db.commit()
    login = f"robin-{uuid.uuid4().hex[:6]}"
    identity_provider.add_person(
        login,
        email="robin@example.com",
        name="Robin Lee",
        preferred_username="robin",
        groups=["payments-leads"],
    )

    page.goto(f"{url}/requests")
    page.get_by_role("link", name="Sign in with Example SSO").click()
    page.wait_for_url(f"{identity_provider.url}/interaction/*")
    page.get_by_label("User name").fill(login)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()

    page.wait_for_url(f"{url}/requests")
    expect(page.get_by_role("link", name="Robin Lee")).to_be_visible()
    expect(page.get_by_role("link", name="Ops")).to_be_visible()  # a team member now
    screenshot(page, "oidc-signed-in")
    user = identity.get_user(db, username="robin")
    assert user.email == "robin@example.com"
    assert [(m.team.slug, m.role) for m in user.memberships] == [("payments", Role.LEAD.value)]
    db.rollback()

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(f"{url}/login")
    page.goto(f"{url}/requests")
    expect(page.get_by_role("link", name="Sign in with Example SSO")).to_be_visible()

    # The provider's session ended too: signing in again asks for the password again.
    page.get_by_role("link", name="Sign in with Example SSO").click()
    expect(page.get_by_label("User name")).to_be_visible()


def test_sign_in_page_with_company_sign_in_has_no_serious_accessibility_violations(
    browser: Browser, portal_with_company_sign_in: str
) -> None:
    context = browser.new_context(bypass_csp=True)  # axe is a script the CSP would refuse
    page = context.new_page()
    problems = {}
    try:
        for path, name in (
            ("/login", "sign-in-company"),
            ("/login/oidc/callback", "sign-in-refused"),
        ):
            page.goto(portal_with_company_sign_in + path)
            found = _violations(page)
            if found:
                problems[path] = found
            screenshot(page, f"page-{name}")
    finally:
        context.close()
    assert problems == {}
