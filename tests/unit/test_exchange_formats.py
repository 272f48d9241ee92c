"""The exchange writers: golden files, totals against the reconciliation row, determinism,
the JSON Schema, the XDTO packages, and Hypothesis round trips through independent readers.

Run with ``UPDATE_GOLDEN=1`` to rewrite the golden files after an intended change,
then read the diff before committing it.
"""

from __future__ import annotations

import functools
import json
import os
import string
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec import structs

from cashserver.config import Config, ExchangeConfig, StoreConfig
from cashserver.domain import Line, Payment, PaymentMethod, Receipt, ReceiptKind, Shift
from cashserver.exchange import EXTENSIONS, RENDERERS, enterprisedata, frontol, json_format
from cashserver.reconcile import (
    ShiftReport,
    compute_totals,
    counters_from_totals,
    make_report,
    reconciliation_row,
)
from tests import xdto_check
from tests.frontol_reader import CARD, CASH, FrontolFormatError, read_report

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden"
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"
ED_121 = "1.21"

needs_packages = pytest.mark.skipif(
    xdto_check.packages_missing() is not None,
    reason=xdto_check.packages_missing() or "",
)

# --- The fixed shift of the golden files -----------------------------------------

T0 = 1710485700000
"""2024-03-15T06:55:00Z: 11:55 in Yekaterinburg, the golden store's time zone."""
MINUTE = 60_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _uid(n: int) -> str:
    return str(uuid.UUID(int=0x5A1E_0000_0000_4000_8000_0000_0000_0000 + n))


def golden_receipts() -> list[Receipt]:
    coffee = Line(1, "1001", "4600000000017", "Кофе «Арабика»; 250 г", "1", 2000, 34950, 69900,
                  vat_rate=2000)  # fmt: skip
    cheese = Line(2, "2002", "2200000005487", "Сыр весовой", "2", 548, 89900, 46266, 2999, 1000)
    brulee = Line(1, "3003", "", "Crème brûlée ☕ и\u0306", "1", 1000, 25000, 25000, 0, 2000)
    water = Line(1, "4004", "4600000000024", "Вода 0,5 л\r\nнегаз.", "", 3000, 4500, 13500, 0, 0)
    tax_5 = Line(2, "5005", "", "Книга", "3", 1000, 60000, 60000, 0, 500)
    return [
        Receipt(_uid(1), 1, ReceiptKind.CASH_IN, T0 + 2 * MINUTE, "Иванова И.",
                payments=(Payment(PaymentMethod.CASH, 500000),)),
        Receipt(_uid(2), 2, ReceiptKind.SALE, T0 + 65 * MINUTE + 123, "Иванова И.",
                (coffee, cheese), (Payment(PaymentMethod.CASH, 116166),)),
        Receipt(_uid(3), 3, ReceiptKind.SALE, T0 + 130 * MINUTE, "Петров; П.",
                (brulee, tax_5),
                (Payment(PaymentMethod.CASH, 5000), Payment(PaymentMethod.NONCASH, 80000))),
        Receipt(_uid(4), 4, ReceiptKind.RETURN, T0 + 200 * MINUTE, "Петров; П.",
                (brulee,), (Payment(PaymentMethod.NONCASH, 25000),)),
        Receipt(_uid(5), 5, ReceiptKind.CANCELLED, T0 + 300 * MINUTE, "Иванова И.", (water,)),
        Receipt(_uid(6), 6, ReceiptKind.SALE, T0 + 400 * MINUTE, "Иванова И.",
                (water,), (Payment(PaymentMethod.CASH, 13500),)),
        Receipt(_uid(7), 7, ReceiptKind.CASH_OUT, T0 + 600 * MINUTE, "Иванова И.",
                payments=(Payment(PaymentMethod.CASH, 300000),)),
    ]  # fmt: skip


def golden_report() -> ShiftReport:
    receipts = golden_receipts()
    counters = counters_from_totals(compute_totals(receipts), 1, 7)
    shift = Shift("shop-01", "K1", 42, T0, T0 + 720 * MINUTE, counters)
    return make_report(1001, shift, receipts)


def golden_config(version: str = "1.11") -> Config:
    return Config(
        exchange=ExchangeConfig(
            formats=("json", "enterprisedata", "frontol"),
            enterprisedata_version=version,
            organization_name='ООО "Ромашка" & Ко',
            organization_inn="6671000001",
            organization_kpp="667101001",
            frontol_database_id=3,
        ),
        stores={"shop-01": StoreConfig(timezone="Asia/Yekaterinburg", name="Магазин «На Ленина»")},
    )


GOLDEN_CASES = {
    "json": ("json", "1.11", "json"),
    "enterprisedata": ("enterprisedata", "1.11", "xml"),
    "enterprisedata-1.21": ("enterprisedata", ED_121, "ed121.xml"),
    "frontol": ("frontol", "1.11", "txt"),
}


def row_of(report: ShiftReport) -> dict[str, object]:
    return reconciliation_row(report.workshift_id, report.shift, report.totals, report.status)


# --- Readers used by the assertions ------------------------------------------------


def _ed(tag: str, version: str) -> str:
    return f"{{{xdto_check.ENTERPRISEDATA_NS.format(version=version)}}}{tag}"


def ed_figures(data: bytes, version: str) -> dict[str, int]:
    """Kopecks in an EnterpriseData message: document sum, goods sold/returned, cards."""
    root = ET.fromstring(data)
    document = root.find(f"{_ed('Body', version)}/{_ed(enterprisedata.DOCUMENT_TYPE, version)}")
    assert document is not None

    def kopecks(path: str) -> int:
        found = document.findall("/".join(_ed(part, version) for part in path.split("/")))
        return sum(int(Decimal(el.text or "") * 100) for el in found)

    return {
        "sum": kopecks("Сумма"),
        "sold": kopecks("ТоварыПродажа/Строка/Сумма"),
        "returned": kopecks("ТоварыВозвратПродажи/Строка/Сумма"),
        "cards": kopecks("ОплатаПлатежнымиКартами/Строка/СуммаОплаты"),
    }


def expected_frontol_document(receipt: Receipt) -> dict[str, object]:
    """What the reader must find for ``receipt``, computed from the domain alone."""
    payments: Counter[int] = Counter()
    for payment in receipt.payments:
        payments[CASH if payment.method is PaymentMethod.CASH else CARD] += payment.amount
    cash = sum(p.amount for p in receipt.payments if p.method is PaymentMethod.CASH)
    operation = {ReceiptKind.SALE: 0, ReceiptKind.RETURN: 1, ReceiptKind.CANCELLED: 0}
    if receipt.kind is ReceiptKind.CASH_IN:
        return {"operation": 4, "total": cash, "cash_in": cash, "cash_out": 0, "payments": {}}
    if receipt.kind is ReceiptKind.CASH_OUT:
        return {"operation": 5, "total": cash, "cash_in": 0, "cash_out": cash, "payments": {}}
    return {
        "operation": operation[receipt.kind],
        "total": None if receipt.kind is ReceiptKind.CANCELLED else sum(payments.values()),
        "cancelled": receipt.kind is ReceiptKind.CANCELLED,
        "items_sum": sum(line.amount for line in receipt.lines),
        "payments": dict(payments),
    }


def check_frontol(data: bytes, report: ShiftReport, config: Config) -> None:
    """The file read back gives the receipts' documents and the reconciliation row."""
    parsed = read_report(data)
    shift = report.shift
    assert parsed.flag == "#"
    assert parsed.database_id == str(config.exchange.frontol_database_id)
    assert parsed.report_number == str(report.workshift_id)
    keys = [f"{shift.register_code}/{shift.shift_number}/{r.number}" for r in report.receipts]
    assert list(parsed.documents) == keys
    for key, receipt in zip(keys, report.receipts, strict=True):
        document = parsed.documents[key]
        expected = expected_frontol_document(receipt)
        found = {name: getattr(document, name) for name in expected}
        assert found == expected, key
    sums: Counter[tuple[int | None, int]] = Counter()
    for document in parsed.documents.values():
        for method, amount in document.payments.items():
            if not document.cancelled:
                sums[(document.operation, method)] += amount
    row, totals = row_of(report), report.totals
    assert sums[(0, CASH)] == row["sales_cash"]
    assert sums[(0, CARD)] == row["sales_noncash"]
    assert sums[(1, CASH)] == row["returns_cash"]
    assert sums[(1, CARD)] == row["returns_noncash"]
    assert sum(d.cash_in for d in parsed.documents.values()) == row["cash_in"]
    assert sum(d.cash_out for d in parsed.documents.values()) == row["cash_out"]
    types = [t.type for t in parsed.shift_transactions]
    assert types == ([62, 61, 63] if shift.closed_at is not None else [62])
    assert all(t.field(13) == ("8" if t.type == 62 else "10") for t in parsed.shift_transactions)
    if shift.closed_at is not None:
        z_report = parsed.shift_transactions[-1]
        assert z_report.amount(10) == totals.revenue_cash + totals.revenue_noncash
        assert z_report.amount(11) == row["drawer"]
        assert z_report.amount(12) == totals.sales_cash + totals.sales_noncash


def check_enterprisedata(data: bytes, report: ShiftReport, version: str) -> None:
    """Valid against the XDTO packages, and the sums agree with the reconciliation row."""
    assert xdto_check.check_message(data) == []
    figures = ed_figures(data, version)
    totals = report.totals
    assert figures["sum"] == totals.revenue_cash + totals.revenue_noncash
    assert figures["cards"] == totals.revenue_noncash
    lines = {
        kind: sum(line.amount for r in report.receipts if r.kind is kind for line in r.lines)
        for kind in (ReceiptKind.SALE, ReceiptKind.RETURN)
    }
    assert figures["sold"] == lines[ReceiptKind.SALE]
    assert figures["returned"] == lines[ReceiptKind.RETURN]


def receipts_from_json(document: dict[str, object]) -> tuple[Receipt, ...]:
    """Domain receipts rebuilt from a JSON exchange file."""

    def ms(text: str) -> int:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return (moment - EPOCH) // timedelta(milliseconds=1)

    receipts = document["receipts"]
    assert isinstance(receipts, list)
    return tuple(
        Receipt(
            uid=r["uid"],
            number=r["number"],
            kind=ReceiptKind[r["kind"]],
            closed_at=ms(r["closed_at"]),
            cashier=r["cashier"],
            lines=tuple(Line(**line) for line in r["lines"]),
            payments=tuple(Payment(PaymentMethod[p["method"]], p["amount"]) for p in r["payments"]),
        )
        for r in receipts
    )


@functools.cache
def shift_validator() -> jsonschema.Draft202012Validator:
    """A validator for the shipped schema (read as package data, as consumers would)."""
    return jsonschema.Draft202012Validator(json_format.shift_schema())


def check_json(data: bytes, report: ShiftReport) -> None:
    assert data.endswith(b"\n")
    document = json.loads(data)
    shift_validator().validate(document)
    assert {k: document[k] for k in row_of(report)} == row_of(report)
    assert set(document) == {*row_of(report), "counters", "receipts"}
    counters = report.shift.counters
    assert document["counters"] == (structs.asdict(counters) if counters else None)
    assert receipts_from_json(document) == report.receipts


# --- Golden files and fixed-shift checks ---------------------------------------


@pytest.mark.parametrize("case", list(GOLDEN_CASES))
def test_golden_file(case: str) -> None:
    fmt, version, extension = GOLDEN_CASES[case]
    rendered = RENDERERS[fmt](golden_report(), golden_config(version))
    path = GOLDEN_DIR / f"shift-1001.{extension}"
    if UPDATE_GOLDEN:
        GOLDEN_DIR.mkdir(exist_ok=True)
        path.write_bytes(rendered)
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1 and review it"
    assert rendered == path.read_bytes()


@pytest.mark.parametrize("fmt", list(RENDERERS))
def test_rendering_is_deterministic(fmt: str) -> None:
    first = RENDERERS[fmt](golden_report(), golden_config())
    receipts_reversed = list(reversed(golden_receipts()))
    again = make_report(1001, golden_report().shift, receipts_reversed)
    assert RENDERERS[fmt](again, golden_config()) == first
    assert RENDERERS[fmt](golden_report(), golden_config()) == first


def test_extensions_cover_every_format() -> None:
    assert set(EXTENSIONS) == set(RENDERERS) == {"json", "enterprisedata", "frontol"}
    assert EXTENSIONS == {"json": "json", "enterprisedata": "xml", "frontol": "txt"}


def test_golden_json_holds_row_counters_and_receipts() -> None:
    report = golden_report()
    check_json(json_format.render(report, golden_config()), report)
    assert row_of(report)["status"] == "ok"


def test_json_schema_is_valid_and_refuses_a_malformed_document() -> None:
    jsonschema.Draft202012Validator.check_schema(json_format.shift_schema())
    document = json.loads(json_format.render(golden_report(), golden_config()))
    document["receipts"][0]["payments"][0]["amount"] = 12.5
    with pytest.raises(jsonschema.ValidationError, match=r"12\.5"):
        shift_validator().validate(document)
    del document["receipts"][0]["payments"][0]["amount"]
    document["receipts"][0]["kind"] = "REFUND"
    assert len(list(shift_validator().iter_errors(document))) == 2


@needs_packages
@pytest.mark.parametrize("version", ["1.11", ED_121])
def test_golden_enterprisedata_is_valid_and_adds_up(version: str) -> None:
    report = golden_report()
    data = enterprisedata.render(report, golden_config(version))
    check_enterprisedata(data, report, version)
    assert ed_figures(data, version) == {
        "sum": 189666,
        "sold": 214666,
        "returned": 25000,
        "cards": 55000,
    }


@needs_packages
def test_enterprisedata_vat_rates_follow_the_package_version() -> None:
    old = enterprisedata.render(golden_report(), golden_config("1.11")).decode()
    new = enterprisedata.render(golden_report(), golden_config(ED_121)).decode()
    assert "<СтавкаНДС>НДС20</СтавкаНДС>" in old
    assert "<СтавкаНДС>БезНДС</СтавкаНДС>" in old
    assert "<ВидСтавки>Пониженная</ВидСтавки>" in new
    assert "<Ставка>20</Ставка>" in new
    assert old.count("<СтавкаНДС>") == new.count("<СтавкаНДС>") == 5  # the 5 % line has none


def test_enterprisedata_is_dated_by_the_shift_close_in_store_time() -> None:
    data = enterprisedata.render(golden_report(), golden_config()).decode()
    # Closed 12 hours after 06:55Z; Yekaterinburg is UTC+5.
    assert "<msg:CreationDate>2024-03-15T23:55:00</msg:CreationDate>" in data
    assert "<Дата>2024-03-15T23:55:00</Дата>" in data


def test_enterprisedata_reference_is_derived_from_the_shift() -> None:
    def reference(workshift_id: int, register: str = "K1") -> str:
        shift = structs.replace(golden_report().shift, register_code=register)
        report = make_report(workshift_id, shift, golden_receipts())
        root = ET.fromstring(enterprisedata.render(report, golden_config()))
        key = f"{_ed('Body', '1.11')}/*/{_ed('КлючевыеСвойства', '1.11')}/{_ed('Ссылка', '1.11')}"
        return str(uuid.UUID(root.findtext(key) or ""))

    assert reference(1001) == reference(1001)
    assert len({reference(1001), reference(1002), reference(1001, "K2")}) == 3


def test_golden_frontol_reads_back() -> None:
    report = golden_report()
    config = golden_config()
    data = frontol.render(report, config)
    check_frontol(data, report, config)
    lines = data.split(b"\r\n")
    assert lines[-1] == b""
    assert {line.count(b";") for line in lines[3:-1]} == {frontol.FIELD_COUNT}


def test_frontol_values_are_made_safe_for_windows_1251() -> None:
    golden = read_report(frontol.render(golden_report(), golden_config()))
    assert golden.documents["K1/42/3"].transactions[0].field(7) == "Петров¤ П."
    awkward = "Crème brûlée ☕ и\u0306;\u037e\r\n"
    line = Line(1, awkward, "", "", "", 1000, 100, 100)
    receipt = Receipt(_uid(9), 1, ReceiptKind.SALE, T0, awkward, (line,),
                      (Payment(PaymentMethod.CASH, 100),))  # fmt: skip
    data = frontol.render(make_report(5, Shift("s", "r", 1, T0), [receipt]), Config())
    registration = read_report(data).documents["r/1/1"].transactions[1]
    # Decomposed "й" is composed, accents are dropped, the cup has no stand-in, and
    # neither ";" nor the Greek question mark (which decomposes to ";") splits a field.
    assert registration.field(7) == registration.field(8) == "Creme brulee ? й¤¤  "


def test_frontol_times_are_local_with_an_unpadded_hour() -> None:
    receipt = Receipt(_uid(9), 1, ReceiptKind.CASH_IN, 1710538200000, "",
                      payments=(Payment(PaymentMethod.CASH, 100),))  # fmt: skip
    report = make_report(5, Shift("s", "r", 1, 1710536400000), [receipt])
    config = Config()  # Europe/Moscow: 21:30Z is 0:30 on the next day.
    lines = frontol.render(report, config).decode("cp1251").split("\r\n")
    assert lines[3].split(";")[1:4] == ["16.03.2024", "0:00:00", "62"]
    assert lines[4].split(";")[1:4] == ["16.03.2024", "0:30:00", "42"]
    assert len(lines) == 3 + 4 + 1  # an open shift has no 61/63 lines


def test_open_shift_dates_the_report_by_its_last_receipt() -> None:
    receipts = golden_receipts()
    report = make_report(7, Shift("shop-01", "K1", 42, T0), receipts)
    data = enterprisedata.render(report, golden_config()).decode()
    assert "<Дата>2024-03-15T21:55:00</Дата>" in data  # the cash out, T0 + 600 min
    parsed = read_report(frontol.render(report, golden_config()))
    assert [t.type for t in parsed.shift_transactions] == [62]


# --- The test utilities must catch faults, or the checks above prove nothing ----


@needs_packages
def test_xdto_checker_reports_faults() -> None:
    good = enterprisedata.render(golden_report(), golden_config()).decode()
    assert xdto_check.check_message(good.encode()) == []
    faults = {
        "order": good.replace(
            "<Сумма>699.00</Сумма>\n\t\t\t\t\t<Цена>349.50</Цена>",
            "<Цена>349.50</Цена>\n\t\t\t\t\t<Сумма>699.00</Сумма>",
        ),
        "enumeration": good.replace("НДС10", "НДС11"),
        "fraction digits": good.replace("<Цена>349.50</Цена>", "<Цена>349.505</Цена>"),
        "required": good.replace("<НомерКарты></НомерКарты>", ""),
        "closed type": good.replace("<ОплатаПлатежнымиКартами>", "<ОплатаПлатежнымиКартами><X/>"),
        "max length": good.replace("<КПП>667101001</КПП>", "<КПП>6671010010</КПП>"),
        "envelope": good.replace("<msg:AvailableVersion>1.11</msg:AvailableVersion>", ""),
        "boolean": good.replace("<СуммаВключаетНДС>true<", "<СуммаВключаетНДС>yes<"),
        "dateTime": good.replace("<Дата>2024-03-15T23:55:00<", "<Дата>15.03.2024<"),
    }
    for name, text in faults.items():
        assert text != good, name
        assert xdto_check.check_message(text.encode()), name


def test_frontol_reader_refuses_gaps_and_bare_line_feeds() -> None:
    data = frontol.render(golden_report(), golden_config())
    with pytest.raises(FrontolFormatError, match="transaction number"):
        read_report(data.replace(b"\r\n5;", b"\r\n6;", 1))
    with pytest.raises(FrontolFormatError, match="CRLF"):
        read_report(data.replace(b"\r\n", b"\n"))
    with pytest.raises(FrontolFormatError, match="h:mm:ss"):
        read_report(data.replace(b";13:00:00;", b";13:00;", 1))


# --- Hypothesis: random valid shifts --------------------------------------------

CODES = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=32)
AWKWARD = ";&<>\r\n\t\x00\x0b¤«»№€éèй\u0306☕\u037e\uff1b\u2028\ufffe"
TEXTS = st.text(st.one_of(st.characters(codec="utf-8"), st.sampled_from(AWKWARD)), max_size=16)
TIMES = st.integers(946684800000, 4102444800000)  # 2000-2100
MONEY = st.integers(0, 10**9)
VAT_RATES = st.sampled_from([0, 1000, 2000, 1800, 500, 700, 1234])
TIME_ZONES = st.sampled_from(
    ["Europe/Moscow", "Europe/Kaliningrad", "Asia/Vladivostok", "UTC", "America/St_Johns"]
)


@st.composite
def lines(draw: st.DrawFn) -> Line:
    return Line(
        position=draw(st.integers(0, 2**31 - 1)),
        item_code=draw(TEXTS),
        barcode=draw(st.one_of(st.text(string.digits, max_size=14), TEXTS)),
        name=draw(TEXTS),
        department=draw(TEXTS),
        quantity=draw(st.integers(0, 10**7)),
        price=draw(MONEY),
        amount=draw(MONEY),
        discount=draw(MONEY),
        vat_rate=draw(VAT_RATES),
    )


@st.composite
def receipts(draw: st.DrawFn, uid: str, number: int) -> Receipt:
    kind = draw(st.sampled_from(ReceiptKind))
    closed_at = draw(TIMES)
    cashier = draw(TEXTS)
    if kind in (ReceiptKind.CASH_IN, ReceiptKind.CASH_OUT):
        payment = Payment(PaymentMethod.CASH, draw(MONEY))
        return Receipt(uid, number, kind, closed_at, cashier, (), (payment,))
    goods = tuple(draw(st.lists(lines(), max_size=4)))
    if kind is ReceiptKind.CANCELLED:
        return Receipt(uid, number, kind, closed_at, cashier, goods, ())
    total = sum(line.amount for line in goods)
    methods = draw(st.lists(st.sampled_from(PaymentMethod), min_size=1, max_size=2))
    first = draw(st.integers(0, total)) if len(methods) == 2 else total
    amounts = [first, total - first][: len(methods)]
    payments = tuple(Payment(m, a) for m, a in zip(methods, amounts, strict=True))
    return Receipt(uid, number, kind, closed_at, cashier, goods, payments)


@st.composite
def reports(draw: st.DrawFn) -> ShiftReport:
    numbers = draw(st.lists(st.integers(1, 2**40), unique=True, max_size=12))
    uids = draw(st.lists(st.uuids(), unique=True, min_size=len(numbers), max_size=len(numbers)))
    drawn = [receipts(str(u), n) for u, n in zip(uids, numbers, strict=True)]
    shift_receipts = [draw(strategy) for strategy in drawn]
    totals = compute_totals(shift_receipts)
    counters = draw(
        st.sampled_from(
            [None, counters_from_totals(totals, min(numbers, default=0), max(numbers, default=0))]
        )
    )
    shift = Shift(
        store_code=draw(CODES),
        register_code=draw(CODES),
        shift_number=draw(st.integers(1, 2**63 - 1)),
        opened_at=draw(st.none() | TIMES),
        closed_at=draw(st.none() | TIMES),
        counters=counters,
    )
    return make_report(draw(st.integers(1, 2**63 - 1)), shift, shift_receipts)


@st.composite
def configs(draw: st.DrawFn, store_code: str) -> Config:
    store = StoreConfig(timezone=draw(TIME_ZONES), name=draw(st.sampled_from(["", "Склад №1"])))
    return Config(
        exchange=ExchangeConfig(
            enterprisedata_version=draw(st.sampled_from(["1.11", ED_121])),
            organization_name=draw(TEXTS),
            organization_inn=draw(st.sampled_from(["", "7701234567", "500100732259"])),
            organization_kpp=draw(st.sampled_from(["", "770101001"])),
            frontol_database_id=draw(st.integers(1, 10**6)),
        ),
        stores={store_code: store},
    )


@st.composite
def reports_and_configs(draw: st.DrawFn) -> tuple[ShiftReport, Config]:
    report = draw(reports())
    return report, draw(configs(report.shift.store_code))


PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(reports_and_configs())
def test_frontol_reads_back_to_the_receipts(case: tuple[ShiftReport, Config]) -> None:
    report, config = case
    check_frontol(frontol.render(report, config), report, config)


@needs_packages
@PROPERTY_SETTINGS
@given(reports_and_configs())
def test_enterprisedata_is_valid_xdto_and_adds_up(case: tuple[ShiftReport, Config]) -> None:
    report, config = case
    data = enterprisedata.render(report, config)
    check_enterprisedata(data, report, config.exchange.enterprisedata_version)


@PROPERTY_SETTINGS
@given(reports_and_configs())
def test_json_validates_and_round_trips(case: tuple[ShiftReport, Config]) -> None:
    report, config = case
    check_json(json_format.render(report, config), report)
