"""``POST /v1/auth/token``: username and password in, a signed JWT out."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.body import parse_body
from gateway.errors import error_response
from gateway.settings import GatewaySettings
from gateway.tokens import TokenService
from gateway.users import UserStore


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    scope: str


async def issue_token(request: Request) -> Response:
    settings: GatewaySettings = request.app.state.settings
    users: UserStore = request.app.state.users
    tokens: TokenService = request.app.state.tokens
    body = await parse_body(request, TokenBody, settings.max_body_bytes)
    if isinstance(body, Response):
        return body
    user = await users.authenticate(body.username, body.password)
    if user is None:
        return error_response(401, "invalid username or password")
    response = TokenResponse(
        access_token=tokens.issue(user.username, user.scopes),
        expires_in=tokens.ttl_s,
        scope=" ".join(sorted(user.scopes)),
    )
    return JSONResponse(response.model_dump(), headers={"Cache-Control": "no-store"})
