"""What every chartguard package but ``ehr_core`` may share: a leaf (it imports none of
ours). Today: the one Toxiproxy client."""

from chartguard_common.toxiproxy import (
    ProxyState,
    ToxicState,
    ToxiproxyApiError,
    ToxiproxyClient,
)

__all__ = ["ProxyState", "ToxicState", "ToxiproxyApiError", "ToxiproxyClient"]
