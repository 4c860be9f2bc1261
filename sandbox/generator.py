"""Deterministic BigCommerce v3 test customers: realistic, varied, and sometimes hostile.

``generate_customers(n, seed)`` depends only on its arguments (``now=None`` means the fixed
`REFERENCE_NOW`, 2026-01-01T00:00:00Z, not the wall clock), so a seed reproduces a store.
It is built for speed (100k customers in ~3 s on a busy 2-core machine): pools are prepared once and
each customer costs a handful of draws.

What the data holds, on purpose:
- unicode names (accents, CJK, Cyrillic, Greek, Arabic and Hebrew RTL, Devanagari), and ~3%
  names containing characters People forbids (``& < > " / \\ : ( ) { } = ; #``);
- ``""`` where the API returns empty strings (company, phone, notes, address2, ...);
- ``channel_ids`` ``null`` (global login) or a list;
- phones in local formats of US, UK, DE, FR, BR, IN, HR, plus E.164 and some invalid ones;
- emails unique case-insensitively, some in mixed or upper case, some near-duplicates of
  another customer's address (same local part on another domain, or a ``+tag``);
- 0–10 addresses (mostly 0–2), attributes, form fields (``newsletter`` consent and others),
  store credit, customer groups, beta ``shopper_profile_id``/``segment_ids``;
- ``date_created`` rising with id over ~6 years, with bulk imports where hundreds of
  customers share one second; ``date_modified`` equal to ``date_created`` for many and
  spread after it for the rest, again with shared seconds (bulk updates).
"""

from __future__ import annotations

import gc
import random
import uuid
from datetime import UTC, datetime
from typing import Any

REFERENCE_NOW = 1767225600  # 2026-01-01T00:00:00Z
YEARS = 6

FIRST = ["James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William", "Elizabeth", "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen", "Emma", "Olivia", "Noah", "Liam", "Sophia", "Ava", "Mia", "Lucas", "Ethan", "Isabella", "Jürgen", "Müller-Lüdenscheidt", "Zoë", "Chloé", "Éloïse", "François", "Renée", "Léa", "Amélie", "Björn", "Søren", "Åsa", "Ångström", "João", "Conceição", "Gonçalo", "Mário", "Inês", "Ñoño", "Begoña", "Iñaki", "José", "María", "Łukasz", "Wojciech", "Zofia", "Ștefan", "Ioana", "Şükrü", "Ayşe", "Ğül", "Nguyễn", "Thị", "Đức", "Анна", "Дмитрий", "Ольга", "Σοφία", "Γιώργος", "王", "李", "张伟", "陈静", "さくら", "健太", "محمد", "فاطمة", "יוסף", "שרה", "अनन्या", "राहुल", "Priya", "Arjun", "Siobhán", "Seán", "Niamh", "Tomás", "Ana", "Ivan", "Marija", "Željko", "Dženan"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker", "Hall", "Young", "O'Brien", "McDonald", "D'Angelo", "van", "der", "Berg", "von", "Trapp", "de", "la", "Cruz", "Müller", "Schröder", "Weiß", "Größe", "Lefèvre", "Dubois", "Gérard", "Señor", "Peña", "Muñoz", "Gonçalves", "Araújo", "Kowalski", "Wójcik", "Brzęczyszczykiewicz", "Öztürk", "Yılmaz", "Nguyễn", "Trần", "Иванов", "Смирнова", "Παπαδόπουλος", "王", "李", "佐藤", "鈴木", "عبدالله", "כהן", "शर्मा", "Horvat", "Kovačević", "Jurić", "Smith-Jones", "Saint-Exupéry", "Ó'Súilleabháin", "Ng", "Li"]
FORBIDDEN_NAMES = (
    "O'Brien & Sons", "Anne (Annie)", "Smith/Jones", "<script>", 'The "Boss"', "Back\\slash", "Dr: Who",
    "{curly}", "key=value", "Semi;colon", "#1 Fan", "Tom & Jerry", "Ltd. (UK)", "a<b>c",
)
DOMAINS = (
    "example.com", "gmail.com", "yahoo.com", "outlook.com", "hotmail.co.uk", "web.de", "orange.fr",
    "uol.com.br", "rediffmail.com", "t-online.de", "icloud.com", "proton.me", "example.org", "bücher.de",
)
COMPANIES = (
    "Acme Corp", "Globex", "Initech", "Umbrella GmbH", "Société Générale", "Müller & Söhne KG",
    "Tata Consultancy", "Itaú Unibanco", "Small Shop Ltd", "株式会社テスト", "O'Reilly Media", "Foo (Bar) Inc.",
)
CITIES = {
    "US": (("New York", "NY", "New York"), ("Austin", "TX", "Texas"), ("San Francisco", "CA", "California")),
    "GB": (("London", "", "England"), ("Manchester", "", "England"), ("Edinburgh", "", "Scotland")),
    "DE": (("Berlin", "", "Berlin"), ("München", "", "Bayern"), ("Köln", "", "Nordrhein-Westfalen")),
    "FR": (("Paris", "", "Île-de-France"), ("Lyon", "", "Auvergne-Rhône-Alpes")),
    "BR": (("São Paulo", "SP", "São Paulo"), ("Rio de Janeiro", "RJ", "Rio de Janeiro")),
    "IN": (("Mumbai", "MH", "Maharashtra"), ("Bengaluru", "KA", "Karnataka")),
    "HR": (("Zagreb", "", "Grad Zagreb"), ("Split", "", "Splitsko-dalmatinska")),
}
COUNTRY_NAMES = {"US": "United States", "GB": "United Kingdom", "DE": "Germany", "FR": "France", "BR": "Brazil",
                 "IN": "India", "HR": "Croatia"}
STREETS = ("Main Street", "Hauptstraße", "Rue de Rivoli", "Rua Augusta", "MG Road", "High Street", "Ilica",
           "Elm St", "Broadway", "Königsallee")
ATTRIBUTES = (  # (attribute_id, value pool): values are strings, whatever the attribute's type
    (1, ("gold", "silver", "bronze", "platinum")),  # loyalty_tier (string)
    (2, ("1985-04-12", "1990-12-31", "2001-07-04", "1979-02-28")),  # birthday (date)
    (3, ("38", "42", "44.5", "9")),  # shoe_size (number)
    (4, ("Yes", "No")),  # sms_opt_in (string)
    (5, ("en", "de", "fr", "pt-BR", "hr")),  # preferred_language (string)
)
SEGMENTS = tuple(str(uuid.UUID(int=(0xA1B2C3D4 << 96) + i, version=4)) for i in range(8))
NOTES = ("", "", "", "", "VIP", "Prefers email", "Wholesale account; net 30", "Ruft nur abends an.",
         "Line one\nline two", "Allergic to 🥜")


def _phone(r: Any) -> str:
    """A phone number in one of many local formats, E.164, or invalid (``r`` is ``rng.random``)."""
    k = int(r() * 20)
    d = int(r() * 10_000_000)
    a = 200 + int(r() * 799)
    if k == 0:
        return f"({a}) 555-{d % 10000:04d}"
    if k == 1:
        return f"{a}-555-{d % 10000:04d}"
    if k == 2:
        return f"+1 {a} 555 {d % 10000:04d}"
    if k == 3:
        return f"020 7946 {d % 10000:04d}"
    if k == 4:
        return f"07700 9{d % 100000:05d}"
    if k == 5:
        return f"+44 7700 9{d % 100000:05d}"
    if k == 6:
        return f"030 {d % 100000000:08d}"
    if k == 7:
        return f"0151 {d:08d}"
    if k == 8:
        return f"+49 30 {d:08d}"
    if k == 9:
        return f"01 {d // 1000 % 100:02d} {d // 100 % 100:02d} {d % 100:02d} {d // 10 % 100:02d}"
    if k == 10:
        return f"+33 6 12 {d // 10000 % 100:02d} {d // 100 % 100:02d} {d % 100:02d}"
    if k == 11:
        return f"(11) 9{d // 1000 % 10000:04d}-{d % 10000:04d}"
    if k == 12:
        return f"+55 11 9{d // 1000 % 10000:04d} {d % 10000:04d}"
    if k == 13:
        return f"+91 98{d // 100000 % 1000:03d} {d % 100000:05d}"
    if k == 14:
        return f"098{d // 100000 % 1000:03d} {d % 100000:05d}"
    if k == 15:
        return f"+385 91 {d % 10000000:07d}"
    if k == 16:
        return f"+1{a}555{d % 10000:04d}"
    if k == 17:
        return ("12345", "call me", "555-CALL-NOW", "+1 (000) 000-0000", "0000000000", "n/a")[d % 6]
    return f"+1 {a}-555-{d % 10000:04d} ext. {d % 100}"


def _uuid4(bits: int) -> str:
    """A version-4 UUID string from 128 random bits (faster than uuid.UUID)."""
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ascii(text: str) -> str:
    return "".join(ch for ch in text if ch.isascii() and (ch.isalnum() or ch in "-_"))


def _local(first: str, last: str, i: int) -> str:
    """An RFC-valid email local part from a (possibly non-Latin) name, unique by ``i``."""
    return f"{_ascii(first) or 'user'}.{_ascii(last) or 'customer'}{i}"


def generate_customers(n: int, seed: int, *, start_id: int = 1, now: int | None = None) -> list[dict[str, Any]]:
    """``n`` full V3 customer objects with ids ``start_id..start_id+n-1`` (see the module docstring)."""
    was_enabled = gc.isenabled()
    gc.disable()  # building ~1M small containers: the cyclic GC would more than double the time
    try:
        return _generate(n, seed, start_id, now)
    finally:
        if was_enabled:
            gc.enable()


def _generate(n: int, seed: int, start_id: int, now: int | None) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    now = REFERENCE_NOW if now is None else int(now)
    span = YEARS * 365 * 86400
    t0 = now - span
    step = span / max(n, 1)
    iso_cache: dict[int, str] = {}

    def iso(e: int) -> str:
        s = iso_cache.get(e)
        if s is None:
            if len(iso_cache) > 200_000:
                iso_cache.clear()
            s = iso_cache[e] = _iso(e)
        return s

    out: list[dict[str, Any]] = []
    emails: set[str] = set()
    recent_locals: list[str] = []
    r = rng.random

    def choice(seq: Any) -> Any:
        return seq[int(r() * len(seq))]

    def between(lo: int, hi: int) -> int:
        return lo + int(r() * (hi - lo))

    bulk_left = 0
    bulk_epoch = 0
    for k in range(n):
        cid = start_id + k
        # -- dates: rising with id; bulk imports share one second ------------------
        if bulk_left > 0:
            bulk_left -= 1
            dc = bulk_epoch
        else:
            dc = int(t0 + k * step + r() * step)
            if r() < 0.004:
                bulk_left = between(20, 600)
                bulk_epoch = dc
        dc = min(dc, now - 1)
        x = r()
        if x < 0.4:
            dm = dc
        elif x < 0.5:  # bulk update: a few shared seconds
            dm = max(dc, now - 86400 * (1 + (cid % 7) * 30))
        else:
            dm = dc + int((now - dc) * r() * r())
        # -- names ----------------------------------------------------------------
        first = choice(FIRST)
        last = choice(LAST)
        if r() < 0.03:
            if r() < 0.5:
                first = choice(FORBIDDEN_NAMES)
            else:
                last = choice(FORBIDDEN_NAMES)
        # -- email: unique case-insensitively, some mixed case and near-duplicates -
        y = r()
        if y < 0.05 and recent_locals:
            local = choice(recent_locals) + ("" if r() < 0.5 else "+shop")
        else:
            local = _local(first, last, cid)
        dom = choice(DOMAINS)
        email = f"{local}@{dom}"
        if y > 0.9:
            email = email.upper() if y > 0.97 else email.title()
        key = email.casefold()
        if key in emails:
            email = f"{local}.{cid}@{dom}"
            key = email.casefold()
        emails.add(key)
        if len(recent_locals) < 64:
            recent_locals.append(local)
        else:
            recent_locals[cid % 64] = local
        # -- sub-resources ----------------------------------------------------------
        z = r()
        n_addr = 0 if z < 0.3 else 1 if z < 0.7 else 2 if z < 0.85 else between(3, 11)
        addresses = []
        for j in range(n_addr):
            cc = choice(("US", "US", "GB", "DE", "FR", "BR", "IN", "HR"))
            city, _code, state = choice(CITIES[cc])
            addresses.append({
                "id": cid * 10 + j, "customer_id": cid, "first_name": first, "last_name": last,
                "company": "" if r() < 0.8 else choice(COMPANIES),
                "address1": f"{between(1, 999)} {choice(STREETS)}",
                "address2": "" if r() < 0.8 else f"Apt {between(1, 99)}",
                "city": city, "state_or_province": state, "postal_code": f"{between(10000, 99999)}",
                "country_code": cc, "country": COUNTRY_NAMES[cc],
                "phone": "" if r() < 0.4 else _phone(r),
                "address_type": "residential" if r() < 0.85 else "commercial",
                "form_fields": [] if r() < 0.8 else [{"name": "delivery_notes", "value": "Leave at door"}],
            })
        attributes = []
        if r() < 0.5:
            for j, (aid, pool) in enumerate(ATTRIBUTES):
                if r() < 0.5:
                    attributes.append({
                        "id": cid * 10 + j, "attribute_id": aid, "attribute_value": choice(pool),
                        "customer_id": cid, "date_created": iso(dc), "date_modified": iso(dm),
                    })
        form_fields: list[dict[str, Any]] = []
        w = r()
        if w < 0.7:
            form_fields.append({"name": "newsletter", "value": "yes" if w < 0.35 else "no", "customer_id": cid})
        if w < 0.2:
            form_fields.append({"name": "interests", "value": ["shoes", "bags"][: 1 + cid % 2], "customer_id": cid})
        if 0.1 < w < 0.3:
            form_fields.append({"name": "age", "value": 18 + cid % 60, "customer_id": cid})
        if 0.5 < w < 0.6:
            form_fields.append({"name": "How did you hear about us?", "value": "Instagram", "customer_id": cid})
        ch = r()
        out.append({
            "id": cid,
            "email": email,
            "first_name": first,
            "last_name": last,
            "company": "" if r() < 0.6 else choice(COMPANIES),
            "phone": "" if r() < 0.25 else _phone(r),
            "registration_ip_address": "" if r() < 0.5 else f"203.0.113.{cid % 250 + 1}",
            "notes": choice(NOTES),
            "tax_exempt_category": "" if r() < 0.95 else "NP",
            "customer_group_id": 0 if r() < 0.6 else between(1, 6),
            "date_created": iso(dc),
            "date_modified": iso(dm),
            "authentication": {"force_password_reset": r() < 0.02},
            "accepts_product_review_abandoned_cart_emails": r() < 0.5,
            "origin_channel_id": 1 if r() < 0.9 else 2,
            "channel_ids": None if ch < 0.6 else [1] if ch < 0.9 else [1, 2],
            "addresses": addresses,
            "attributes": attributes,
            "form_fields": form_fields,
            "store_credit_amounts": [{"amount": 0.0 if r() < 0.85 else round(r() * 200, 2)}],
            "shopper_profile_id": _uuid4(rng.getrandbits(128)),
            "segment_ids": [] if r() < 0.7 else [choice(SEGMENTS)],
        })
    return out


NASTY_STRINGS = (
    "Robert'); DROP TABLE customers;--", '{"a": [1, 2', "\\", '"', "\x00nul", "bell\x07", "tab\tand\nnewline\r\n",
    "\u202eRTL override", "مرحبا بالعالم", "שָׁלוֹם", "👩‍👩‍👧‍👦🏳️‍🌈", "Z̷̢̛a̸l̵g̶o", "\ufeffBOM", "' OR '1'='1",
    "$.store", "{{template}}", "%s%n", "NULL", "null", "None", "   ", "", "\u2028line sep", "ｆｕｌｌｗｉｄｔｈ",
    "a" * 100,
)


def nasty_customers(n: int, seed: int, *, start_id: int = 1) -> list[dict[str, Any]]:
    """``n`` hostile customers: control characters, 10 kB notes, emoji, RTL, SQL/JSON-breaking
    strings, numbers where strings belong and nulls wherever the API allows one.

    Emails stay unique case-insensitively (the store enforces it); dates stay valid.
    """
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for k in range(n):
        cid = start_id + k
        s = NASTY_STRINGS[k % len(NASTY_STRINGS)]
        t = rng.choice(NASTY_STRINGS)
        when = _iso(REFERENCE_NOW - rng.randrange(86400 * 365))
        odd = k % 4
        out.append({
            "id": cid,
            "email": f"nasty{cid}+{'ü' if odd == 0 else 'x'}@{'example.com' if odd else 'EXAMPLE.COM'}",
            "first_name": s or "\x01",
            "last_name": t if odd else 12345,
            "company": None if odd == 1 else (42 if odd == 2 else t),
            "phone": None if odd == 0 else (5551234 if odd == 3 else "+1 555 0100\x00"),
            "registration_ip_address": "",
            "notes": ("x" * 10240) if odd == 0 else (None if odd == 1 else s),
            "tax_exempt_category": None,
            "customer_group_id": 0 if odd else None,
            "date_created": when,
            "date_modified": when,
            "authentication": None if odd == 2 else {"force_password_reset": False},
            "accepts_product_review_abandoned_cart_emails": None if odd == 3 else True,
            "origin_channel_id": 1,
            "channel_ids": None if odd < 2 else [],
            "addresses": [] if odd else [{
                "id": cid * 10, "customer_id": cid, "first_name": t, "last_name": s, "company": None,
                "address1": "\u202e" + t, "address2": None, "city": "🏙️", "state_or_province": None,
                "postal_code": 10115, "country_code": "XX", "country": None, "phone": None,
                "address_type": "residential", "form_fields": [{"name": s, "value": None}],
            }],
            "attributes": [{"id": cid * 10, "attribute_id": 1, "attribute_value": t, "customer_id": cid,
                            "date_created": when, "date_modified": when}] if odd == 1 else [],
            "form_fields": [{"name": "newsletter", "value": 1, "customer_id": cid},
                            {"name": t, "value": [s, t], "customer_id": cid}] if odd != 3 else None,
            "store_credit_amounts": [{"amount": None}] if odd == 2 else [{"amount": 1e308}],
            "shopper_profile_id": None,
            "segment_ids": None,
        })
    return out


# -- orders -------------------------------------------------------------------------------
def _table(weights: dict[Any, int]) -> tuple[Any, ...]:
    """A lookup table to draw from in one step: ``table[int(r() * len(table))]``."""
    return tuple(k for k, w in weights.items() for _ in range(w))


# mostly Completed / Awaiting Fulfillment / Shipped; every documented status 0-14 occurs
ORDER_STATUS_TABLE = _table({10: 405, 11: 120, 2: 200, 0: 10, 1: 15, 3: 20, 4: 40, 5: 50, 6: 10, 7: 25, 8: 10,
                             9: 40, 12: 10, 13: 5, 14: 40})
# index into sandbox.order_records.FX: USD 78 %, EUR 14 %, GBP 8 %
ORDER_FX_TABLE = _table({0: 78, 1: 4, 2: 6, 3: 4, 4: 2, 5: 4, 6: 2})
ORDER_LINES_TABLE = _table({1: 40, 2: 25, 3: 18, 4: 10, 5: 7})
ORDER_SHIPPING = (0.0, 4.99, 9.99, 14.99)
GUEST_DOMAINS = ("guest.example.net", "mail.example", "example.net", "posteo.example")
ARCHIVED_SHARE = 0.02
EARLY_STATUS_IDS = frozenset({0, 1, 7})


def _epoch(iso: Any, fallback: int) -> int:
    try:
        return int(datetime.fromisoformat(str(iso)).timestamp())
    except ValueError:
        return fallback


def _billing(customer: dict[str, Any]) -> dict[str, Any]:
    """A checkout-shaped billing address: the customer's first address (if any) and email."""
    addrs = customer.get("addresses") or [{}]
    a = addrs[0] if isinstance(addrs[0], dict) else {}
    return {
        "first_name": a.get("first_name") or customer.get("first_name") or "",
        "last_name": a.get("last_name") or customer.get("last_name") or "",
        "company": a.get("company") or "", "address1": a.get("address1") or "", "address2": a.get("address2") or "",
        "city": a.get("city") or "", "state_or_province": a.get("state_or_province") or "",
        "postal_code": str(a.get("postal_code") or ""), "country": a.get("country") or "",
        "country_code": a.get("country_code") or "", "phone": a.get("phone") or "",
        "email": str(customer.get("email") or ""),
    }


def generate_orders(customers: list[dict[str, Any]], seed: int, *, now: int | None = None, share: float = 0.6,
                    guests: float = 0.1, mean_orders: float = 4.0, start_id: int = 100) -> list[dict[str, Any]]:
    """Deterministic lean order records (`sandbox.order_records`) for ``customers``; load them
    with ``sandbox.commerce.add_orders``.

    A ``share`` of the customers order, each 1-50 times (skewed: mostly 1-5, ``mean_orders``
    on average), between their ``date_created`` and ``now`` (default `REFERENCE_NOW`);
    ``guests`` is the share of all orders placed by guests (``customer_id`` 0), whose billing
    email is either a registered customer's in another letter case or nobody's. Statuses span
    0-14 (mostly 10/11/2), currencies USD/EUR/GBP (with a rate from the store's USD), refunds
    come with status 4 (all) or 14 (part), ~2 % are archived, and 1-5 line items add up to the
    subtotal. Ids rise with ``date_created`` from ``start_id``.
    """
    was_enabled = gc.isenabled()
    gc.disable()  # millions of small dicts: the cyclic GC would double the time
    try:
        return _generate_orders(customers, seed, now, share, guests, mean_orders, start_id)
    finally:
        if was_enabled:
            gc.enable()


def _generate_orders(customers: list[dict[str, Any]], seed: int, now: int | None, share: float, guests: float,
                     mean_orders: float, start_id: int) -> list[dict[str, Any]]:
    from math import log

    from bc2people.sandbox.order_records import PRICE_CENTS, PRODUCTS

    rng = random.Random(f"orders:{seed}")
    r = rng.random
    now = REFERENCE_NOW if now is None else int(now)
    span = YEARS * 365 * 86400
    bulk = tuple(now - 86400 * d - 3600 * (d % 24) for d in (2, 45, 200, 700))  # mass status updates
    statuses, fxs, nlines, ships = ORDER_STATUS_TABLE, ORDER_FX_TABLE, ORDER_LINES_TABLE, ORDER_SHIPPING
    n_status, n_fx, n_lines, n_prod = len(statuses), len(fxs), len(nlines), len(PRODUCTS)
    scale = max(0.0, mean_orders - 1.0)
    out: list[dict[str, Any]] = []
    append = out.append

    def one(customer_id: int, billing: dict[str, Any], created: int) -> None:
        sid = statuses[int(r() * n_status)]
        x = r()
        if sid in EARLY_STATUS_IDS:
            modified = created + int(r() * 3600)
        elif sid in (4, 14) or x < 0.3:
            modified = created + int((now - created) * r())
        elif x < 0.97:
            modified = created + int(r() * 3 * 86400)
        else:
            modified = bulk[int(r() * 4)]
        if modified < created:
            modified = created
        elif modified >= now:
            modified = now - 1
        fx = fxs[int(r() * n_fx)]
        cents = PRICE_CENTS[fx]
        k = nlines[int(r() * n_lines)]
        code = k
        sub = 0
        for j in range(k):
            p = int(r() * n_prod)
            q = 1 + int(r() * r() * 4)
            sub += cents[p] * q
            code |= (p | (q - 1) << 4) << (3 + 8 * j)
        subtotal = sub / 100
        shipping = ships[int(r() * 4)]
        rec = {"id": 0, "customer_id": customer_id, "status_id": sid, "created": created, "modified": modified,
               "subtotal": subtotal, "shipping": shipping, "fx": fx, "billing": billing, "lines": code}
        if sid == 4:
            rec["refunded"] = round(subtotal + shipping, 2)
        elif sid == 14:
            rec["refunded"] = round((subtotal + shipping) * (0.1 + 0.8 * r()), 2)
        if r() < ARCHIVED_SHARE:
            rec["is_deleted"] = True
        append(rec)

    for c in customers:
        if r() >= share:
            continue
        dc = _epoch(c.get("date_created"), now - span)
        if dc >= now - 2:
            continue
        k = min(50, 1 + int(-log(1.0 - r()) * scale))
        billing = _billing(c)
        cid = int(c["id"])
        for _ in range(k):
            one(cid, billing, dc + 1 + int((now - dc - 2) * r()))
    n_guests = int(len(out) * guests / (1.0 - guests)) if 0 < guests < 1 else 0
    taken = {str(c.get("email") or "").casefold() for c in customers}
    for g in range(n_guests):
        if customers and r() < 0.4:  # a registered customer's email, in another letter case
            e = str(customers[int(r() * len(customers))].get("email") or "")
            email = e.upper() if e != e.upper() else e.lower()
        else:  # nobody's (some guests order more than once)
            email = f"guest{int(r() * (n_guests * 0.7 + 1))}@{GUEST_DOMAINS[g % len(GUEST_DOMAINS)]}"
            if email.casefold() in taken:
                email = "g." + email
        cc = ("US", "US", "GB", "DE", "FR", "BR", "IN", "HR")[int(r() * 8)]
        city, _code, state = CITIES[cc][int(r() * len(CITIES[cc]))]
        billing = {"first_name": FIRST[int(r() * len(FIRST))], "last_name": LAST[int(r() * len(LAST))],
                   "company": "", "address1": f"{1 + int(r() * 998)} {STREETS[int(r() * len(STREETS))]}",
                   "address2": "", "city": city, "state_or_province": state,
                   "postal_code": f"{10000 + int(r() * 89999)}", "country": COUNTRY_NAMES[cc], "country_code": cc,
                   "phone": "", "email": email}
        one(0, billing, now - 1 - int(span * r()))
    out.sort(key=_created)
    for i, rec in enumerate(out):
        rec["id"] = start_id + i
    return out


def _created(rec: dict[str, Any]) -> int:
    return int(rec["created"])
