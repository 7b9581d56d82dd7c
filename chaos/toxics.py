"""The catalogue of toxic types a scenario may use, with their attributes and limits.

Toxiproxy's own toxics are passed through unchanged. ``packet_loss`` is chartguard's:
Toxiproxy (up to 2.12) has no packet-loss toxic, and a TCP proxy cannot drop single
segments anyway (TCP would retransmit them). What an application sees of heavy loss on a
path is connections that stall and lose everything they send, so ``packet_loss`` becomes
a ``timeout`` toxic that hits ``probability`` of the connections (times ``toxicity``):
their data is discarded, and after ``timeout`` ms (0: until the toxic is removed) they
are closed.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TOXIC_TYPES", "Attribute", "ServerToxic", "ToxicType", "to_server_toxic"]


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute of a toxic: integer unless ``is_float``; ``unit`` is for people."""

    name: str
    default: float
    unit: str
    minimum: float = 0
    maximum: float | None = None
    is_float: bool = False

    def check(self, value: object) -> str | None:
        """Return why ``value`` is not acceptable, or ``None`` when it is."""
        if self.is_float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            kind = "a number"
        else:
            ok = isinstance(value, int) and not isinstance(value, bool)
            kind = "an integer"
        bounds = f">= {self.minimum:g}"
        if self.maximum is not None:
            bounds += f" and <= {self.maximum:g}"
        if not ok:
            return f"must be {kind} {bounds}"
        assert isinstance(value, int | float)
        if value < self.minimum or (self.maximum is not None and value > self.maximum):
            return f"must be {kind} {bounds}"
        return None


@dataclass(frozen=True, slots=True)
class ToxicType:
    name: str
    summary: str
    attributes: tuple[Attribute, ...]

    def attribute(self, name: str) -> Attribute | None:
        return next((a for a in self.attributes if a.name == name), None)


def _types(*types: ToxicType) -> dict[str, ToxicType]:
    return {t.name: t for t in types}


TOXIC_TYPES: dict[str, ToxicType] = _types(
    ToxicType(
        "latency",
        "delays all data by latency +/- jitter",
        (Attribute("latency", 0, "ms"), Attribute("jitter", 0, "ms")),
    ),
    ToxicType("bandwidth", "caps throughput", (Attribute("rate", 0, "KB/s"),)),
    ToxicType("slow_close", "delays the TCP close", (Attribute("delay", 0, "ms"),)),
    ToxicType(
        "timeout",
        "stops all data and closes after timeout (0: never)",
        (Attribute("timeout", 0, "ms"),),
    ),
    ToxicType(
        "reset_peer",
        "resets the connection (RST) after timeout",
        (Attribute("timeout", 0, "ms"),),
    ),
    ToxicType(
        "slicer",
        "slices data into small delayed chunks",
        (
            Attribute("average_size", 1, "bytes"),
            Attribute("size_variation", 0, "bytes"),
            Attribute("delay", 0, "us"),
        ),
    ),
    ToxicType(
        "limit_data",
        "closes the connection after bytes transmitted",
        (Attribute("bytes", 0, "bytes"),),
    ),
    ToxicType(
        "packet_loss",
        "a share of connections stalls and loses its data (emulated with timeout)",
        (
            Attribute("probability", 0.1, "share", maximum=1, is_float=True),
            Attribute("timeout", 0, "ms"),
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class ServerToxic:
    """A toxic in the form Toxiproxy's API takes it."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, int]

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": dict(self.attributes),
        }


def to_server_toxic(
    *, name: str, type: str, stream: str, toxicity: float, attributes: dict[str, float]
) -> ServerToxic:
    """Translate a validated scenario toxic into the toxic Toxiproxy runs.

    Missing attributes take the catalogue default; ``packet_loss`` is rewritten as above.
    """
    spec = TOXIC_TYPES[type]
    values = {a.name: attributes.get(a.name, a.default) for a in spec.attributes}
    if type == "packet_loss":
        return ServerToxic(
            name=name,
            type="timeout",
            stream=stream,
            toxicity=round(toxicity * float(values["probability"]), 6),
            attributes={"timeout": int(values["timeout"])},
        )
    return ServerToxic(
        name=name,
        type=type,
        stream=stream,
        toxicity=toxicity,
        attributes={k: int(v) for k, v in values.items()},
    )
