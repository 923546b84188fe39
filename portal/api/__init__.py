"""The JSON API under /api/v1."""

from fastapi import APIRouter

from servicebay.portal.api import (
    account,
    analytics,
    approvals,
    audit,
    catalog,
    chat,
    demand,
    insights,
    instances,
    offerings,
    requests,
    runs,
)

router = APIRouter(prefix="/api/v1")
router.include_router(offerings.router)
router.include_router(catalog.router)
router.include_router(requests.router)
router.include_router(instances.router)
router.include_router(approvals.router)
router.include_router(runs.router)
router.include_router(analytics.router)
router.include_router(insights.router)
router.include_router(account.router)
router.include_router(audit.router)
router.include_router(demand.router)
router.include_router(chat.router)
