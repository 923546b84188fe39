"""Catalog files from users: no server secret reachable, bounded parsing, rights first."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from servicebay.catalog import as_code
from servicebay.catalog.models import Offering, OfferingVersion
from servicebay.core.identity import Role
from servicebay.core.settings import Settings, SettingsError, load_settings
from tests.factories import make_team, make_user, token_for

HOOK = """\
slug: hook
name: Hook
owner_team: platform
description: Calls a hook.
contact: platform@example.com
runbook_url: https://runbooks.example.com/hook
no_input_needed: true
fulfilment:
  kind: webhook
  url: https://hooks.example.com/hook
sle: {percent: 80, within_hours: 24}
status: draft
webhook_secret_env: VARIABLE
"""

# The finding's shape: nine levels of aliases, each a list of nine of the level below
# (9^9 = 387 million strings from some 600 bytes).
BILLION_LAUGHS = """\
slug: lol
name: lol
owner_team: platform
a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
fulfilment: {kind: manual}
"""


def _apply(client: TestClient, headers: dict[str, str], text: str) -> tuple[int, Any]:
    answer = client.post(
        "/api/v1/catalog/apply", headers=headers, json={"files": {"hook.yaml": text}}
    )
    return answer.status_code, answer.json()["detail"] if answer.status_code != 200 else None


def _member(db: Session) -> dict[str, str]:
    platform = make_team(db, "platform")
    headers = token_for(db, make_user(db, team=platform, role=Role.LEAD))
    db.commit()
    return headers


def _offerings(db: Session) -> int:
    count = int(db.scalar(select(func.count()).select_from(Offering)) or 0)
    db.rollback()
    return count


def test_a_member_cannot_bind_the_servers_own_settings_as_a_webhook_secret(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVICEBAY_SECRET_KEY", "the-master-key")
    monkeypatch.setenv("servicebay_secret_key", "the-master-key")
    headers = _member(db)
    for name in ("SERVICEBAY_SECRET_KEY", "servicebay_secret_key"):
        status, detail = _apply(client, headers, HOOK.replace("VARIABLE", name))
        assert status == 422
        assert detail == [
            {
                "field": "hook.yaml:13: webhook_secret_env",
                "message": f"{name} is not a secret variable this server offers to catalog "
                "files (an administrator lists them in SERVICEBAY_CATALOG_SECRET_VARIABLES)",
            }
        ]
    assert _offerings(db) == 0


def test_a_variable_lookup_answers_the_same_whether_the_variable_exists_or_not(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_PASSWORD", "hunter2")
    monkeypatch.delenv("NO_SUCH_VARIABLE_HERE", raising=False)
    headers = _member(db)
    stranger = token_for(db, make_user(db))
    db.commit()
    answers = {
        name: (
            _apply(client, headers, HOOK.replace("VARIABLE", name)),
            _apply(client, stranger, HOOK.replace("VARIABLE", name)),
        )
        for name in ("DATABASE_PASSWORD", "NO_SUCH_VARIABLE_HERE")
    }
    (member_set, stranger_set), (member_unset, stranger_unset) = answers.values()
    assert member_set[0] == member_unset[0] == 422
    assert str(member_set[1]).replace("DATABASE_PASSWORD", "X") == str(member_unset[1]).replace(
        "NO_SUCH_VARIABLE_HERE", "X"
    )
    assert stranger_set == stranger_unset
    assert stranger_set[0] == 403


def test_an_allow_listed_variable_becomes_the_webhook_secret(
    app: FastAPI,
    client: TestClient,
    db: Session,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "whsec_allowed")
    app.state.settings = settings.model_copy(update={"catalog_secret_variables": ["HOOK_SECRET"]})
    headers = _member(db)
    status, _ = _apply(client, headers, HOOK.replace("VARIABLE", "HOOK_SECRET"))
    assert status == 200
    assert db.scalar(select(OfferingVersion.webhook_secret)) == "whsec_allowed"
    db.rollback()
    monkeypatch.delenv("HOOK_SECRET")
    status, detail = _apply(
        client, headers, HOOK.replace("VARIABLE", "HOOK_SECRET").replace("slug: hook", "slug: h2")
    )
    assert status == 422 and "HOOK_SECRET is not a secret variable this server offers" in str(
        detail
    )


@pytest.mark.parametrize("name", ["SERVICEBAY_SECRET_KEY", "servicebay_smtp_password", "A B"])
def test_the_allow_list_never_names_a_server_setting(name: str) -> None:
    with pytest.raises(SettingsError, match="SERVICEBAY_CATALOG_SECRET_VARIABLES"):
        load_settings(catalog_secret_variables=[name])


def test_someone_in_no_team_is_refused_before_any_file_is_read(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_team(db, "platform")
    stranger = token_for(db, make_user(db))
    db.commit()

    def never(text: str) -> None:
        raise AssertionError("a stranger's file was parsed")

    monkeypatch.setattr(as_code, "load", never)
    for text in (BILLION_LAUGHS, "slug: [unclosed\n"):
        status, detail = _apply(client, stranger, text)
        assert status == 403
        assert detail == "catalog files are for members of a team that owns offerings"


def test_the_billion_laughs_file_is_refused_at_its_first_alias(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(BILLION_LAUGHS) < 700
    built: list[int] = []
    dispose = as_code.CatalogLoader.dispose
    monkeypatch.setattr(
        as_code.CatalogLoader, "dispose", lambda self: (built.append(self.nodes), dispose(self))
    )
    status, detail = _apply(client, _member(db), BILLION_LAUGHS)
    assert status == 422
    assert detail == [
        {"field": "hook.yaml:4: yaml", "message": "anchors and aliases (& and *) are not allowed"}
    ]
    assert built == [8]  # the mapping, three keys and values, the key "a"; then the anchor


def test_a_file_with_more_values_than_the_limit_is_refused_once_the_limit_is_passed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(as_code, "MAX_NODES", 50)
    built: list[int] = []
    dispose = as_code.CatalogLoader.dispose
    monkeypatch.setattr(
        as_code.CatalogLoader, "dispose", lambda self: (built.append(self.nodes), dispose(self))
    )
    text = "tags:\n" + "".join(f"  - tag{n}\n" for n in range(1000))
    with pytest.raises(as_code.CatalogFilesInvalid) as refused:
        as_code.parse_files({"many.yaml": text})
    assert [str(p) for p in refused.value.file_problems] == [
        "many.yaml:49: yaml: a file may hold at most 50 values"  # the 48th tag
    ]
    assert built == [51]


def test_deep_nesting_and_oversized_files_and_too_many_files_are_refused() -> None:
    deep = "a: " + "[" * 100 + "]" * 100 + "\n"
    with pytest.raises(as_code.CatalogFilesInvalid, match="nest at most 32 deep"):
        as_code.parse_files({"deep.yaml": deep})
    big = "description: " + "x" * as_code.MAX_FILE_CHARACTERS + "\n"
    with pytest.raises(as_code.CatalogFilesInvalid, match="at most 262144 characters"):
        as_code.parse_files({"big.yaml": big})
    many = {f"{n}.yaml": "slug: x\n" for n in range(as_code.MAX_FILES + 1)}
    with pytest.raises(as_code.CatalogFilesInvalid, match="at most 500 files"):
        as_code.parse_files(many)


def test_merge_keys_need_aliases_and_are_refused_too() -> None:
    text = "base: &base {kind: manual}\nfulfilment:\n  <<: *base\n"
    with pytest.raises(as_code.CatalogFilesInvalid, match="anchors and aliases"):
        as_code.parse_files({"merge.yaml": text})


def test_values_python_cannot_make_are_the_files_problem_with_their_line(
    client: TestClient, db: Session
) -> None:
    headers = _member(db)
    for text, said in (
        ("slug: x\ncost: " + "9" * 5000 + "\n", "hook.yaml:2: yaml"),
        ("slug: x\nname: x\nwhen: 2026-13-45\n", "hook.yaml:3: yaml"),
    ):
        status, detail = _apply(client, headers, text)
        assert status == 422
        assert [problem["field"] for problem in detail] == [said]
