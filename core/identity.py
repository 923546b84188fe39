"""People and teams: users, teams, memberships, sessions and personal API tokens."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, joinedload, mapped_column, relationship, selectinload

from servicebay.core import clock, events, policies
from servicebay.core.database import Base, UTCDateTime
from servicebay.core.errors import Conflict, Denied, Invalid, NotFound

_hasher = PasswordHasher()
TOKEN_PREFIX = "sb_"
SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
USERNAME_PATTERN = re.compile(r"[A-Za-z0-9._@-]{2,64}")


class IdentityError(Exception):
    """Base of every identity error; the message says what."""


class IdentityInvalid(IdentityError, Invalid):
    """Bad input to an identity operation: a malformed name, a short password, an unknown
    scope, an expiry in the past."""


class IdentityConflict(IdentityError, Conflict):
    """The team or user exists already."""


class TeamNotFound(IdentityError, NotFound):
    pass


class UserNotFound(IdentityError, NotFound):
    pass


class TokenNotFound(IdentityError, NotFound):
    """No such token among the user's own (another user's token is not found either)."""


class ScopeDenied(IdentityError, Denied):
    """The user may not hold a token with these scopes."""


class Role(StrEnum):
    MEMBER = "member"
    LEAD = "lead"


class Team(Base):
    __tablename__ = "core_team"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The IANA zone whose days the team's insights count; None: the organisation's
    # (SERVICEBAY_REPORTING_TIMEZONE).
    reporting_timezone: Mapped[str | None] = mapped_column(String(64), default=None)


class User(Base):
    __tablename__ = "core_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(default=False)
    is_analyst: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", lazy="selectin", cascade="all, delete-orphan"
    )

    def role_in(self, team_id: int) -> Role | None:
        for membership in self.memberships:
            if membership.team_id == team_id:
                return Role(membership.role)
        return None

    @property
    def team_ids(self) -> list[int]:
        return [membership.team_id for membership in self.memberships]


class Membership(Base):
    __tablename__ = "core_membership"
    __table_args__ = (UniqueConstraint("user_id", "team_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))
    team_id: Mapped[int] = mapped_column(ForeignKey("core_team.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))

    user: Mapped[User] = relationship(back_populates="memberships")
    team: Mapped[Team] = relationship(lazy="joined")


class ApiToken(Base):
    __tablename__ = "core_api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UserSession(Base):
    """A browser sign-in. The cookie holds a random key; only its hash is stored."""

    __tablename__ = "core_user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The identity provider's ID token of a sign-in through it, kept until sign-out to
    # name the session when asking the provider to end its own (id_token_hint).
    provider_id_token: Mapped[str | None] = mapped_column(Text)


class ExternalIdentity(Base):
    """A person as an identity provider knows them: its issuer and their subject (``sub``),
    which never changes and is never reused, unlike a name or an e-mail address."""

    __tablename__ = "core_external_identity"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


def hash_secret(value: str) -> str:
    """Hash of a high-entropy random value (tokens, session keys)."""
    return hashlib.sha256(value.encode()).hexdigest()


# --- teams and users -------------------------------------------------------


def create_team(session: Session, *, slug: str, name: str, actor_id: int | None = None) -> Team:
    if not SLUG_PATTERN.match(slug):
        raise IdentityInvalid(f"team slug {slug!r} must be lowercase letters, digits and dashes")
    if session.scalar(select(Team).where(Team.slug == slug)):
        raise IdentityConflict(f"team {slug!r} already exists")
    team = Team(slug=slug, name=name, created_at=clock.now())
    session.add(team)
    session.flush()
    events.record(session, type="team.created", actor_id=actor_id, data={"team": slug})
    return team


def get_team(session: Session, *, slug: str) -> Team:
    team = session.scalar(select(Team).where(Team.slug == slug))
    if team is None:
        raise TeamNotFound(f"no team {slug!r}")
    return team


def set_reporting_timezone(
    session: Session, *, slug: str, zone: str | None, actor_id: int | None = None
) -> Team:
    """Make the team's insights count the days of ``zone`` (an IANA name); None or ""
    goes back to the organisation's (SERVICEBAY_REPORTING_TIMEZONE)."""
    team = get_team(session, slug=slug)
    zone = (zone or "").strip() or None
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise IdentityInvalid(
                f"no time zone {zone!r} (an IANA name such as Europe/Rome)"
            ) from None
    team.reporting_timezone = zone
    events.record(
        session,
        type="team.reporting_timezone_set",
        actor_id=actor_id,
        data={"team": slug, "timezone": zone},
    )
    return team


def has_teams(session: Session) -> bool:
    return session.scalar(select(Team.id).limit(1)) is not None


@dataclass(frozen=True)
class TeamListing:
    team: Team
    leads: list[User]
    members: list[User]  # without the leads


@dataclass(frozen=True)
class Directory:
    teams: list[TeamListing]
    people: list[User]


def directory(session: Session, *, viewer: User) -> Directory:
    """Every team with its leads and members, and every person with their teams, by name:
    for administrators."""
    policies.require_directory_reader(viewer)
    people = list(
        session.scalars(
            select(User).options(selectinload(User.memberships)).order_by(User.username)
        )
    )
    leads: dict[int, list[User]] = {}
    members: dict[int, list[User]] = {}
    for person in people:
        for membership in person.memberships:
            chosen = leads if membership.role == Role.LEAD.value else members
            chosen.setdefault(membership.team_id, []).append(person)
    teams = session.scalars(select(Team).order_by(Team.name, Team.id))
    return Directory(
        teams=[TeamListing(t, leads.get(t.id, []), members.get(t.id, [])) for t in teams],
        people=people,
    )


def create_user(
    session: Session,
    *,
    username: str,
    password: str | None,
    email: str = "",
    display_name: str = "",
    is_admin: bool = False,
    is_analyst: bool = False,
    actor_id: int | None = None,
) -> User:
    if not is_username(username):
        raise IdentityInvalid(f"username {username!r} must be 2-64 letters, digits, . _ @ or -")
    if session.scalar(select(User).where(User.username == username)):
        raise IdentityConflict(f"user {username!r} already exists")
    if password is not None and len(password) < 8:
        raise IdentityInvalid("password must have at least 8 characters")
    user = User(
        username=username,
        email=email,
        display_name=display_name or username,
        password_hash=_hasher.hash(password) if password else None,
        is_admin=is_admin,
        is_analyst=is_analyst,
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    events.record(session, type="user.created", actor_id=actor_id, data={"user": username})
    return user


def set_password(
    session: Session, *, user: User, password: str, actor_id: int | None = None
) -> None:
    """Give ``user`` a new password; a lockout from earlier failures ends with it."""
    if len(password) < 8:
        raise IdentityInvalid("password must have at least 8 characters")
    user.password_hash = _hasher.hash(password)
    user.failed_logins = 0
    user.locked_until = None
    events.record(
        session, type="user.password_set", actor_id=actor_id, data={"user": user.username}
    )


def get_user(session: Session, *, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise UserNotFound(f"no user {username!r}")
    return user


def is_username(name: str) -> bool:
    """Whether ``name`` can be a user name exactly as it is."""
    return USERNAME_PATTERN.fullmatch(name) is not None


def find_user(session: Session, *, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def user_from_proxy(session: Session, *, username: str, email: str) -> User:
    """The user a trusted sign-in proxy names, created the first time it does."""
    user = find_user(session, username=username)
    if user is None:
        user = create_user(session, username=username, password=None, email=email)
        events.record(
            session, type="user.created_by_proxy", actor_id=user.id, data={"user": username}
        )
    return user


def follow_groups(session: Session, *, user: User, team_slugs: set[str]) -> None:
    """Membership follows the proxy's groups: a group named like a team's slug joins it,
    and leaving the group leaves the team."""
    teams = {t.slug: t for t in session.scalars(select(Team).where(Team.slug.in_(team_slugs)))}
    current = {m.team.slug: m for m in user.memberships}
    for slug, team in teams.items():
        if slug not in current:
            add_member(session, user=user, team=team, role=Role.MEMBER)
    for slug, membership in current.items():
        if slug not in teams:
            user.memberships.remove(membership)  # delete-orphan removes the row
    session.flush()


@dataclass(frozen=True)
class ProviderPerson:
    """What an identity provider's verified ID token says about the person signing in."""

    issuer: str
    subject: str
    email: str = ""
    name: str = ""
    preferred_username: str = ""
    groups: tuple[str, ...] | None = None  # None: the token does not say


@dataclass(frozen=True)
class GroupRules:
    """How a provider's groups become team memberships: ``team_map`` names a team (and
    ``:lead``) for a group; any other group named like a team's slug makes a member, and
    one named like the slug followed by ``lead_suffix`` makes a lead. With ``admin_groups``
    the groups also decide who is an administrator."""

    team_map: dict[str, str]
    lead_suffix: str = "-leads"
    admin_groups: frozenset[str] = frozenset()
    """When set, being in one of these groups is what makes someone an administrator."""

    def roles(self, groups: tuple[str, ...]) -> dict[str, Role]:
        wanted: dict[str, Role] = {}

        def want(slug: str, role: Role) -> None:
            if wanted.get(slug) is not Role.LEAD:
                wanted[slug] = role

        for group in groups:
            if group in self.team_map:
                slug, _, role = self.team_map[group].partition(":")
                want(slug, Role.LEAD if role == "lead" else Role.MEMBER)
            elif self.lead_suffix and group.endswith(self.lead_suffix):
                want(group.removesuffix(self.lead_suffix), Role.LEAD)
            else:
                want(group, Role.MEMBER)
        return wanted


class AccountDeactivated(IdentityError, Denied):
    """The person's account exists but is switched off."""


def user_from_provider(
    session: Session, *, person: ProviderPerson, rules: GroupRules | None = None
) -> User:
    """The user an identity provider vouches for, found by issuer and subject and created
    the first time; name and e-mail follow the provider, and with ``rules`` so do team
    memberships and the lead role (when the token lists groups at all).

    An existing account is never taken over by a matching name or e-mail address: only
    the (issuer, subject) link says who someone is.
    """
    now = clock.now()
    link = _link_of(session, person)
    if link is None:
        try:
            # Two first sign-ins of one person at once: one makes the account, the other
            # finds it made (the link's unique key decides) and carries on as a later one.
            with session.begin_nested():
                user = create_user(
                    session,
                    username=_free_username(session, person),
                    password=None,
                    email=person.email,
                    display_name=person.name,
                )
                session.add(
                    ExternalIdentity(
                        user_id=user.id,
                        issuer=person.issuer,
                        subject=person.subject,
                        created_at=now,
                        last_seen_at=now,
                    )
                )
                session.flush()
        except IntegrityError:
            link = _link_of(session, person)
            if link is None:
                raise
        else:
            events.record(
                session,
                type="user.created_by_provider",
                actor_id=user.id,
                data={"user": user.username, "issuer": person.issuer},
            )
    if link is not None:
        user = session.get_one(User, link.user_id)
        link.last_seen_at = now
        if person.email:
            user.email = person.email
        if person.name:
            user.display_name = person.name
    if not user.is_active:
        raise AccountDeactivated("this account is switched off; ask an administrator")
    if rules is not None and person.groups is not None:
        set_memberships(session, user=user, roles=rules.roles(person.groups))
        if rules.admin_groups:
            _follow_admin_groups(
                session, user=user, admin=bool(rules.admin_groups & set(person.groups))
            )
    session.flush()
    return user


def _link_of(session: Session, person: ProviderPerson) -> ExternalIdentity | None:
    return session.scalar(
        select(ExternalIdentity).where(
            ExternalIdentity.issuer == person.issuer, ExternalIdentity.subject == person.subject
        )
    )


def _follow_admin_groups(session: Session, *, user: User, admin: bool) -> None:
    if user.is_admin != admin:
        user.is_admin = admin
        events.record(
            session,
            type="user.admin_granted" if admin else "user.admin_revoked",
            actor_id=None,
            data={"user": user.username, "by": "identity provider groups"},
        )


def _free_username(session: Session, person: ProviderPerson) -> str:
    """A name for a new account: the provider's user name or e-mail address when free,
    else one made from them (the account is found by its link, never by this name)."""
    for candidate in (person.preferred_username, person.email):
        if candidate and is_username(candidate) and find_user(session, username=candidate) is None:
            return candidate
    seed = person.preferred_username or person.email.partition("@")[0] or "user"
    base = re.sub(r"[^A-Za-z0-9._@-]", "-", seed)[:50].strip("-") or "user"
    digest = hashlib.sha256(f"{person.issuer} {person.subject}".encode()).hexdigest()
    for length in (6, 12, 64):
        candidate = f"{base}-{digest[:length]}"[:64]
        if find_user(session, username=candidate) is None:
            return candidate
    raise IdentityConflict("no free user name for this person")  # a sha256 collision


def set_memberships(session: Session, *, user: User, roles: dict[str, Role]) -> None:
    """Make the user's teams and roles exactly ``roles`` (by team slug); slugs that name
    no team are ignored, and teams left out are left."""
    teams = {t.slug: t for t in session.scalars(select(Team).where(Team.slug.in_(roles)))}
    current = {m.team.slug: m for m in user.memberships}
    for slug, team in teams.items():
        membership = current.get(slug)
        if membership is None:
            add_member(session, user=user, team=team, role=roles[slug])
        elif membership.role != roles[slug].value:
            membership.role = roles[slug].value
    for slug, membership in current.items():
        if slug not in teams:
            user.memberships.remove(membership)  # delete-orphan removes the row
    session.flush()


def add_member(session: Session, *, user: User, team: Team, role: Role = Role.MEMBER) -> Membership:
    existing = session.scalar(
        select(Membership).where(Membership.user_id == user.id, Membership.team_id == team.id)
    )
    if existing:
        existing.role = role.value
        return existing
    membership = Membership(user=user, team=team, role=role.value)
    session.add(membership)
    session.flush()
    return membership


LOCKOUT_AFTER = 5
LOCKOUT_FOR = timedelta(minutes=15)


def authenticate(
    session: Session, *, username: str, password: str, admins_only: bool = False
) -> User | None:
    """The user if the password matches; None for any kind of mismatch.

    After LOCKOUT_AFTER failures in a row the account refuses every password for
    LOCKOUT_FOR, so guessing is slow even across many addresses. With ``admins_only``
    (local sign-in kept for administrators) anyone else is refused the same way, so the
    answer does not tell whether the password was right.
    """
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.is_active or not user.password_hash:
        # Spend the same time as a real check so timing does not reveal usernames.
        _burn(password)
        return None
    now = clock.now()
    if user.locked_until is not None and user.locked_until > now:
        _burn(password)
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        user.failed_logins += 1
        if user.failed_logins >= LOCKOUT_AFTER:
            user.locked_until = now + LOCKOUT_FOR
            user.failed_logins = 0
            events.record(
                session, type="user.locked_out", actor_id=None, data={"user": user.username}
            )
        return None
    user.failed_logins = 0
    user.locked_until = None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    if admins_only and not user.is_admin:
        return None
    return user


@functools.cache
def _dummy_hash() -> str:
    # Made on first use, not at import: every process start would pay for it.
    return _hasher.hash("not-a-real-password")


def _burn(password: str) -> None:
    with contextlib.suppress(VerificationError):
        _hasher.verify(_dummy_hash(), password)


# --- browser sessions ------------------------------------------------------


def start_session(session: Session, *, user: User, provider_id_token: str | None = None) -> str:
    key = secrets.token_urlsafe(32)
    now = clock.now()
    session.add(
        UserSession(
            key_hash=hash_secret(key),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            provider_id_token=provider_id_token,
        )
    )
    events.record(
        session,
        type="user.signed_in",
        actor_id=user.id,
        data={"via": "provider"} if provider_id_token else None,
    )
    return key


def user_for_session(
    session: Session, *, key: str, idle: timedelta, absolute: timedelta
) -> User | None:
    # The session, its user and the user's teams in one query: every page asks this.
    found = (
        session.execute(
            select(UserSession, User)
            .join(User, User.id == UserSession.user_id)
            .where(UserSession.key_hash == hash_secret(key))
            .options(joinedload(User.memberships))
        )
        .unique()
        .one_or_none()
    )
    if found is None:
        return None
    row, user = found
    if row.ended_at is not None:
        return None
    now = clock.now()
    if now - row.last_seen_at > idle or now - row.created_at > absolute:
        return None
    if now - row.last_seen_at > timedelta(minutes=1):
        row.last_seen_at = now
    return user if user.is_active else None


def end_session(session: Session, *, key: str) -> str | None:
    """End the browser session; the identity provider's ID token when it began there
    (to end the provider's session as well), else None."""
    row = session.scalar(select(UserSession).where(UserSession.key_hash == hash_secret(key)))
    if row is None or row.ended_at is not None:
        return None
    row.ended_at = clock.now()
    id_token, row.provider_id_token = row.provider_id_token, None
    events.record(session, type="user.signed_out", actor_id=row.user_id)
    return id_token


# --- API tokens ------------------------------------------------------------

SCOPES = ("read", "request", "ops", "admin")


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    value: str


def create_token(
    session: Session,
    *,
    user: User,
    name: str,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
    expires_in_days: int | None = None,
    granted_by: list[str] | None = None,
) -> IssuedToken:
    """A new personal API token. It never grants more than its user has (the admin scope
    is for admins), nor, when a token asks for it (``granted_by`` its scopes), more than
    that token has; a browser session (None) grants anything its user holds."""
    scopes = scopes or ["read", "request"]
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise IdentityInvalid(f"unknown scope(s): {', '.join(unknown)}")
    wider = policies.scopes_beyond(granted_by, scopes)
    if wider:
        raise ScopeDenied(f"this token cannot grant scope(s) it lacks: {', '.join(wider)}")
    if not policies.can_hold_scopes(user, scopes):
        raise ScopeDenied("only administrators may create tokens with the admin scope")
    if expires_in_days is not None:
        if expires_in_days < 1:
            raise IdentityInvalid("the expiry is a whole number of days, at least one")
        expires_at = clock.now() + timedelta(days=expires_in_days)
    if expires_at is not None and expires_at <= clock.now():
        raise IdentityInvalid("the expiry must lie in the future")
    value = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=hash_secret(value),
        scopes=scopes,
        created_at=clock.now(),
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    events.record(
        session, type="token.created", actor_id=user.id, data={"name": name, "scopes": scopes}
    )
    return IssuedToken(token=token, value=value)


def tokens_of(session: Session, *, user: User) -> list[ApiToken]:
    statement = select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
    return list(session.scalars(statement))


def revoke_token(session: Session, *, user: User, token_id: int) -> ApiToken:
    """Revoke one of the user's own tokens (revoking twice changes nothing)."""
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise TokenNotFound(f"no token {token_id}")
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        events.record(session, type="token.revoked", actor_id=user.id, data={"name": token.name})
    return token


def require_scope(scopes: list[str] | None, scope: str) -> None:
    """The one check of a token's scopes, for the API and the agent tools alike."""
    missing = policies.missing_scope(scopes, scope)
    if missing is not None:
        raise ScopeDenied(missing)


def user_for_token(session: Session, *, value: str) -> tuple[User, ApiToken] | None:
    if not value.startswith(TOKEN_PREFIX):
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_secret(value)))
    if token is None or not hmac.compare_digest(token.token_hash, hash_secret(value)):
        return None
    now = clock.now()
    if token.revoked_at is not None or (token.expires_at is not None and token.expires_at < now):
        return None
    user = session.get(User, token.user_id)
    if user is None or not user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        token.last_used_at = now
    return user, token
