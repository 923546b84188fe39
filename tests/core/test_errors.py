"""Every error a context raises is exactly one kind of ``core.errors``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from servicebay.catalog.errors import InvalidDemand, InvalidOffering
from servicebay.core.errors import KINDS, Invalid, ServicebayError

CONTEXTS = ("servicebay.core", "servicebay.catalog", "servicebay.requests", "servicebay.analytics")
# Bases that group a context's errors; only their subclasses are raised.
CONTEXT_BASES = {
    "servicebay.catalog.errors.CatalogError",
    "servicebay.requests.errors.RequestsError",
    "servicebay.core.identity.IdentityError",
}
# Raised at start-up or while loading plugins, never answered to a caller.
NOT_ANSWERED = {
    "servicebay.core.settings.SettingsError",
    "servicebay.core.crypto.SecretKeyMissing",
    "servicebay.catalog.fulfilment.PluginMissing",
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
