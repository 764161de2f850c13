"""The greeter module: greets people with a configured greeting, signed with a secret key."""

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated

from ftl_modules import echo

import ftl


@dataclass
class GreetRequest:
    name: str


@dataclass
class GreetResponse:
    text: str
    signature: str


@ftl.verb(export=True)
def greet(
    req: GreetRequest,
    greeting: Annotated[str, ftl.Config("greeting")],
    signing_key: Annotated[str, ftl.Secret("signingKey")],
) -> GreetResponse:
    """The configured greeting plus echo's reply, with an HMAC of the text."""
    echoed = echo.echo(echo.EchoRequest(name=req.name))
    text = f"{greeting}! {echoed.message}"
    signature = hmac.new(signing_key.encode(), text.encode(), hashlib.sha256).hexdigest()
    return GreetResponse(text=text, signature=signature)
