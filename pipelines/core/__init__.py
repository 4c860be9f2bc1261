"""The sync core: plan → diff → deliver → ledger on (target, key) pairs.

It knows neither API: the wiring in `pipelines` tells it where the staged records are and how
to read them (`StagedEntity`), how a record becomes a payload (`SyncSpec.map_record`), and how a
target receives payloads through dlt (`Delivery`). A test keeps it that way.
"""

from .deliver import Delivery, DeliveryIncomplete, Outcome, deliver, resume_pending
from .hashing import canonical_json, payload_hash
from .ledger import Ledger, ensure_ledger, finish_run, start_run
from .model import Derived, Mapped, Selected, StagedEntity, SyncSpec
from .plan import field_diff, select_and_diff

__all__ = [
    "Delivery", "DeliveryIncomplete", "Derived", "Ledger", "Mapped", "Outcome", "Selected", "StagedEntity",
    "SyncSpec", "canonical_json", "deliver", "ensure_ledger", "field_diff", "finish_run", "payload_hash",
    "resume_pending", "select_and_diff", "start_run",
]
