"""Sign-in with an OpenID Connect provider (Keycloak, Entra ID, Okta, Google, Authentik...).

The authorization code flow with PKCE (S256), as a confidential client (with a secret) or
a public one. The provider's discovery document names its endpoints; its ID token is
verified before anything is believed: signature from its published keys (fetched again
when a token names a key not yet seen, which is how providers rotate), issuer, audience,
expiry and the nonce of this very sign-in.

Each sign-in starts with a row holding the state, the nonce and the PKCE verifier, found
by the state's hash and deleted when the provider sends the browser back, so a state (and
with it its nonce) serves once; the browser also carries the state in a cookie, so a
sign-in finishes only in the browser that started it. Who the person is and which teams
they are in is decided by ``identity.user_from_provider``.

Authlib writes the authorization URL (with the PKCE challenge) and the token request,
httpx carries them; joserfc (Authlib's JOSE library) checks the signature, and Authlib's
``CodeIDToken`` the claims.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from sqlalchemy import String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from servicebay.core import clock, events, identity
from servicebay.core.database import Base, UTCDateTime
from servicebay.core.errors import Unauthorized, Unavailable
from servicebay.core.identity import GroupRules, IdentityError, ProviderPerson, User

if TYPE_CHECKING:
    from servicebay.core.settings import Settings

logger = logging.getLogger(__name__)

ATTEMPT_LIFETIME = timedelta(minutes=10)
"""How long the provider may take to send the browser back (people type passwords)."""
METADATA_LIFETIME = 3600.0
"""Seconds a discovery document is kept before it is read again."""
CALLBACK_PATH = "/login/oidc/callback"
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
"""Signatures only the provider can make: never "none", nor HS256 with the shared secret."""


class SignInAttempt(Base):
    """A sign-in sent to the provider and not yet back."""

    __tablename__ = "core_sign_in_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    next_path: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ProviderUnavailable(IdentityError, Unavailable):
    """The identity provider cannot be reached (down, refusing connections, too slow)."""


class ProviderAnswerInvalid(IdentityError, Unavailable):
    """The identity provider answered, but not as an OpenID provider answers."""

    status_code = 502


class SignInRefused(IdentityError, Unauthorized):
    """This sign-in cannot be trusted: expired or replayed, refused by the provider, or
    its ID token fails a check. The message says which, in words for the person."""


@dataclass(frozen=True)
class ProviderMetadata:
    """What servicebay uses of the provider's discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None
    signing_algorithms: tuple[str, ...]


@dataclass(frozen=True)
class Redirect:
    """Where to send the browser to sign in, and the state its cookie must carry back."""

    url: str
    state: str


@dataclass(frozen=True)
class SignedIn:
    user: User
    id_token: str
    next_path: str


@dataclass
class _Cache:
    metadata: ProviderMetadata | None = None
    read_at: float = 0.0
    keys: KeySet | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class RelyingParty:
    """servicebay as a client of one OpenID provider. One per app: it keeps the provider's
    discovery document and keys between sign-ins."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str,
        scopes: str,
        base_url: str,
        groups_claim: str = "",
        rules: GroupRules | None = None,
        leeway_seconds: int = 60,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes = scopes
        self.redirect_uri = base_url + CALLBACK_PATH
        self.post_logout_redirect_uri = base_url + "/login"
        self.groups_claim = groups_claim
        self.rules = rules
        self.leeway_seconds = leeway_seconds
        self.timeout = timeout_seconds
        self._cache = _Cache()

    @classmethod
    def from_settings(cls, settings: Settings) -> RelyingParty | None:
        if not settings.oidc_issuer:
            return None
        return cls(
            issuer=settings.oidc_issuer,
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            scopes=settings.oidc_scopes,
            base_url=settings.base_url,
            groups_claim=settings.oidc_groups_claim,
            rules=GroupRules(
                settings.oidc_team_map,
                settings.oidc_lead_group_suffix,
                frozenset(settings.oidc_admin_groups),
            )
            if settings.oidc_groups_claim
            else None,
            leeway_seconds=settings.oidc_leeway_seconds,
            timeout_seconds=settings.oidc_timeout_seconds,
        )

    @property
    def origin(self) -> str:
        parts = urlsplit(self.issuer)
        return f"{parts.scheme}://{parts.netloc}"

    # --- the two halves of a sign-in ------------------------------------------------

    def begin(self, session: Session, *, next_path: str) -> Redirect:
        """Start a sign-in: remember its secrets, and say where to send the browser."""
        metadata = self.metadata()
        now = clock.now()
        session.execute(
            delete(SignInAttempt).where(SignInAttempt.created_at < now - ATTEMPT_LIFETIME)
        )
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)  # 86 characters: RFC 7636 wants 43 to 128
        session.add(
            SignInAttempt(
                state_hash=identity.hash_secret(state),
                nonce=nonce,
                code_verifier=verifier,
                next_path=next_path,
                created_at=now,
            )
        )
        url = prepare_grant_uri(
            metadata.authorization_endpoint,
            client_id=self.client_id,
            response_type="code",
            redirect_uri=self.redirect_uri,
            scope=self.scopes,
            state=state,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
            nonce=nonce,
        )
        return Redirect(url=url, state=state)

    def finish(
        self,
        session: Session,
        *,
        state: str,
        browser_state: str,
        code: str,
        issuer: str = "",
        error: str = "",
        error_description: str = "",
    ) -> SignedIn:
        """The provider sent the browser back: check everything, then sign the person in.

        The attempt is used up whatever happens next, so the caller must commit even when
        this raises (the portal does: it answers the error as a page).
        """
        if not state or not hmac.compare_digest(state.encode(), browser_state.encode()):
            raise self._refused(
                session,
                "This sign-in did not start in this browser, or it was already finished. "
                "Start again.",
                reason="state does not match the browser's",
            )
        attempt = session.scalar(
            select(SignInAttempt).where(SignInAttempt.state_hash == identity.hash_secret(state))
        )
        if attempt is None or attempt.created_at < clock.now() - ATTEMPT_LIFETIME:
            if attempt is not None:
                session.delete(attempt)
            raise self._refused(
                session,
                "This sign-in has expired or was already used. Start again.",
                reason="unknown, used or expired state",
            )
        session.delete(attempt)
        session.flush()
        if error:
            said = error_description or error
            raise self._refused(
                session, f"The sign-in service did not sign you in: {said}", reason=error
            )
        if issuer and issuer != self.issuer:
            # RFC 9207: the answer names who sent it; another provider's code is not ours.
            raise self._refused(
                session,
                "The answer came from another sign-in service. Start again.",
                reason=f"iss parameter {issuer!r}",
            )
        if not code:
            raise self._refused(
                session, "The sign-in service sent no sign-in code.", reason="no code"
            )
        metadata = self.metadata()
        tokens = self._exchange(session, metadata, code=code, verifier=attempt.code_verifier)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise ProviderAnswerInvalid("the sign-in service answered without an ID token")
        claims = self._verify(
            session,
            metadata,
            id_token,
            nonce=attempt.nonce,
            access_token=tokens.get("access_token"),
        )
        user = identity.user_from_provider(session, person=self._person(claims), rules=self.rules)
        return SignedIn(user=user, id_token=id_token, next_path=attempt.next_path)

    def logout_url(self, *, id_token: str) -> str | None:
        """Where to send the browser so the provider ends its session too (RP-initiated
        logout), or None when it offers no such endpoint or cannot be asked now."""
        try:
            endpoint = self.metadata().end_session_endpoint
        except IdentityError as error:
            logger.warning("not signing out at the identity provider: %s", error)
            return None
        if endpoint is None:
            return None
        parts = urlsplit(endpoint)
        if f"{parts.scheme}://{parts.netloc}" != self.origin:
            # The pages' CSP lets forms lead only to the issuer's origin.
            logger.warning("end_session_endpoint %s is not on the issuer's origin", endpoint)
            return None
        url: str = add_params_to_uri(
            endpoint,
            [
                ("id_token_hint", id_token),
                ("post_logout_redirect_uri", self.post_logout_redirect_uri),
                ("client_id", self.client_id),
            ],
        )
        return url

    # --- the provider's documents ---------------------------------------------------

    def metadata(self) -> ProviderMetadata:
        """The discovery document, read at most once an hour (and again after a failure)."""
        cache = self._cache
        with cache.lock:
            if cache.metadata is None or clock.monotonic() - cache.read_at > METADATA_LIFETIME:
                cache.metadata = self._discover()
                cache.read_at = clock.monotonic()
                cache.keys = None
            return cache.metadata

    def _discover(self) -> ProviderMetadata:
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = self._get_json(url, what="discovery document")
        try:
            metadata = ProviderMetadata(
                issuer=_text(document, "issuer"),
                authorization_endpoint=_url(document, "authorization_endpoint"),
                token_endpoint=_url(document, "token_endpoint"),
                jwks_uri=_url(document, "jwks_uri"),
                end_session_endpoint=_url(document, "end_session_endpoint")
                if document.get("end_session_endpoint")
                else None,
                signing_algorithms=_algorithms(document),
            )
        except ValueError as error:
            raise ProviderAnswerInvalid(
                f"the sign-in service's discovery document at {url} is not usable: {error}"
            ) from error
        if metadata.issuer != self.issuer:
            raise ProviderAnswerInvalid(
                f"the discovery document at {url} names the issuer {metadata.issuer!r}, "
                f"not {self.issuer!r} as configured (SERVICEBAY_OIDC_ISSUER)"
            )
        return metadata

    def _keys(self, metadata: ProviderMetadata, *, refresh: bool) -> KeySet:
        cache = self._cache
        with cache.lock:
            if cache.keys is None or refresh:
                document = self._get_json(metadata.jwks_uri, what="key set (JWKS)")
                try:
                    cache.keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
                except (JoseError, ValueError, KeyError, TypeError) as error:
                    raise ProviderAnswerInvalid(
                        f"the sign-in service's key set at {metadata.jwks_uri} is not usable"
                    ) from error
            return cache.keys

    def _get_json(self, url: str, *, what: str) -> dict[str, Any]:
        try:
            response = httpx.get(url, timeout=self.timeout, headers={"Accept": "application/json"})
        except httpx.TransportError as error:
            raise ProviderUnavailable(
                f"the sign-in service at {self.origin} cannot be reached ({_said(error)})"
            ) from error
        try:
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPStatusError, ValueError) as error:
            raise ProviderAnswerInvalid(
                f"the sign-in service answered its {what} with something that is not one "
                f"(HTTP {response.status_code}, {response.headers.get('content-type', 'no type')})"
            ) from error
        if not isinstance(document, dict):
            raise ProviderAnswerInvalid(f"the sign-in service's {what} is not a JSON object")
        return document

    # --- the code and the ID token --------------------------------------------------

    def _exchange(
        self, session: Session, metadata: ProviderMetadata, *, code: str, verifier: str
    ) -> dict[str, Any]:
        body = prepare_token_request(
            "authorization_code", code=code, redirect_uri=self.redirect_uri, code_verifier=verifier
        )
        method = "client_secret_basic" if self.client_secret else "none"
        url, headers, body = ClientAuth(self.client_id, self.client_secret, method).prepare(
            "POST",
            metadata.token_endpoint,
            {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            body,
        )
        try:
            response = httpx.post(url, content=body, headers=headers, timeout=self.timeout)
        except httpx.TransportError as error:
            raise ProviderUnavailable(
                f"the sign-in service at {self.origin} cannot be reached ({_said(error)})"
            ) from error
        try:
            tokens = response.json()
        except ValueError:
            tokens = None
        if not isinstance(tokens, dict):
            raise ProviderAnswerInvalid(
                "the sign-in service answered the code exchange with something that is not "
                f"a token response (HTTP {response.status_code})"
            )
        if "error" in tokens or response.status_code != 200:
            said = str(tokens.get("error", response.status_code))[:100]
            raise self._refused(
                session,
                f"The sign-in service refused to finish this sign-in ({said}). Start again.",
                reason=f"token endpoint: {said} {str(tokens.get('error_description', ''))[:200]}",
            )
        return tokens

    def _verify(
        self,
        session: Session,
        metadata: ProviderMetadata,
        id_token: str,
        *,
        nonce: str,
        access_token: object,
    ) -> dict[str, Any]:
        registry = JWSRegistry(algorithms=list(metadata.signing_algorithms))
        try:
            try:
                token = jwt.decode(id_token, self._keys(metadata, refresh=False), registry=registry)
            except InvalidKeyIdError:
                # A key not seen yet: the provider may have rotated its keys.
                token = jwt.decode(id_token, self._keys(metadata, refresh=True), registry=registry)
            claims = CodeIDToken(
                token.claims,
                token.header,
                {
                    "iss": {"essential": True, "value": self.issuer},
                    "aud": {"essential": True, "value": self.client_id},
                    "sub": {"essential": True},
                },
                {
                    "nonce": nonce,
                    "client_id": self.client_id,
                    "access_token": access_token if isinstance(access_token, str) else None,
                },
            )
            claims.validate(now=int(clock.now().timestamp()), leeway=self.leeway_seconds)
        except JoseError as error:
            raise self._refused(
                session,
                "The sign-in could not be verified: the ID token "
                f"{_what_is_wrong(error)}. Start again; if it keeps happening, tell an "
                "administrator.",
                reason=f"{type(error).__name__}: {error}",
            ) from error
        return dict(claims)

    def _person(self, claims: dict[str, Any]) -> ProviderPerson:
        groups = claims.get(self.groups_claim) if self.groups_claim else None
        if groups is not None and not (
            isinstance(groups, list) and all(isinstance(g, str) for g in groups)
        ):
            logger.warning("the %r claim is not a list of names; ignored", self.groups_claim)
            groups = None
        return ProviderPerson(
            issuer=self.issuer,
            subject=str(claims["sub"]),
            email=_claim(claims, "email", 254),
            name=_claim(claims, "name", 200),
            preferred_username=_claim(claims, "preferred_username", 64),
            groups=tuple(groups) if groups is not None else None,
        )

    def _refused(self, session: Session, message: str, *, reason: str) -> SignInRefused:
        logger.warning("sign-in through %s refused: %s", self.issuer, reason)
        events.record(
            session,
            type="user.sign_in_refused",
            actor_id=None,
            data={"issuer": self.issuer, "reason": reason[:500]},
        )
        return SignInRefused(message)


def _text(document: dict[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} is missing")
    return value


def _url(document: dict[str, Any], name: str) -> str:
    value = _text(document, name)
    if not value.startswith(("https://", "http://")):
        raise ValueError(f"{name} is not an http(s) URL")
    return value


def _algorithms(document: dict[str, Any]) -> tuple[str, ...]:
    offered = document.get("id_token_signing_alg_values_supported") or ["RS256"]
    if not isinstance(offered, list):
        raise ValueError("id_token_signing_alg_values_supported is not a list")
    usable = tuple(alg for alg in offered if alg in ASYMMETRIC_ALGORITHMS)
    if not usable:
        raise ValueError("it signs ID tokens with no algorithm servicebay accepts")
    return usable


def _claim(claims: dict[str, Any], name: str, longest: int) -> str:
    value = claims.get(name)
    return value[:longest] if isinstance(value, str) else ""


def _said(error: Exception) -> str:
    return str(error) or type(error).__name__


CLAIM_WORDS = {
    "iss": "was issued by another sign-in service",
    "aud": "was issued for another application",
    "nonce": "belongs to another sign-in (its nonce does not match)",
    "azp": "was issued for another application",
    "at_hash": "does not belong to the access token it came with",
    "iat": "was issued in the future",
    "nbf": "is not valid yet",
}


def _what_is_wrong(error: JoseError) -> str:
    if isinstance(error, BadSignatureError):
        return "has a signature that does not match the sign-in service's keys"
    if isinstance(error, InvalidKeyIdError):
        return "is signed with a key the sign-in service does not publish"
    if isinstance(error, ExpiredTokenError):
        return "has expired"
    if isinstance(error, MissingClaimError):
        return f"lacks the {error.claim} claim"
    if isinstance(error, ClaimError):
        return CLAIM_WORDS.get(error.claim, f"has an invalid {error.claim} claim")
    return "cannot be read"
