"""What every chartguard package but ``ehr_core`` may share: a leaf (it imports none of
ours). Today: the one Toxiproxy client and the Prometheus file-discovery listing."""

from chartguard_common.scrape import ScrapeListing, scrape_dir
from chartguard_common.toxiproxy import (
    ProxyState,
    ToxicState,
    ToxiproxyApiError,
    ToxiproxyClient,
)

__all__ = [
    "ProxyState",
    "ScrapeListing",
    "ToxicState",
    "ToxiproxyApiError",
    "ToxiproxyClient",
    "scrape_dir",
]
