"""Chatlens Python SDK: send an AI agent's conversations to a Chatlens server.

    from chatlens_client import Client

    with Client(secret_key="ags_...", endpoint="https://chatlens.example.com") as chatlens:
        chatlens.get_or_create_conversation("conv-42", customer_id="c-7")
        chatlens.track_question("Where is my order?")
        chatlens.track_answer("It ships tomorrow.")

Everything public is importable from here; modules starting with `_` are private.
"""

import logging as _logging

from chatlens_client._ledger import DeliveryStats
from chatlens_client._tracking import Attachment, AttachmentSender, Device, Environment, Sender
from chatlens_client._uuid7 import uuid7
from chatlens_client._version import __version__
from chatlens_client.async_client import AsyncClient
from chatlens_client.client import Client
from chatlens_client.errors import (
    ChatlensAPIError,
    ChatlensError,
    ClientClosedError,
    ConfigurationError,
    DeliveryError,
    FlushTimeoutError,
    InvalidEventError,
    InvalidEventTypeError,
    NoConversationError,
    QueueFullError,
    RejectedEvent,
)

# A library logs but does not decide where logs go: retries and rejections are logged to
# "chatlens_client" (configure logging to see them) and always reported via `errors`.
_logging.getLogger("chatlens_client").addHandler(_logging.NullHandler())

__all__ = [
    "AsyncClient",
    "Attachment",
    "AttachmentSender",
    "ChatlensAPIError",
    "ChatlensError",
    "Client",
    "ClientClosedError",
    "ConfigurationError",
    "DeliveryError",
    "DeliveryStats",
    "Device",
    "Environment",
    "FlushTimeoutError",
    "InvalidEventError",
    "InvalidEventTypeError",
    "NoConversationError",
    "QueueFullError",
    "RejectedEvent",
    "Sender",
    "__version__",
    "uuid7",
]
