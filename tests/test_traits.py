"""Traits: the default order SQL's values on hand-made orders, RFM names, hashes, and errors
located in the SQL file; real DuckDB files with tables in the staged shapes."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from bc2people.pipelines.mapping import MappingError, load_mapping, load_mapping_bytes
from bc2people.pipelines.mapping.traits import (
    TRAITS_TABLE,
    TraitsSpec,
    check_traits,
    compute_traits,
    count_from_sql,
    load_spec,
    traits_for,
    traits_hashes,
)
from tests.fixtures_mapping import DEFAULT_MAPPING_PATH

MAPPINGS = DEFAULT_MAPPING_PATH.parent
TRAITS_SQL = MAPPINGS / "customer_traits.sql"
GUESTS_SQL = MAPPINGS / "unattributed_guest_orders.sql"
AS_OF = datetime(2024, 6, 30, 12, 0, tzinfo=UTC)
CURRENCY_COLUMNS = ("default_currency_code", "store_default_currency_code",
                    "store_default_to_transactional_exchange_rate")


def staged_db(path: Path, *, currency_columns: bool = True) -> duckdb.DuckDBPyConnection:
    """A DuckDB file with empty bigcommerce.customers / bigcommerce.orders as staging makes them."""
    con = duckdb.connect(str(path))
    currency = "".join(f", {c} VARCHAR" for c in CURRENCY_COLUMNS) if currency_columns else ""
    con.execute(f"""
        CREATE SCHEMA bigcommerce;
        CREATE TABLE bigcommerce.customers (id BIGINT, email VARCHAR, first_name VARCHAR, last_name VARCHAR,
            customer_group_id BIGINT, date_created TIMESTAMPTZ, date_modified TIMESTAMPTZ, addresses JSON,
            _dlt_load_id VARCHAR, _dlt_id VARCHAR);
        CREATE TABLE bigcommerce.orders (id BIGINT, customer_id BIGINT, status_id BIGINT, status VARCHAR,
            is_deleted BOOLEAN, date_created TIMESTAMPTZ, date_modified TIMESTAMPTZ, date_shipped TIMESTAMPTZ,
            currency_code VARCHAR{currency}, total_inc_tax VARCHAR, total_ex_tax VARCHAR,
            refunded_amount VARCHAR, items_total BIGINT, billing_address JSON, products JSON,
            _dlt_load_id VARCHAR, _dlt_id VARCHAR);
    """)
    return con


def add_customer(con: Any, cid: int, email: str | None = None) -> None:
    con.execute("INSERT INTO bigcommerce.customers (id, email, first_name, last_name) VALUES (?, ?, 'A', 'B')",
                [cid, email if email is not None else f"c{cid}@example.com"])


_next_order = [1000]


def add_order(con: Any, customer_id: int, total: str = "10.0000", *, status_id: int = 10,
              refunded: str | None = "0.0000", created: str = "2024-01-10 10:00:00+00",
              is_deleted: bool = False, email: str | None = None, currency: tuple[str, str | None, str | None] | None = None,
              order_id: int | None = None) -> int:
    _next_order[0] += 1
    oid = order_id if order_id is not None else _next_order[0]
    cols = ["id", "customer_id", "status_id", "is_deleted", "date_created", "currency_code",
            "total_inc_tax", "total_ex_tax", "refunded_amount", "billing_address"]
    values: list[Any] = [oid, customer_id, status_id, is_deleted, created, "USD", total, total, refunded,
                         json.dumps({"first_name": "G", "email": email or ""})]
    if currency is not None:
        cols += list(CURRENCY_COLUMNS)
        values += list(currency)
    con.execute(f"INSERT INTO bigcommerce.orders ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", values)
    return oid


@pytest.fixture()
def con(tmp_path: Path) -> Any:
    c = staged_db(tmp_path / "staging.duckdb")
    yield c
    c.close()


def compute(con: Any) -> dict[int, dict[str, Any]]:
    compute_traits(con, load_spec(TRAITS_SQL), as_of=AS_OF)
    return traits_for(con)


# -- the default SQL's values -------------------------------------------------------------------
def test_counted_orders_and_value_net_of_refunds(con: Any) -> None:
    add_customer(con, 1)
    add_customer(con, 2)  # no orders at all
    add_order(con, 1, "100.0000", status_id=10, created="2024-01-05 08:00:00+00")
    add_order(con, 1, "50.0000", status_id=2, refunded="20.0000", created="2024-02-01 09:30:00+00")
    add_order(con, 1, "25.0000", status_id=4, refunded="25.0000", created="2024-03-01 00:00:00+00")  # refunded: counts, 0
    add_order(con, 1, "900.0000", status_id=14, refunded="1000.0000", created="2024-03-02 00:00:00+00")  # refund capped
    add_order(con, 1, "abc", status_id=10, created="2024-04-01 00:00:00+00")  # non-numeric: counts, no money
    add_order(con, 1, "-5.0000", status_id=10, created="2024-04-02 00:00:00+00")  # negative: counts, no money
    add_order(con, 1, "7.0000", status_id=11, refunded=None, created="2024-05-01 23:59:59+00")  # no refund field
    for status in (0, 1, 5, 6, 7):  # incomplete, pending, cancelled, declined, awaiting payment
        add_order(con, 1, "1000.0000", status_id=status, created="2024-06-01 00:00:00+00")
    add_order(con, 1, "1000.0000", is_deleted=True, created="2024-06-02 00:00:00+00")  # archived

    t = compute(con)
    one = t[1]
    assert one["order_count"] == 7
    assert one["lifetime_value"] == 137.0  # 100 + (50-20) + 0 + 0 + 7
    assert one["average_order_value"] == 27.4  # 137 over the 5 orders with a usable total
    assert one["first_order_at"] == "2024-01-05T08:00:00Z"
    assert one["last_order_at"] == "2024-05-01T23:59:59Z"
    assert one["days_since_last_order"] == 60  # 2024-05-01 -> 2024-06-30
    assert isinstance(one["order_count"], int) and isinstance(one["lifetime_value"], float)
    assert t[2] == {"average_order_value": None, "days_since_last_order": None, "first_order_at": None,
                    "last_order_at": None, "lifetime_value": 0.0, "order_count": 0, "rfm_score": None,
                    "rfm_segment": None}


def test_money_is_converted_to_the_store_default_currency(con: Any) -> None:
    add_customer(con, 1)
    add_order(con, 1, "50.0000", currency=("EUR", "USD", "0.5000000000"))  # 50 EUR at 0.5 -> 100 USD
    add_order(con, 1, "30.0000", refunded="10.0000", currency=("EUR", "USD", "2.0000000000"))  # 20/2 -> 10
    add_order(con, 1, "7.0000", currency=("USD", "USD", "3.0000000000"))  # same currency: as is
    add_order(con, 1, "9.0000", currency=("USD", None, None))  # single-currency store: as is
    add_order(con, 1, "99.0000", currency=("EUR", "USD", "oops"))  # unusable rate: no money, still an order
    one = compute(con)[1]
    assert one["order_count"] == 5
    assert one["lifetime_value"] == 126.0
    assert one["average_order_value"] == 31.5


def test_staging_without_the_optional_currency_columns(tmp_path: Path) -> None:
    con = staged_db(tmp_path / "one_currency.duckdb", currency_columns=False)
    add_customer(con, 1)
    add_order(con, 1, "12.5000")
    add_order(con, 1, "0.5000")
    assert compute(con)[1]["lifetime_value"] == 13.0


def test_guest_orders_go_to_the_customer_with_that_email(con: Any) -> None:
    add_customer(con, 1, "ann@example.com")
    add_customer(con, 2, "bob@example.com")
    add_order(con, 1, "10.0000", created="2024-01-01 00:00:00+00")
    add_order(con, 0, "40.0000", email="  Ann@EXAMPLE.com ", created="2024-02-01 00:00:00+00")
    add_order(con, 0, "5.0000", email="nobody@example.com")  # matches no customer
    add_order(con, 0, "6.0000", email="")  # no email at all
    add_order(con, 0, "7.0000", email="ANN@example.com", status_id=5)  # cancelled: never counted
    add_order(con, 0, "8.0000", email="stranger@example.com", status_id=1)  # pending: not in the count
    t = compute(con)
    assert (t[1]["order_count"], t[1]["lifetime_value"]) == (2, 50.0)
    assert t[1]["last_order_at"] == "2024-02-01T00:00:00Z"
    assert t[2]["order_count"] == 0
    assert 0 not in t
    assert count_from_sql(con, GUESTS_SQL) == 2


def test_only_guest_orders_are_matched_by_email_and_never_to_a_deleted_customer(con: Any) -> None:
    con.execute("ALTER TABLE bigcommerce.customers ADD COLUMN _deleted_at TIMESTAMP")
    add_customer(con, 1, "ann@example.com")
    add_customer(con, 2, "bob@example.com")
    add_customer(con, 3, "gone@example.com")
    con.execute("UPDATE bigcommerce.customers SET _deleted_at = TIMESTAMP '2024-05-01 00:00:00' WHERE id = 3")
    add_order(con, 2, "10.0000", email="ann@example.com")  # bob's own order, billed to ann's email: bob's
    add_order(con, 0, "20.0000", email="gone@example.com")  # the customer was deleted: unattributed
    add_order(con, 0, "30.0000", email="Ann@Example.com")  # a guest order: ann's
    con.execute("INSERT INTO bigcommerce.orders (id, customer_id, status_id, is_deleted, total_inc_tax, "
                "refunded_amount, date_created, billing_address) VALUES "
                "(9001, 0, 10, false, '40.0000', '0', '2024-01-01 00:00:00+00', '{\"email\": null}'), "
                "(9002, 0, 10, false, '50.0000', '0', '2024-01-01 00:00:00+00', NULL), "
                "(9003, 0, 10, NULL, '60.0000', '0', '2024-01-01 00:00:00+00', '{\"email\": \"bob@example.com\"}')")
    t = compute(con)
    assert (t[1]["order_count"], t[1]["lifetime_value"]) == (1, 30.0)
    assert (t[2]["order_count"], t[2]["lifetime_value"]) == (2, 70.0)  # its own, and guest 9003 (is_deleted NULL)
    assert t[3]["order_count"] == 0
    assert count_from_sql(con, GUESTS_SQL) == 3  # gone@, a null email, no billing address


# -- RFM ----------------------------------------------------------------------------------------
def population(con: Any, cells: list[tuple[int, int, int]]) -> None:
    """Customers 1..5 with the given (R, F, M) scores: R orders the last order dates, F the
    order counts, M the lifetime values; customer 6 has no orders."""
    for cid, (r, f, m) in enumerate(cells, start=1):
        add_customer(con, cid)
        for n in range(f):
            last = n == f - 1
            created = f"2024-05-{10 + r:02d} 12:00:00+00" if last else f"2023-01-{cid:02d} 12:00:00+00"
            add_order(con, cid, f"{m * 1000 / f:.4f}", created=created)
    add_customer(con, 6)


@pytest.mark.parametrize(("cells", "names"), [
    ([(5, 5, 5), (4, 4, 4), (3, 3, 3), (2, 2, 2), (1, 1, 1)],
     ["champions", "loyal", "need attention", "hibernating", "lost"]),
    ([(5, 1, 1), (4, 2, 2), (3, 5, 5), (2, 4, 4), (1, 3, 3)],
     ["new customers", "potential loyalists", "loyal", "at risk", "at risk"]),
    ([(5, 3, 3), (4, 1, 1), (3, 2, 2), (2, 5, 5), (1, 4, 4)],
     ["potential loyalists", "promising", "about to sleep", "can't lose them", "at risk"]),
])
def test_rfm_segment_names(con: Any, cells: list[tuple[int, int, int]], names: list[str]) -> None:
    population(con, cells)
    t = compute(con)
    assert [t[cid]["rfm_score"] for cid in range(1, 6)] == [f"{r}{f}{m}" for r, f, m in cells]
    assert [t[cid]["rfm_segment"] for cid in range(1, 6)] == names
    assert t[6]["rfm_segment"] is None


def test_equal_values_share_a_score(con: Any) -> None:
    for cid in range(1, 11):  # ten one-order buyers, same day, same amount
        add_customer(con, cid)
        add_order(con, cid, "10.0000", created="2024-01-01 00:00:00+00")
    t = compute(con)
    assert {t[cid]["rfm_score"] for cid in range(1, 11)} == {"111"}


# -- hashes -------------------------------------------------------------------------------------
def test_hashes_are_stable_and_follow_the_data(con: Any) -> None:
    population(con, [(5, 5, 5), (4, 4, 4), (3, 3, 3), (2, 2, 2), (1, 1, 1)])
    spec = load_spec(TRAITS_SQL)
    compute_traits(con, spec, as_of=AS_OF)
    before = traits_hashes(con)
    text = con.execute(f"SELECT CAST(traits AS VARCHAR) FROM {TRAITS_TABLE} WHERE key = 3").fetchone()[0]
    assert before[3] == hashlib.md5(text.encode()).hexdigest()
    assert list(json.loads(text)) == sorted(json.loads(text))  # stable key order
    con.execute("SET TimeZone = 'America/New_York'")  # the session's time zone changes nothing
    compute_traits(con, spec, as_of=AS_OF)
    assert traits_hashes(con) == before
    assert con.execute("SELECT current_setting('TimeZone')").fetchone()[0] == "America/New_York"
    # customer 3's middle order grows a little: its money rank stays, only its hash changes
    con.execute("UPDATE bigcommerce.orders SET total_inc_tax = '1100.0000' WHERE id = "
                "(SELECT min(id) FROM bigcommerce.orders WHERE customer_id = 3)")
    compute_traits(con, spec, as_of=AS_OF)
    after = traits_hashes(con)
    assert {k for k in before if before[k] != after[k]} == {3}
    assert traits_for(con, [3, 99]) == {3: traits_for(con)[3]}  # keys without a row: no traits


def test_a_missing_orders_table_reads_as_empty_and_leaves_no_trace(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "customers_only.duckdb"))
    con.execute("CREATE SCHEMA bigcommerce; CREATE TABLE bigcommerce.customers (id BIGINT, email VARCHAR)")
    con.execute("INSERT INTO bigcommerce.customers VALUES (1, 'a@example.com'), (2, NULL)")
    assert compute_traits(con, load_spec(TRAITS_SQL), as_of=AS_OF) == 2
    assert traits_for(con)[1]["order_count"] == 0
    assert count_from_sql(con, GUESTS_SQL) == 0
    tables = con.execute("SELECT schema_name || '.' || table_name FROM duckdb_tables() "
                         "WHERE NOT temporary").fetchall()
    assert tables == [("bigcommerce.customers",)]


# -- errors -------------------------------------------------------------------------------------
BROKEN = (
    "-- my traits\n"                              # 1
    "SELECT\n"                                    # 2
    "    c.id AS customer_id,\n"                  # 3
    "    count(o.idd) AS order_count\n"          # 4
    "FROM bigcommerce.customers AS c\n"           # 5
    "LEFT JOIN bigcommerce.orders AS o ON o.customer_id = c.id\n"
    "GROUP BY 1;\n"
)


def test_a_sql_error_names_the_sql_file_and_line(tmp_path: Path, con: Any) -> None:
    sql = tmp_path / "broken.sql"
    sql.write_text(BROKEN)
    for connection in (None, con):
        with pytest.raises(MappingError) as info:
            check_traits(load_spec(sql), connection)
        (issue,) = info.value.issues
        assert (issue.file, issue.line, issue.column) == (str(sql), 4, 11)
        assert "idd" in issue.message and "LINE" not in issue.message
    with pytest.raises(MappingError) as info:
        compute_traits(con, load_spec(sql), as_of=AS_OF)
    assert str(info.value).startswith(f"{sql}:4:")
    sql.write_text("SELECT id AS customer_id\nFROM bigcommerce.customers\nWHERE (id = 1\n")
    with pytest.raises(MappingError) as info:
        check_traits(load_spec(sql))
    assert info.value.issues[0].line == 3


@pytest.mark.parametrize(("sql", "message"), [
    ("SELECT id FROM bigcommerce.customers", "no key column 'customer_id'"),
    ("SELECT id AS customer_id, 1 AS traits FROM bigcommerce.customers", "a column is named 'traits'"),
    ("SELECT email AS customer_id FROM bigcommerce.customers", "not an integer"),
    ("SELECT id AS customer_id, $since AS x FROM bigcommerce.customers", "unknown parameter $since"),
    ("SELECT 1 AS customer_id; SELECT 2 AS customer_id", "2 statements"),
    ("DELETE FROM bigcommerce.customers", "DELETE statement"),
])
def test_shape_errors(sql: str, message: str) -> None:
    with pytest.raises(MappingError, match=message.replace("$", r"\$")):
        check_traits(TraitsSpec("t.sql", sql))


def test_duplicate_keys_stop_the_run_naming_the_key(con: Any) -> None:
    add_customer(con, 7)
    add_order(con, 7)
    add_order(con, 7)
    spec = TraitsSpec("dup.sql", "SELECT customer_id, id FROM bigcommerce.orders", "customer_id")
    assert check_traits(spec, con) == ["customer_id", "id"]
    with pytest.raises(MappingError, match=r"dup.sql:1:1: traits: the key column 'customer_id' must be unique.*7 \(2 rows\)"):
        compute_traits(con, spec, as_of=AS_OF)


def test_as_of_and_the_key_option(con: Any) -> None:
    add_customer(con, 5)
    spec = TraitsSpec("k.sql", "SELECT id AS cid, $as_of AS asof, CAST($as_of AS DATE) AS day\n"
                               "FROM bigcommerce.customers;  -- done\n", "cid")
    assert compute_traits(con, spec, as_of=datetime(2024, 2, 29, 23, 30)) == 1
    assert traits_for(con) == {5: {"asof": "2024-02-29T23:30:00Z", "day": "2024-02-29"}}


# -- the loader ---------------------------------------------------------------------------------
HEAD = "version: 1\nfields:\n  - to: externalId\n    template: 'bc-{store_hash}-{$.id}'\n"


def test_loader_reports_bad_traits_sections(tmp_path: Path) -> None:
    def issues(traits: str) -> list[str]:
        with pytest.raises(MappingError) as info:
            load_mapping_bytes(f"{HEAD}traits: {traits}\n".encode(), str(tmp_path / "m.yaml"))
        return [str(i) for i in info.value.issues]

    missing = issues("{sql: nope.sql}")
    assert len(missing) == 1 and missing[0].startswith(f"{tmp_path / 'm.yaml'}:5:15: traits.sql: cannot read")
    assert issues("5")[0].startswith(f"{tmp_path / 'm.yaml'}:5:9: traits: traits must be a mapping")
    assert "missing `sql:`" in issues("{key: id}")[0]
    (tmp_path / "x.sql").write_text("SELECT id AS customer_id FROM bigcommerce.customers")
    assert issues("{sql: x.sql, file: y}") == [
        f"{tmp_path / 'm.yaml'}:5:22: traits.file: unknown option 'file' (options: key, sql)"]
    assert "key must be a column name" in issues("{sql: x.sql, key: [a]}")[0]
    (tmp_path / "bad.sql").write_text(BROKEN)
    assert issues("{sql: bad.sql}")[0].startswith(f"{tmp_path / 'bad.sql'}:4:11: traits: Binder Error")


def test_the_mapping_sha_follows_the_sql_file(tmp_path: Path) -> None:
    sql = tmp_path / "t.sql"
    sql.write_text("SELECT id AS customer_id FROM bigcommerce.customers")
    yaml_path = tmp_path / "m.yaml"
    yaml_path.write_text(f"{HEAD}traits: {{sql: t.sql}}\n")
    first = load_mapping(yaml_path)
    assert first.traits is not None and first.traits.key == "customer_id"
    assert first.traits.path == str(sql) and first.traits.sha256 == hashlib.sha256(sql.read_bytes()).hexdigest()
    sql.write_text("SELECT id AS customer_id, email FROM bigcommerce.customers")
    assert load_mapping(yaml_path).sha256 != first.sha256
    plain = load_mapping_bytes(HEAD.encode(), str(yaml_path))
    assert plain.traits is None and plain.sha256 == hashlib.sha256(HEAD.encode()).hexdigest()


def test_the_default_mapping_sends_the_traits(con: Any) -> None:
    add_customer(con, 1, "ann@example.com")
    add_order(con, 1, "20.0000", created="2024-01-02 03:04:05+00")
    add_order(con, 1, "30.5000", created="2024-03-04 05:06:07+00")
    mapping = load_mapping(DEFAULT_MAPPING_PATH)
    assert mapping.traits is not None
    check_traits(mapping.traits, con)
    compute_traits(con, mapping.traits, as_of=AS_OF)
    customer = {"id": 1, "email": "ann@example.com", "first_name": "Ann", "traits": traits_for(con, [1])[1]}
    rec = mapping.map(customer, {"store_hash": "s1"})
    assert rec.rejection is None, rec.rejection
    attrs = rec.payload["customAttributes"]  # type: ignore[index]
    assert attrs["bc_order_count"] == 2
    assert attrs["bc_lifetime_value"] == 50.5
    assert attrs["bc_average_order_value"] == 25.25
    assert attrs["bc_first_order_at"] == "2024-01-02T03:04:05Z"
    assert attrs["bc_last_order_at"] == "2024-03-04T05:06:07Z"
    assert attrs["bc_rfm_segment"] == "lost"  # the store's only buyer scores 1 on every count
    assert "bc_days_since_last_order" not in attrs
