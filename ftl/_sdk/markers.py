"""`ftl.Config` and `ftl.Secret`: markers that inject values into verb parameters.

Used inside `Annotated`, FastAPI-style, so a verb stays a plain function:

    def greet(req: GreetRequest, greeting: Annotated[str, ftl.Config("greeting")]) -> GreetResponse
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Config:
    """Inject the module config value `name` (declares `config name T` and `+config` on the verb).

    Without a name, the parameter's name in lowerCamel is used.
    """

    name: str = ""


@dataclass(frozen=True, slots=True)
class Secret:
    """Inject the module secret `name` (declares `secret name T` and `+secrets` on the verb).

    Without a name, the parameter's name in lowerCamel is used.
    """

    name: str = ""


Injection = Config | Secret
