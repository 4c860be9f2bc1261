"""`contacts_of` reads payload text with orjson where it can: the contacts must be exactly
what ``json.loads`` gives, for every string the canonical JSON can hold."""

from __future__ import annotations

import json
import random

from bc2people.pipelines.contact_removals import contacts_of
from bc2people.pipelines.core.hashing import canonical_json

ODD = ["", "Ä@example.com", "a\u0000b@x.io", "tab\there@x.io", 'quote"back\\slash@x.io', "\u2028\u2029@x.io",
       "😀@example.com", "\ud800lone@x.io", "MiXeD@Example.COM", "+4915112345678", "\x7f@x.io", "漢字@例え.jp"]


def _payload(rng: random.Random) -> dict[str, object]:
    def text() -> str:
        if rng.random() < 0.5:
            return rng.choice(ODD)
        return "".join(chr(rng.choice([rng.randrange(0x20, 0x7f), rng.randrange(0, 0x20), rng.randrange(0xa0, 0xd7ff),
                                       rng.randrange(0xe000, 0x10ffff)])) for _ in range(rng.randrange(1, 12)))

    contacts = [{"type": rng.choice(["EMAIL", "PHONE", "OTHER"]), "identifier": text()} for _ in range(rng.randrange(4))]
    return {"externalId": text(), "contactInformation": contacts, "customAttributes": {
        "big": 2**70, "f": rng.random() * 10 ** rng.randrange(-8, 20), "n": None, "s": text()}}


def test_contacts_from_text_equal_json_loads() -> None:
    rng = random.Random(16)
    for _ in range(3000):
        payload = _payload(rng)
        text = canonical_json(payload)
        assert contacts_of(text) == contacts_of(json.loads(text)) == contacts_of(payload)
    # escaped forms (a surrogate pair, a lone surrogate, control characters) read the same too
    escaped = json.dumps({"contactInformation": [{"type": "EMAIL", "identifier": "😀\ud800\u0001@x.io"}]})
    assert contacts_of(escaped) == {("EMAIL", "😀\ud800\u0001@x.io"): "😀\ud800\u0001@x.io"}
