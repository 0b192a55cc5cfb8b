"""Web pages for commissions, inspectors and admins, served under /ui: `mount_web(app)`."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse


def mount_web(app: FastAPI) -> None:
    """Add the pages, their static files, HTML error pages and the cookie session to `app`.

    Call after the API's routers and error handlers are installed.
    """
    from fastapi.staticfiles import StaticFiles

    from serving.api.deps import public
    from serving.web.errors import install_page_errors
    from serving.web.i18n import load_catalogues
    from serving.web.render import STATIC_DIR, STATIC_URL, environment
    from serving.web.routes import NAV, ROUTERS
    from serving.web.session import PREFIX, CookieAuth

    load_catalogues()  # a broken catalogue stops start-up, not a page view
    environment().globals["nav_items"] = NAV
    for router in ROUTERS:
        app.include_router(router)
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="web-static")

    async def to_pages() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    app.add_api_route("/", to_pages, include_in_schema=False, **public())
    install_page_errors(app)
    app.add_middleware(CookieAuth)
