"""Problems reported once (an invalid parameter value, a kind of detection failure on a day), and the
operator parameter changes the loop applied."""

from __future__ import annotations


from ..clock import now_iso
from .base import TableBase
from .codec import _key
from .conditions import AlreadyDone
from .items import _ALERT, _PARAMETER_CHANGE
from .records import ParameterChange, _parameter_change


class Alerts(TableBase):
    """Alerts once, and applied parameter changes."""

    def first_alert(self, name: str, value: str, message: str) -> bool:
        """True the first time this problem (e.g. this invalid value of this parameter) is seen."""
        try:
            self._transact([self._put(_key(_ALERT, name, value[:512] or "<empty>"),
                                      {"message": message, "at": now_iso()})])
            return True
        except AlreadyDone:
            return False

    def record_parameter_change(self, parameter: str, operation: str, value: str, schedule: str | None = None) -> None:
        change = {"parameter": parameter, "operation": operation, "value": value, "schedule": schedule}
        self._update(_key(_PARAMETER_CHANGE, now_iso()), {k: v for k, v in change.items() if v is not None})

    def parameter_changes(self) -> list[ParameterChange]:
        """Every recorded parameter change, oldest first."""
        return [_parameter_change(i) for i in self._query(_PARAMETER_CHANGE.partition)]
