"""``POST /v1/auth/token``: username and password in, a signed JWT out.

The attempt is charged to the client address's failure budget before bcrypt runs and
given back when the password is right, so a flood runs at most that budget of checks.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.auth_failures import AuthFailures, too_many_failures
from gateway.body import parse_body
from gateway.client_ip import client_address
from gateway.errors import error_response
from gateway.metrics import AUTH_FAILURE_REFUSALS, AUTH_FAILURES
from gateway.settings import GatewaySettings
from gateway.tokens import TokenService
from gateway.users import PasswordChecksBusy, UserStore


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
    failures: AuthFailures = request.app.state.auth_failures
    body = await parse_body(request, TokenBody, settings.max_body_bytes)
    if isinstance(body, Response):
        return body
    address = client_address(request.scope, request.app.state.trusted_proxies)
    reserved = await failures.charge(address)
    if not reserved.allowed:
        AUTH_FAILURE_REFUSALS.labels("http").inc()
        return too_many_failures(reserved)
    try:
        user = await users.authenticate(body.username, body.password)
    except PasswordChecksBusy:
        await failures.refund(address)
        return error_response(
            503, "too many sign-ins at once; retry shortly", headers={"Retry-After": "1"}
        )
    if user is None:
        AUTH_FAILURES.labels("password").inc()
        return error_response(401, "invalid username or password")
    await failures.refund(address)
    response = TokenResponse(
        access_token=tokens.issue(user.username, user.scopes),
        expires_in=tokens.ttl_s,
        scope=" ".join(sorted(user.scopes)),
    )
    return JSONResponse(response.model_dump(), headers={"Cache-Control": "no-store"})
