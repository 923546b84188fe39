"""A real OpenID provider for the tests: `oidc-provider` (the certified npm package) run by
node from tests/oidc_provider.mjs on a free port of 127.0.0.1, and the calls that drive it.

`IdentityProvider` registers the app as a client, adds people, rotates the signing key and
asks for a bad ID token next; `sign_in_at_provider` plays the person at the provider's
login form, the way a browser would, and returns the URL it sends the browser back to.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.servers import answers, free_port, wait_until_up

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "oidc_provider.mjs"
PASSWORD = "provider-password-7"


@dataclass(frozen=True)
class IdentityProvider:
    url: str

    def _control(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(self.url + path, json=body)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def register_client(self, *, client_id: str, secret: str, base_url: str) -> None:
        self._control(
            "/test/clients",
            {
                "client_id": client_id,
                "client_secret": secret,
                "redirect_uris": [base_url + "/login/oidc/callback"],
                "post_logout_redirect_uris": [base_url + "/login"],
            },
        )

    def add_person(self, login: str, **claims: Any) -> None:
        self._control("/test/accounts", {"login": login, "password": PASSWORD, "claims": claims})

    def rotate_keys(self) -> list[str]:
        kids: list[str] = self._control("/test/rotate", {})["kids"]
        return kids

    def next_id_token(self, **plan: Any) -> None:
        """Change the ID token of the next token response (see oidc_provider.mjs)."""
        self._control("/test/next-id-token", plan)

    def misbehave(self, mode: str) -> None:
        self._control("/test/misbehave", {"mode": mode})


@contextmanager
def run_identity_provider(log_dir: Path) -> Iterator[IdentityProvider]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed; scripts/setup installs Node.js")
    if not (ROOT / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("oidc-provider is not installed; run scripts/setup (npm ci)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = log_dir / "oidc-provider.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [node, str(SCRIPT), str(port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            if not wait_until_up(
                lambda: answers(url + "/.well-known/openid-configuration"),
                gone=lambda: process.poll() is not None,
            ):
                pytest.fail(f"the OpenID provider never answered:\n{log_path.read_text()}")
            yield IdentityProvider(url=url)
        finally:
            process.terminate()
            process.wait(timeout=15)


def sign_in_at_provider(
    authorize_url: str, *, login: str, password: str = PASSWORD, back_to: str
) -> str:
    """Follow the provider's pages from its authorization URL, fill in its login form, and
    return the URL under ``back_to`` that it redirects the browser to (not followed)."""
    with httpx.Client() as browser:
        response = browser.get(authorize_url)
        for _ in range(10):
            if response.is_redirect:
                target = urljoin(str(response.url), response.headers["location"])
                if target.startswith(back_to):
                    return target
                response = browser.get(target)
                continue
            assert response.status_code == 200, response.text
            form_action = _form_action(response.text)
            response = browser.post(
                urljoin(str(response.url), form_action),
                data={"login": login, "password": password},
            )
        raise AssertionError(f"the provider never sent the browser back to {back_to}")


def _form_action(page: str) -> str:
    marker = 'action="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
