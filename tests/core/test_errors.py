"""Every error a context raises is exactly one kind of ``core.errors``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from sqlalchemy.orm import Session

from servicebay.catalog.errors import InvalidDemand, InvalidOffering
from servicebay.core import identity
from servicebay.core.errors import KINDS, Conflict, Denied, Invalid, NotFound, ServicebayError
from tests.factories import make_team, make_user

CONTEXTS = ("servicebay.core", "servicebay.catalog", "servicebay.requests", "servicebay.analytics")
# Bases that group a context's errors; only their subclasses are raised.
CONTEXT_BASES = {
    "servicebay.catalog.errors.CatalogError",
    "servicebay.requests.errors.RequestsError",
    "servicebay.core.identity.IdentityError",
}
# Raised at start-up, or raised and caught inside one module: never answered to a caller.
NOT_ANSWERED = {
    "servicebay.core.settings.SettingsError",
    "servicebay.core.crypto.SecretKeyMissing",
    "servicebay.catalog.fulfilment.webhook.TooLarge",
    # Turned into what the caller sees where they are caught: a field's "cannot be loaded
    # now" (live options), a step's failure with the template's message (pipelines).
    "servicebay.catalog.live_options.OptionsUnavailable",
    "servicebay.catalog.templates.TemplateFailure",
}


def _modules() -> list[str]:
    names = ["servicebay.portal.security"]
    for context in CONTEXTS:
        package = importlib.import_module(context)
        names += [info.name for info in pkgutil.walk_packages(package.__path__, f"{context}.")]
    return names


def _errors_defined_in_the_contexts() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in _modules():
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == name
            ):
                found[f"{name}.{value.__qualname__}"] = value
    return found


def test_every_context_error_is_exactly_one_kind() -> None:
    errors = _errors_defined_in_the_contexts()
    assert "servicebay.requests.errors.InvalidInput" in errors
    assert "servicebay.portal.security.CsrfRejected" in errors
    without_one_kind = {
        name: [kind.__name__ for kind in KINDS if issubclass(error, kind)]
        for name, error in errors.items()
        if name not in CONTEXT_BASES | NOT_ANSWERED
        and error not in (ServicebayError, *KINDS)
        and sum(issubclass(error, kind) for kind in KINDS) != 1
    }
    assert without_one_kind == {}


def test_context_bases_only_group_errors_of_a_kind() -> None:
    errors = _errors_defined_in_the_contexts()
    for name in CONTEXT_BASES:
        assert not issubclass(errors[name], ServicebayError), name


def test_errors_with_problems_keep_them_and_say_them() -> None:
    error = InvalidOffering({"slug": "is taken", "name": "is required"})
    assert isinstance(error, Invalid)
    assert error.problems == {"slug": "is taken", "name": "is required"}
    assert str(error) == "slug: is taken; name: is required"
    assert InvalidDemand({"reason": "say why"}).status_code == 422


def test_identity_errors_say_their_kind(db: Session) -> None:
    casey, robin = make_user(db), make_user(db)
    token = identity.create_token(db, user=robin, name="robin's").token
    with pytest.raises(Conflict):
        identity.create_team(db, slug=make_team(db, "platform").slug, name="Platform again")
    with pytest.raises(NotFound):
        identity.get_team(db, slug="nowhere")
    with pytest.raises(NotFound):
        identity.revoke_token(db, user=casey, token_id=token.id)
    with pytest.raises(Invalid):
        identity.create_token(db, user=casey, name="x", scopes=["everything"])
    with pytest.raises(Denied):
        identity.create_token(db, user=casey, name="x", scopes=["admin"])
    with pytest.raises(Invalid):
        identity.create_user(db, username="short-password", password="1234")
