"""FTL for Python: the SDK that module authors import.

    import ftl

    @ftl.verb(export=True)
    def echo(req: EchoRequest, greeting: Annotated[str, ftl.Config("greeting")]) -> EchoResponse: ...

Verbs, data types and metadata are declared in plain, typed Python; `ftl build` derives the module's
schema from them. Testing helpers live in `ftl.testing`.
"""

from ftl._sdk.builtin import CatchRequest, Empty, FailedEvent, HttpRequest, HttpResponse, Ref
from ftl._sdk.calls import CallTransport, FtlCallError, SourceClient, VerbClient, set_call_transport
from ftl._sdk.decorators import cron, enum, fixture, ingress, retry, subscribe, verb
from ftl._sdk.markers import Config, Secret
from ftl._sdk.topics import Topic, topic
from ftl._version import __version__

__all__ = [
    "CallTransport",
    "CatchRequest",
    "Config",
    "Empty",
    "FailedEvent",
    "FtlCallError",
    "HttpRequest",
    "HttpResponse",
    "Ref",
    "Secret",
    "SourceClient",
    "Topic",
    "VerbClient",
    "__version__",
    "cron",
    "enum",
    "fixture",
    "ingress",
    "retry",
    "set_call_transport",
    "subscribe",
    "topic",
    "verb",
]
