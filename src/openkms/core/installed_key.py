"""A product key as a machine keeps it once installed: its ID and partial key always, its
text until ``cpky`` clears it.

``slmgr /cpky`` removes the product key from the registry so that it cannot be read back
(malware, a disk image), while the installation stays licensed and ``/dli`` still shows the
partial product key. OpenKMS does the same with the key text in ``host.json`` and
``client.json``; whatever needs the whole key afterwards says so (:meth:`require_text`).
"""

from __future__ import annotations

from dataclasses import dataclass

from openkms.core.codes import ResultCode
from openkms.core.keys import ProductKey
from openkms.errors import KeyFormatError
from openkms.i18n import N_, _

__all__ = ["CLEARED_MESSAGE", "InstalledKey"]

# What Windows prints after /cpky.
CLEARED_MESSAGE = N_("Product key from registry cleared successfully.")


@dataclass(frozen=True, slots=True)
class InstalledKey:
    """An installed key: ``key_id`` and ``partial`` always, ``key`` None once cleared."""

    key_id: str
    partial: str
    key: ProductKey | None

    @classmethod
    def of(cls, key: ProductKey) -> InstalledKey:
        """A key installed with its text."""
        return cls(key.key_id, key.partial, key)

    @property
    def cleared(self) -> bool:
        """Whether the key's text was cleared (``cpky``)."""
        return self.key is None

    def require_text(self, needed_for: str, reinstall: str) -> ProductKey:
        """The whole key; KeyFormatError (0xC004F014) naming ``needed_for`` once cleared.

        ``reinstall`` is the command that installs it again (the fix).
        """
        if self.key is None:
            raise KeyFormatError(
                _(
                    "The product key (partial {partial}) was cleared from this machine "
                    "('cpky'): {needed_for} needs the whole key."
                ).format(partial=self.partial, needed_for=needed_for),
                code=ResultCode.NO_PRODUCT_KEY,
                fix=_(
                    "Install the same key again with '{reinstall}' (nothing else changes), "
                    "then retry."
                ).format(reinstall=reinstall),
            )
        return self.key
