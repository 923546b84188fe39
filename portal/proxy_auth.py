"""Sign-in by trusted reverse-proxy headers, as set by oauth2-proxy and similar."""

from __future__ import annotations

import ipaddress
import re

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from servicebay.core import events, identity
from servicebay.core.identity import Role, Team, User
from servicebay.core.settings import Settings


def from_trusted_proxy(request: Request, settings: Settings) -> bool:
    if not settings.proxy_auth or request.client is None:
        return False
    try:
        address = ipaddress.ip_address(request.client.host)
    except ValueError:
        return False
    return any(
        address in ipaddress.ip_network(network, strict=False)
        for network in settings.trusted_proxies
    )


def proxy_user(request: Request, session: Session, settings: Settings) -> User | None:
    """The user the proxy vouches for, created on first sight; None without the header.

    Headers from any address that is not a configured proxy are ignored.
    """
    if not from_trusted_proxy(request, settings):
        return None
    username = request.headers.get(settings.proxy_user_header, "").strip()
    if not username:
        return None
    username = re.sub(r"[^A-Za-z0-9._@-]", "-", username)[:64]
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        user = identity.create_user(
            session,
            username=username,
            password=None,
            email=request.headers.get(settings.proxy_email_header, "").strip(),
        )
        events.record(
            session, type="user.created_by_proxy", actor_id=user.id, data={"user": username}
        )
    if settings.proxy_groups_header:
        groups = request.headers.get(settings.proxy_groups_header, "")
        _sync_memberships(session, user, {g.strip() for g in groups.split(",") if g.strip()})
    return user if user.is_active else None


def _sync_memberships(session: Session, user: User, groups: set[str]) -> None:
    """Membership follows the groups header: a group named like a team's slug joins it."""
    teams = {t.slug: t for t in session.scalars(select(Team).where(Team.slug.in_(groups)))}
    current = {m.team.slug: m for m in user.memberships}
    for slug, team in teams.items():
        if slug not in current:
            identity.add_member(session, user=user, team=team, role=Role.MEMBER)
    for slug, membership in current.items():
        if slug not in teams:
            user.memberships.remove(membership)  # delete-orphan removes the row
    session.flush()
