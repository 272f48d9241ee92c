"""The 1C EnterpriseData exchange message: one retail sales report a shift.

The message is what 1C's own exchange writes (its XDTO packages are in
``docs/formats/1c-enterprisedata``): a root ``Message`` in no namespace,
``msg:Header`` in the exchange-message namespace, then ``Body`` in the
EnterpriseData namespace (format 1.11 or 1.21, from
``config.exchange.enterprisedata_version``) holding one
``Документ.ОтчетОРозничныхПродажах``. Properties follow the XDTO package's order.

What goes where:

- ``КлючевыеСвойства``: ``Ссылка`` is a uuid5 of store, register and workshift_id,
  so a re-export updates the same document in 1C; ``Номер`` is the workshift_id;
  ``Дата`` (and the header's ``CreationDate``) is the shift's own time: its close,
  else its last receipt, else its open. 1C reads ``xs:dateTime`` values without
  an offset as local time, so every time is the store's wall-clock time.
- ``Организация`` comes from ``[exchange]`` (a 12-digit INN is an individual
  entrepreneur); ``Склад`` is the store (its configured name, else its code) and
  ``КассаККМ`` the register, each with a uuid5 ``Ссылка`` of its codes.
- ``Сумма`` is the shift's revenue (sales less returns, every method). Goods
  sold and returned are one row per receipt line of SALE and RETURN receipts;
  ``ОплатаПлатежнымиКартами`` has one row per NONCASH payment, negative for a
  return, so cash is ``Сумма`` less the card rows. CANCELLED, CASH_IN and
  CASH_OUT receipts are not part of a retail sales report.
- Money is written with 2 fraction digits, quantity with 3; the unit is the piece
  (OKEI 796), as receipts carry no unit of measure.
- ``СтавкаНДС``: rate 0 means "without VAT" (the register default); 20, 18 and
  10 % map to their rates; any other rate is left out rather than guessed.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from cashserver.config import Config
from cashserver.domain import Line, PaymentMethod, ReceiptKind
from cashserver.money import format_money
from cashserver.reconcile import ShiftReport

MESSAGE_NAMESPACE = "http://www.1c.ru/SSL/Exchange/Message"
ENTERPRISEDATA_NAMESPACE = "http://v8.1c.ru/edi/edi_stnd/EnterpriseData/{version}"
DOCUMENT_TYPE = "Документ.ОтчетОРозничныхПродажах"
REFERENCE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:cashserver:enterprisedata")
"""Root of the uuid5 references, so they never collide with another program's."""

_CURRENCY = ("643", "руб.")
_UNIT = ("796", "шт")
_BARCODE_MAX = 200
_VAT_ENUM = {2000: "НДС20", 1800: "НДС18", 1000: "НДС10", 0: "БезНДС"}
"""Up to format 1.16 ``СтавкаНДС`` is this enumeration."""
_VAT_OBJECT = {
    2000: ("20", "Общая"),
    1800: ("18", "Общая"),
    1000: ("10", "Пониженная"),
    0: ("", "БезНДС"),
}
"""From format 1.17 on it is an object: rate (none when exempt) and kind."""

_INDENT = tuple("\t" * depth for depth in range(16))
_NEEDS_ESCAPE = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _escape(value: str) -> str:
    """Text content: markup escaped, characters XML 1.0 forbids replaced by U+FFFD."""
    if _NEEDS_ESCAPE.search(value) is None:
        return value
    value = _NOT_XML.sub("\ufffd", value)
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def _quantity(thousandths: int) -> str:
    sign = "-" if thousandths < 0 else ""
    units, fraction = divmod(abs(thousandths), 1000)
    return f"{sign}{units}.{fraction:03d}"


def _local_time(ms: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ms // 1000, tz).strftime("%Y-%m-%dT%H:%M:%S")


def _document_ms(report: ShiftReport) -> int:
    shift = report.shift
    if shift.closed_at is not None:
        return shift.closed_at
    if report.receipts:
        return max(receipt.closed_at for receipt in report.receipts)
    return shift.opened_at if shift.opened_at is not None else 0


def _vat_is_object(version: str) -> bool:
    major, minor = (int(part) for part in version.split("."))
    return (major, minor) >= (1, 17)


def _reference(kind: str, *parts: object) -> str:
    return str(uuid.uuid5(REFERENCE_NAMESPACE, "/".join((kind, *map(str, parts)))))


class _Xml:
    """Indented element text, written in document order."""

    def __init__(self, depth: int) -> None:
        self.parts: list[str] = []
        self.depth = depth

    def open(self, tag: str) -> None:
        self.parts.append(f"{_INDENT[self.depth]}<{tag}>\n")
        self.depth += 1

    def close(self, tag: str) -> None:
        self.depth -= 1
        self.parts.append(f"{_INDENT[self.depth]}</{tag}>\n")

    def leaf(self, tag: str, text: str) -> None:
        self.parts.append(f"{_INDENT[self.depth]}<{tag}>{text}</{tag}>\n")

    def classifier(self, tag: str, code_and_name: tuple[str, str]) -> None:
        code, name = code_and_name
        self.open(tag)
        self.open("ДанныеКлассификатора")
        self.leaf("Код", code)
        self.leaf("Наименование", name)
        self.close("ДанныеКлассификатора")
        self.close(tag)


class _ReportWriter:
    def __init__(self, report: ShiftReport, config: Config) -> None:
        self.report = report
        self.exchange = config.exchange
        self.object_vat = _vat_is_object(config.exchange.enterprisedata_version)
        store = config.stores.get(report.shift.store_code)
        self.store_name = store.name if store and store.name else report.shift.store_code
        self.xml = _Xml(depth=2)
        self.names: dict[str, str] = {}

    def text(self, value: str) -> str:
        escaped = self.names.get(value)
        if escaped is None:
            escaped = self.names[value] = _escape(value)
        return escaped

    def organization(self) -> None:
        xml, exchange = self.xml, self.exchange
        xml.open("Организация")
        xml.leaf("Наименование", self.text(exchange.organization_name))
        if exchange.organization_inn:
            xml.leaf("ИНН", self.text(exchange.organization_inn))
        if exchange.organization_kpp:
            xml.leaf("КПП", self.text(exchange.organization_kpp))
        person = len(exchange.organization_inn) == 12
        xml.leaf("ЮридическоеФизическоеЛицо", "ФизическоеЛицо" if person else "ЮридическоеЛицо")
        xml.close("Организация")

    def vat(self, rate: int) -> None:
        xml = self.xml
        if not self.object_vat:
            if rate in _VAT_ENUM:
                xml.leaf("СтавкаНДС", _VAT_ENUM[rate])
            return
        if rate not in _VAT_OBJECT:
            return
        percent, kind = _VAT_OBJECT[rate]
        xml.open("СтавкаНДС")
        if percent:
            xml.leaf("Ставка", percent)
        xml.leaf("РасчетнаяСтавка", "false")
        xml.leaf("НеОблагается", "false" if percent else "true")
        xml.leaf("ВидСтавки", kind)
        xml.close("СтавкаНДС")

    def goods(self, tag: str, lines: Iterable[Line]) -> None:
        xml = self.xml
        row = 0
        for line in lines:
            if row == 0:
                xml.open(tag)
            row += 1
            xml.open("Строка")
            xml.leaf("НомерСтрокиДокумента", str(row))
            xml.open("ДанныеНоменклатуры")
            xml.open("Номенклатура")
            if line.item_code:
                xml.leaf("КодВПрограмме", self.text(line.item_code))
            xml.leaf("Наименование", self.text(line.name or line.item_code))
            xml.close("Номенклатура")
            if line.barcode and len(line.barcode) <= _BARCODE_MAX:
                xml.leaf("Штрихкод", self.text(line.barcode))
            xml.close("ДанныеНоменклатуры")
            xml.classifier("ЕдиницаИзмерения", _UNIT)
            xml.leaf("Количество", _quantity(line.quantity))
            xml.leaf("Сумма", format_money(line.amount))
            xml.leaf("Цена", format_money(line.price))
            self.vat(line.vat_rate)
            xml.close("Строка")
        if row:
            xml.close(tag)

    def card_payments(self) -> None:
        xml = self.xml
        sign = {ReceiptKind.SALE: 1, ReceiptKind.RETURN: -1}
        amounts = [
            sign[receipt.kind] * payment.amount
            for receipt in self.report.receipts
            if receipt.kind in sign
            for payment in receipt.payments
            if payment.method is PaymentMethod.NONCASH
        ]
        if not amounts:
            return
        xml.open("ОплатаПлатежнымиКартами")
        for amount in amounts:
            xml.open("Строка")
            xml.leaf("СуммаОплаты", format_money(amount))
            xml.leaf("НомерКарты", "")
            xml.close("Строка")
        xml.close("ОплатаПлатежнымиКартами")

    def document(self, when: str) -> None:
        report, xml = self.report, self.xml
        shift, totals = report.shift, report.totals
        xml.open(DOCUMENT_TYPE)
        xml.open("КлючевыеСвойства")
        key = (shift.store_code, shift.register_code, report.workshift_id)
        xml.leaf("Ссылка", _reference("ОтчетОРозничныхПродажах", *key))
        xml.leaf("Дата", when)
        xml.leaf("Номер", str(report.workshift_id))
        self.organization()
        xml.close("КлючевыеСвойства")
        xml.classifier("Валюта", _CURRENCY)
        xml.leaf("Сумма", format_money(totals.revenue_cash + totals.revenue_noncash))
        xml.leaf("СуммаВключаетНДС", "true")
        xml.open("Склад")
        xml.leaf("Ссылка", _reference("Склад", shift.store_code))
        xml.leaf("Наименование", self.text(self.store_name))
        xml.leaf("ТипСклада", "Розничный")
        xml.close("Склад")
        xml.open("КассаККМ")
        xml.leaf("Ссылка", _reference("КассаККМ", shift.store_code, shift.register_code))
        xml.leaf("Наименование", f"{shift.store_code}/{shift.register_code}")
        self.organization()
        xml.close("КассаККМ")
        for tag, kind in (
            ("ТоварыПродажа", ReceiptKind.SALE),
            ("ТоварыВозвратПродажи", ReceiptKind.RETURN),
        ):
            self.goods(tag, (line for r in report.receipts if r.kind is kind for line in r.lines))
        self.card_payments()
        xml.close(DOCUMENT_TYPE)


def render(report: ShiftReport, config: Config) -> bytes:
    """The EnterpriseData message of one shift, UTF-8 with an XML declaration."""
    version = config.exchange.enterprisedata_version
    namespace = ENTERPRISEDATA_NAMESPACE.format(version=version)
    when = _local_time(_document_ms(report), config.store_timezone(report.shift.store_code))
    writer = _ReportWriter(report, config)
    writer.document(when)
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Message xmlns:msg="{MESSAGE_NAMESPACE}">\n'
        "\t<msg:Header>\n"
        f"\t\t<msg:Format>{namespace}</msg:Format>\n"
        f"\t\t<msg:CreationDate>{when}</msg:CreationDate>\n"
        f"\t\t<msg:AvailableVersion>{version}</msg:AvailableVersion>\n"
        "\t</msg:Header>\n"
        f'\t<Body xmlns="{namespace}">\n'
    )
    tail = "\t</Body>\n</Message>\n"
    return (head + "".join(writer.xml.parts) + tail).encode("utf-8")
