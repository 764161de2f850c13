import hashlib
import hmac

from ftl_modules import echo
from greeter import GreetRequest, greet

from ftl.testing import call


def test_greet_uses_config_echo_and_signs_with_the_secret() -> None:
    response = call(
        greet,
        GreetRequest(name="Ada"),
        config={"greeting": "Hi"},
        secrets={"signingKey": "k"},
        fakes={"echo.echo": lambda req: echo.EchoResponse(message=f"Hello, {req.name}!")},
    )
    assert response.text == "Hi! Hello, Ada!"
    assert response.signature == hmac.new(b"k", response.text.encode(), hashlib.sha256).hexdigest()
