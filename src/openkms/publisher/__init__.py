"""Publisher tools: root key, catalog, setup keys, host keys and offline host activation."""

from openkms.publisher.publisher import Publisher

__all__ = ["Publisher"]
