"""`ftl.Config` and `ftl.Secret`: markers that inject values into verb parameters.

Used inside `Annotated`, FastAPI-style, so a verb stays a plain function:

    def greet(req: GreetRequest, greeting: Annotated[str, ftl.Config("greeting")]) -> GreetResponse
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ftl.names import lower_camel


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


def injections_of(func: Callable[..., Any]) -> dict[str, Injection]:
    """Parameter name -> the config or secret injected into it (by its declared name)."""
    hints = typing.get_type_hints(inspect.unwrap(func), include_extras=True)
    found: dict[str, Injection] = {}
    for parameter, hint in hints.items():
        if typing.get_origin(hint) is not typing.Annotated:
            continue
        marker = next((m for m in hint.__metadata__ if isinstance(m, Config | Secret)), None)
        if marker is not None:
            name = marker.name or lower_camel(parameter)
            found[parameter] = Config(name) if isinstance(marker, Config) else Secret(name)
    return found
