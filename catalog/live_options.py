"""Form options from a live source: a select field's choices fetched over HTTP while the
form is filled in, and checked again when it is submitted.

The source is called by the server, through the same outbound address checks as webhook
fulfilment. A good answer stands for the source's ``cache_seconds``; a source that cannot
be read gives no options at all (never an older answer), so a form cannot be sent with a
value the source no longer offers. See docs/catalog-as-code.md ("Live form options").
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as default
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from cachetools import TLRUCache
from uritemplate import URITemplate

from servicebay.catalog.fulfilment.outcome import Outcome
from servicebay.catalog.fulfilment.webhook import Connections, post
from servicebay.catalog.schemas import TEAM_PARAMETER, FormField, OptionsSource, json_path
from servicebay.core import clock
from servicebay.core.outbound import OutboundPolicy

MAX_OPTIONS = 500  # the most options one answer gives a field; the rest are left out
USER_AGENT = "servicebay-form-options/1"
# What one kept answer is for: the URL asked, the paths read in it and its cache time.
AnswerKey = tuple[str, str, str, str | None, int]


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class FieldOptions:
    """A field's options for the answers given so far, or why there are none now.

    ``waiting_for`` names the fields (by label) that must be answered before the source can
    be asked; ``problem`` says why the source gave no options (it is down, its answer is not
    what the offering expects).
    """

    field: str
    options: list[Option] = default(default_factory=list)
    waiting_for: list[str] = default(default_factory=list)
    problem: str | None = None

    @property
    def ready(self) -> bool:
        return not self.waiting_for and self.problem is None

    def values(self) -> list[str]:
        return [option.value for option in self.options]

    def refusal(self) -> str | None:
        """Why a value cannot be accepted now, in words that follow the field's label."""
        if self.problem is not None:
            return f"cannot be checked now: {self.problem}; try again later"
        if self.waiting_for:
            return f"needs {_listed(self.waiting_for)} first"
        return None


class OptionsUnavailable(Exception):
    """The source gave no usable options; the message says why."""


class LiveOptions:
    """The options of fields with a live source, kept for each source's cache time.

    One per process and outbound policy (``for_policy``); safe to share between threads.
    """

    def __init__(self, policy: OutboundPolicy, *, max_answers: int = 1_024) -> None:
        self.policy = policy
        self._connections = Connections()
        self._answers: TLRUCache[AnswerKey, list[Option]] = TLRUCache(
            maxsize=max_answers, ttu=_expiry, timer=_now
        )
        self._lock = threading.Lock()

    def for_field(
        self,
        form_field: FormField,
        *,
        answers: Mapping[str, Any],
        labels: Mapping[str, str],
        team: str | None,
    ) -> FieldOptions:
        """The options of a field for the answers given above it (``labels`` name those
        fields in words): its own list, or its live source's answer."""
        source = form_field.options_from
        if source is None:
            return FieldOptions(form_field.name, options=[Option(o, o) for o in form_field.options])
        variables: dict[str, Any] = {}
        waiting: list[str] = []
        for name in source.parameters:
            value = team if name == TEAM_PARAMETER else answers.get(name)
            if value is None or value == "" or value == []:
                if name != TEAM_PARAMETER:
                    waiting.append(labels.get(name, name))
                continue
            variables[name] = _as_parameter(value)
        if waiting:
            return FieldOptions(form_field.name, waiting_for=waiting)
        url = URITemplate(source.url).expand(variables)
        try:
            return FieldOptions(form_field.name, options=self._options(url, source))
        except OptionsUnavailable as unavailable:
            return FieldOptions(form_field.name, problem=str(unavailable))

    def _options(self, url: str, source: OptionsSource) -> list[Option]:
        key = (url, source.items, source.value, source.label, source.cache_seconds)
        with self._lock:
            kept = self._answers.get(key)
        if kept is not None:
            return kept
        options = fetch(url, source, policy=self.policy, connections=self._connections)
        if source.cache_seconds > 0:
            with self._lock:
                self._answers[key] = options
        return options

    def forget(self) -> None:
        """Drop every kept answer (tests; a source known to have changed)."""
        with self._lock:
            self._answers.clear()


@cache
def for_policy(policy: OutboundPolicy) -> LiveOptions:
    """The process's live options under this outbound policy: one cache for every face."""
    return LiveOptions(policy)


def fetch(
    url: str, source: OptionsSource, *, policy: OutboundPolicy, connections: Connections
) -> list[Option]:
    """GET the source and read its options; OptionsUnavailable says why there are none."""
    host = urlsplit(url).hostname or url
    answer = post(
        url,
        method="GET",
        body=b"",
        headers={"accept": "application/json", "user-agent": USER_AGENT},
        timeout=source.timeout_seconds,
        policy=policy,
        connections=connections,
        shown=f"the options source at {host}",
    )
    if isinstance(answer, Outcome):
        raise OptionsUnavailable(answer.message)
    if not 200 <= answer.status < 300:
        raise OptionsUnavailable(f"the options source at {host} answered {answer.status}")
    try:
        document = json.loads(answer.body)
    except ValueError:
        raise OptionsUnavailable(f"the options source at {host} did not answer JSON") from None
    return read_options(document, source)


def read_options(document: Any, source: OptionsSource) -> list[Option]:
    """The options in a source's answer, by its JSONPath expressions, each value once."""
    items = [match.value for match in json_path(source.items).find(document)]
    if len(items) == 1 and isinstance(items[0], list):
        items = items[0]  # a path to the list itself: its elements are the options
    options: list[Option] = []
    seen: set[str] = set()
    for item in items:
        value = _one(source.value, item)
        if value is None or value in seen:
            continue
        label = _one(source.label, item) if source.label else None
        seen.add(value)
        options.append(Option(value=value, label=label or value))
        if len(options) == MAX_OPTIONS:
            break
    if items and not options:
        raise OptionsUnavailable(
            f"the answer has {len(items)} items but none has a value at {source.value!r}"
        )
    return options


def _one(expression: str, item: Any) -> str | None:
    found = json_path(expression).find(item)
    if not found:
        return None
    value = found[0].value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        text = str(value).strip()
        return text[:200] or None
    return None


def _as_parameter(value: Any) -> Any:
    if isinstance(value, list):
        return [str(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _expiry(key: AnswerKey, value: list[Option], now: float) -> float:
    return now + key[-1]  # the source's cache_seconds


def _now() -> float:
    return clock.now().timestamp()


def _listed(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]
