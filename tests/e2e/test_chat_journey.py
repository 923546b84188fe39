"""A person turns on chat notifications in the browser and hears of their request there."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.chat_receiver import ChatReceiver, buttons, title
from tests.e2e.conftest import LiveServer, screenshot, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_a_person_sets_a_slack_webhook_and_gets_a_button_back_to_the_completed_request(
    page: Page, live_server: LiveServer
) -> None:
    with ChatReceiver("slack") as slack:
        sign_in(page, live_server, "casey")
        page.goto(live_server.url + "/account")
        chat = page.locator("#chat")
        chat.get_by_label("Chat", exact=True).select_option("slack")
        chat.get_by_label("Webhook address").fill(slack.url())
        for box in chat.get_by_role("checkbox").all():
            box.uncheck()
        chat.get_by_label("It is completed").check()
        chat.get_by_role("button", name="Save chat").click()
        expect(page.get_by_text("Chat notifications saved.")).to_be_visible()
        expect(chat.get_by_text("Posting to 127.0.0.1")).to_be_visible()
        expect(chat.get_by_label("Webhook address")).to_have_value("")  # never shown again
        screenshot(page, "account-chat")

        page.goto(live_server.url + "/offerings/postgres-database")
        page.get_by_label("Database name").fill("chat_journey")
        page.get_by_role("button", name="Submit request").click()
        page.wait_for_url(re.compile(r".*/requests/\d+$"))
        request_path = page.url.removeprefix(live_server.url)
        expect(page.locator(".status-line")).to_have_attribute(
            "data-status", "completed", timeout=15_000
        )
        deadline = time.monotonic() + 15
        while not slack.accepted:
            assert time.monotonic() < deadline, "no chat message arrived"
            time.sleep(0.1)

    [message] = slack.accepted
    assert title(message).endswith("is completed.")
    assert list(buttons(message).values()) == [live_server.url + request_path]
