"""The JSON API under /api/v1."""

from fastapi import APIRouter

from servicebay.portal.api import analytics, demand, offerings, requests

router = APIRouter(prefix="/api/v1")
router.include_router(offerings.router)
router.include_router(requests.router)
router.include_router(analytics.router)
router.include_router(demand.router)
