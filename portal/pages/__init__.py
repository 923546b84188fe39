"""HTML pages: the caller is known by sign-in only (never a bearer token), every
state-changing form is CSRF-checked and acts once per form token, and every page knows
its unread count and the tabs its reader can use."""

from fastapi import APIRouter, Depends

from servicebay.portal.deps import page_caller
from servicebay.portal.form_tokens import once_per_form
from servicebay.portal.pages import (
    account,
    admin,
    approvals,
    auth,
    catalog,
    demand,
    insights,
    instances,
    notifications,
    ops,
    ops_board,
    requests,
)

router = APIRouter(
    dependencies=[
        Depends(page_caller),
        Depends(once_per_form, scope="function"),  # the CSRF check first, always
    ],
    include_in_schema=False,
)
router.include_router(auth.router)
router.include_router(catalog.router)
router.include_router(demand.router)
router.include_router(requests.router)
router.include_router(instances.router)
router.include_router(approvals.router)
router.include_router(ops_board.router)
router.include_router(notifications.router)
router.include_router(insights.router)
router.include_router(account.router)
router.include_router(ops.router)
router.include_router(admin.router)
