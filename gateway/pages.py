"""The web chat page, its assets, and the knowledge-base documents its source links open."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.staticfiles import StaticFiles

from gateway.errors import error_response
from gateway.settings import GatewaySettings

STATIC_DIR = Path(__file__).parent / "static"
_DOC_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws: wss:; "
    "style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

static_files = StaticFiles(directory=STATIC_DIR)


async def chat_page(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html", headers=_SECURITY_HEADERS)


async def knowledge_document(request: Request) -> Response:
    """A knowledge-base document as Markdown; these are the public facts answers cite."""
    settings: GatewaySettings = request.app.state.settings
    doc_id = request.path_params["doc_id"]
    if not _DOC_ID.match(doc_id):
        return error_response(404, "no such document")
    matches = sorted(settings.knowledge_path.rglob(f"{doc_id}.md"))
    if not matches:
        return error_response(404, f"no document {doc_id!r}")
    return PlainTextResponse(
        matches[0].read_text(encoding="utf-8"),
        media_type="text/markdown; charset=utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )
