"""Order pages staged as Arrow tables (`sources.bigcommerce.order_tables`) land exactly as dlt's
object path stores them: same columns, types and values, for the sandbox's orders and for
fields the sandbox does not send (the spec's ``fees``, new scalars, odd values), on a fresh
file and on a file whose ``orders`` table the object path typed first."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dlt.common.schema import Schema

from bc2people.sandbox.bigcommerce import BigCommerceSandbox
from bc2people.sandbox.generator import generate_customers, generate_orders
from bc2people.sources.bigcommerce.helpers import default_naming
from bc2people.sources.bigcommerce.order_tables import OrderTables
from bc2people.sources.bigcommerce.settings import ORDER_COLUMNS
from tests.test_source_orders import NOW, STORE, TOKEN, RewritingProxy, stage

Page = list[dict[str, Any]]


@pytest.fixture
def sb() -> Iterator[BigCommerceSandbox]:
    """A fresh store of 300 customers and their orders (ids from 100), its clock frozen."""
    with BigCommerceSandbox(store_hash=STORE, access_token=TOKEN) as box:
        box.clock.freeze(NOW)
        customers = generate_customers(300, seed=41, now=NOW - 86400)
        box.add_customers(customers)
        box.commerce.add_orders(generate_orders(customers, seed=41, now=NOW - 3600))
        yield box


def _table(db: Path) -> tuple[dict[str, str], dict[int, dict[str, Any]]]:
    """The staged orders' columns (name -> DuckDB type) and rows by id, dlt's own columns aside."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        cols = {n: t for n, t in con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'bigcommerce' "
            "AND table_name = 'orders'").fetchall() if not n.startswith("_dlt_")}
        cur = con.execute(f"SELECT {', '.join(repr(n).replace(chr(39), chr(34)) for n in cols)} FROM bigcommerce.orders")
        names = [d[0] for d in cur.description]
        rows = {r[names.index("id")]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}
        assert con.execute("SELECT count(*) FROM bigcommerce.orders WHERE _dlt_id IS NULL "
                           "OR _dlt_load_id IS NULL").fetchone() == (0,)
    finally:
        con.close()
    return cols, rows


def _stage_both(sb: BigCommerceSandbox, tmp_path: Path, edit: Callable[[Page], Page] | None) -> tuple[Any, Any]:
    """The store staged once as dicts and once with Arrow pages through a proxy applying ``edit``."""
    proxy = RewritingProxy(sb.base_url)
    proxy.edit = edit
    with proxy.server:
        _, dicts = stage(tmp_path / "dicts.duckdb", proxy.server.url, arrow_pages=False)
        _, arrow = stage(tmp_path / "arrow.duckdb", proxy.server.url)
    assert dicts.records == arrow.records > 0
    assert dicts.object_pages == dicts.pages
    assert _table(tmp_path / "arrow.duckdb") == _table(tmp_path / "dicts.duckdb")
    return dicts, arrow


def test_the_sandbox_stores_orders_go_as_tables_and_land_as_dicts_do(sb: BigCommerceSandbox, tmp_path: Path) -> None:
    _, arrow = _stage_both(sb, tmp_path, None)
    assert arrow.object_pages == 0 and arrow.pages >= 3
    cols, rows = _table(tmp_path / "arrow.duckdb")
    assert cols["date_created"] == "TIMESTAMP WITH TIME ZONE" and cols["billing_address"] == "JSON"
    assert cols["fees"] == "JSON" and all(r["fees"] is None for r in rows.values())  # declared, never sent


def _oddities(page: Page) -> Page:
    """Fields the sandbox does not send, each on some orders; a few values no table can take."""
    for o in page:
        i = o["id"]
        o["fees"] = [] if i % 3 else [{"id": i, "type": "custom_fee", "cost_inc_tax": 1.5}]
        o["consignments"] = {"shipping": [{"id": i}]} if i % 5 == 0 else None
        o["is_tax_inclusive_pricing"] = i % 2 == 0
        o["ip_address_v6"] = "" if i % 4 else "2001:db8::1"
        o["external_order_id"] = None  # null everywhere: no column, as on the object path
        o["tax_rate"] = 0.2 if i % 7 else 0.125
        o["loyalty_points"] = i * 10
        # each of these refuses its page (the ids are early: the last pages go as tables)
        if i == 150:
            o["date_shipped"] = "not a date"  # a variant column, as on the object path
        if i == 160:
            o["loyalty_points"] = str(i)  # one text among integers
        if i == 200:
            o["huge"] = 2**70  # beyond int64
    return page


def test_fields_the_sandbox_does_not_send_land_as_the_object_path_stores_them(
        sb: BigCommerceSandbox, tmp_path: Path) -> None:
    _, arrow = _stage_both(sb, tmp_path, _oddities)
    assert 0 < arrow.object_pages < arrow.pages  # only the pages holding an odd value
    cols, rows = _table(tmp_path / "arrow.duckdb")
    assert {n: cols[n] for n in ("fees", "consignments", "is_tax_inclusive_pricing", "ip_address_v6", "tax_rate",
                                 "loyalty_points", "date_shipped__v_text")} == {
        "fees": "JSON", "consignments": "JSON", "is_tax_inclusive_pricing": "BOOLEAN", "ip_address_v6": "VARCHAR",
        "tax_rate": "DOUBLE", "loyalty_points": "BIGINT", "date_shipped__v_text": "VARCHAR"}
    assert "external_order_id" not in cols
    assert any(r["date_shipped__v_text"] == "not a date" for r in rows.values())


def test_a_new_field_dlt_would_detect_or_rename_sends_its_page_as_dicts(sb: BigCommerceSandbox, tmp_path: Path) -> None:

    def edit(page: Page) -> Page:
        for o in page:
            if o["id"] in (700, 701):
                o["synced_at"] = "2026-05-01T10:00:00Z"  # dlt's iso_timestamp detection: a timestamp column
            if o["id"] in (100, 101):
                o["ExternalRef"] = f"ref-{o['id']}"  # dlt names it external_ref
        return page

    _, arrow = _stage_both(sb, tmp_path, edit)
    assert 0 < arrow.object_pages < arrow.pages
    cols, _ = _table(tmp_path / "arrow.duckdb")
    assert cols["synced_at"] == "TIMESTAMP WITH TIME ZONE" and cols["external_ref"] == "VARCHAR"


def test_an_orders_table_the_object_path_typed_keeps_its_types(sb: BigCommerceSandbox, tmp_path: Path) -> None:
    """An existing user's file: a field first sent as text stays text when the store later sends
    integers (the Arrow page would make it bigint: it goes as dicts, and dlt coerces)."""
    proxy = RewritingProxy(sb.base_url)
    sent = {"as": str}

    def edit(page: Page) -> Page:
        for o in page:
            o["payment_provider_id"] = sent["as"](o["id"])
        return page

    proxy.edit = edit
    old, reference = tmp_path / "old.duckdb", tmp_path / "reference.duckdb"
    with proxy.server:
        for db in (old, reference):
            stage(db, proxy.server.url, arrow_pages=False)
        sent["as"] = int
        for oid in list(sb.commerce.orders)[:600:2]:
            sb.commerce.update_order(oid, staff_notes=f"changed {oid}")
        sb.clock.advance(3600)
        _, arrow = stage(old, proxy.server.url)
        _, dicts = stage(reference, proxy.server.url, arrow_pages=False)
    assert arrow.records == dicts.records == 300
    assert arrow.object_pages == arrow.pages  # every page holds the integers
    assert _table(old) == _table(reference)
    cols, rows = _table(old)
    assert cols["payment_provider_id"] == "VARCHAR" and not any("__v_" in n for n in cols)


# -- the typing rules, on a schema of our own ----------------------------------------------
def _schema() -> Schema:
    """A new staging schema, named as the source names it (another test's People pipeline may
    be active in this process: see the last test)."""
    with default_naming():
        return Schema("bigcommerce")


def _order(i: int, **extra: Any) -> dict[str, Any]:
    return {"id": i, "customer_id": 7, "status_id": 10, "date_created": datetime(2026, 1, i, tzinfo=UTC),
            "total_inc_tax": "12.5000", "billing_address": {"email": f"b{i}@example.com"}, **extra}


@pytest.mark.parametrize(("rows", "why"), [
    ([_order(1), _order(2, id="2")], "an id as text"),
    ([_order(1, date_created="Mon, 32 Jan 2026")], "a date prepare_order could not parse"),
    ([_order(1, date_created="2026-01-01T00:00:00Z")], "a date left as text, even one Arrow could read"),
    ([_order(1, date_created=datetime(2026, 1, 1))], "a naive datetime"),
    ([_order(1, customer_id=True)], "a bool where an integer is declared"),
    ([_order(1, billing_address="text")], "text where json is declared"),
    ([_order(1, x=1), _order(2, x="1")], "two types in one field"),
    ([_order(1, x=1), _order(2, x=1.5)], "an integer and a float"),
    ([_order(1, x=2**63)], "beyond int64"),
    ([_order(1, x={"a": 1})], "an undeclared object"),
    ([_order(1, x=[1])], "an undeclared list"),
    ([_order(1, x="2026-01-01T00:00:00+00:00")], "a text dlt detects as a timestamp"),
    ([_order(1, **{"Odd Name": 1})], "a name dlt renames"),
])
def test_a_page_arrow_cannot_type_as_dlt_would_is_refused(rows: Page, why: str) -> None:
    assert OrderTables(_schema()).table(rows) is None, why


def test_a_page_is_typed_as_dlt_types_its_values() -> None:
    tables = OrderTables(_schema())
    table = tables.table([_order(1, flag=True, rate=0.5, n=3, note=None), _order(2, flag=None, rate=1.0, n=4)])
    assert table is not None
    types = {f.name: str(f.type) for f in table.schema}
    assert set(ORDER_COLUMNS) <= set(types) and "note" not in types  # declared ones all there, null-only left out
    assert {k: types[k] for k in ("id", "date_created", "billing_address", "flag", "rate", "n")} == {
        "id": "int64", "date_created": "timestamp[us, tz=UTC]", "billing_address": "string", "flag": "bool",
        "rate": "double", "n": "int64"}
    # the run remembers what it gave a new field: a later page that disagrees goes as dicts
    assert tables.table([_order(3, n="four")]) is None
    assert tables.table([_order(4, n=5)]) is not None


def test_a_refused_page_teaches_the_run_what_dlt_will_make_of_its_new_fields() -> None:
    tables = OrderTables(_schema())
    assert tables.table([_order(1, id="1", code="A1")]) is None  # refused (the id): code will be text
    assert tables.table([_order(2, code=5)]) is None
    assert tables.table([_order(3, code="B2")]) is not None


def test_a_column_the_schema_holds_with_another_type_refuses_the_page() -> None:
    schema = _schema()
    schema.update_table({"name": "orders", "columns": {"code": {"name": "code", "data_type": "text"},
                                                       "status_id": {"name": "status_id", "data_type": "text"}}})
    tables = OrderTables(schema)
    assert tables.table([_order(1)]) is None  # status_id: declared bigint, stored as text
    del schema.tables["orders"]["columns"]["status_id"]
    assert tables.table([_order(1, code=5)]) is None
    assert tables.table([_order(1, code="5")]) is not None


def test_a_people_pipeline_active_in_the_process_does_not_name_the_staging_columns(tmp_path: Path) -> None:
    """dlt names a new schema after the active pipeline's destination: after a People pipeline
    (direct naming), a fresh staging file got ``date_shipped▶v_text`` (found by CI's order)."""
    import dlt

    from bc2people.destinations.people.destination import people
    from bc2people.sources.bigcommerce import bigcommerce_source

    dlt.pipeline(pipeline_name="people_first", destination=people, pipelines_dir=str(tmp_path / "people"))
    source = bigcommerce_source(store_hash="x", access_token="y", api_base_url="http://127.0.0.1:9")
    assert source.schema.naming.make_path("date_shipped", "v_text") == "date_shipped__v_text"
