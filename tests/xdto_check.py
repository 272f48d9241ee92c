"""Check XML element trees against 1C XDTO packages (a test utility).

An XDTO package (namespace ``http://v8.1c.ru/8.1/xdto``) declares object types
(properties with bounds, order when ``sequenced``/``ordered``, closed unless
``open``) and value types (an XML Schema base with facets and enumerations). This
module reads the packages in ``docs/formats/1c-enterprisedata/`` and checks a
message against them: the ExchangeMessage envelope, then each document in ``Body``
against the EnterpriseData type of the same name.

Every check returns a list of human-readable faults; an empty list means valid.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

XDTO_NS = "http://v8.1c.ru/8.1/xdto"
XS_NS = "http://www.w3.org/2001/XMLSchema"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
MESSAGE_NS = "http://www.1c.ru/SSL/Exchange/Message"
ENTERPRISEDATA_NS = "http://v8.1c.ru/edi/edi_stnd/EnterpriseData/{version}"

PACKAGES_DIR = Path(__file__).resolve().parents[1] / "docs" / "formats" / "1c-enterprisedata"
MESSAGE_PACKAGE = "ExchangeMessage.xdto.xml"
ENTERPRISEDATA_PACKAGES = {
    "1.11": "EnterpriseData_1_11_7.xdto.xml",
    "1.21": "EnterpriseData_1_21_1.xdto.xml",
}


def packages_missing() -> str | None:
    """Why the packages cannot be read, or None when they all are in place."""
    for name in (MESSAGE_PACKAGE, *ENTERPRISEDATA_PACKAGES.values()):
        if not (PACKAGES_DIR / name).is_file():
            return f"XDTO package {name} not found in {PACKAGES_DIR}"
    return None


@dataclass(frozen=True)
class ValueType:
    name: str
    base: str | None
    variety: str
    facets: Mapping[str, str]
    enumerations: tuple[str, ...]
    patterns: tuple[str, ...]
    members: tuple[str, ...]


@dataclass(frozen=True)
class Property:
    name: str
    element: str
    """The property's element name, ``{namespace}name``."""
    type: str | None
    inline: ValueType | ObjectType | None
    lower: int
    upper: int
    """-1 is unbounded."""
    nillable: bool


@dataclass(frozen=True)
class ObjectType:
    name: str
    base: str | None
    open: bool
    ordered: bool
    abstract: bool
    properties: tuple[Property, ...]


XdtoType = ValueType | ObjectType

_FACETS = ("length", "minLength", "maxLength", "totalDigits", "fractionDigits")
_INT_RANGES = {
    "int": (-(2**31), 2**31 - 1),
    "long": (-(2**63), 2**63 - 1),
    "short": (-(2**15), 2**15 - 1),
    "byte": (-128, 127),
    "integer": (None, None),
    "nonNegativeInteger": (0, None),
    "positiveInteger": (1, None),
}
_DECIMAL_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_INTEGER_RE = re.compile(r"[+-]?\d+")
_DATETIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
_DATE_RE = re.compile(r"\d{4}-\d\d-\d\d(Z|[+-]\d\d:\d\d)?")


def _local(qname: str) -> str:
    return qname.rsplit("}", 1)[-1]


class Registry:
    """The types of the loaded packages, by ``{namespace}name``."""

    def __init__(self) -> None:
        self.types: dict[str, XdtoType] = {}

    # Loading -----------------------------------------------------------------

    def load(self, path: Path) -> str:
        """Read one package file; return its target namespace."""
        scopes: dict[ET.Element, dict[str, str]] = {}
        stack: list[dict[str, str]] = [{}]
        pending: dict[str, str] = {}
        root: ET.Element | None = None
        for event, item in ET.iterparse(path, events=("start-ns", "start", "end")):
            if event == "start-ns":
                prefix, uri = item
                pending[prefix] = uri
            elif event == "start":
                scope = {**stack[-1], **pending} if pending else stack[-1]
                pending = {}
                stack.append(scope)
                scopes[item] = scope
                if root is None:
                    root = item
            else:
                stack.pop()
        assert root is not None
        namespace = root.attrib["targetNamespace"]
        for child in root:
            kind = _local(child.tag)
            if kind == "objectType":
                parsed: XdtoType = self._object_type(child, namespace, scopes)
            elif kind == "valueType":
                parsed = self._value_type(child, namespace, scopes)
            else:
                continue
            self.types[parsed.name] = parsed
        return namespace

    @staticmethod
    def _resolve(value: str | None, scope: Mapping[str, str]) -> str | None:
        if value is None:
            return None
        if value.startswith("{"):
            return value
        prefix, _, local = value.rpartition(":")
        return f"{{{scope.get(prefix, '')}}}{local}"

    def _value_type(
        self, el: ET.Element, namespace: str, scopes: Mapping[ET.Element, dict[str, str]]
    ) -> ValueType:
        scope = scopes[el]
        return ValueType(
            name=f"{{{namespace}}}{el.get('name', '')}",
            base=self._resolve(el.get("base"), scope),
            variety=el.get("variety", "Atomic"),
            facets={facet: el.attrib[facet] for facet in _FACETS if facet in el.attrib},
            enumerations=tuple(e.text or "" for e in el.findall(f"{{{XDTO_NS}}}enumeration")),
            patterns=tuple(e.text or "" for e in el.findall(f"{{{XDTO_NS}}}pattern")),
            members=tuple(
                member
                for member in (self._resolve(m, scope) for m in el.get("memberTypes", "").split())
                if member is not None
            ),
        )

    def _object_type(
        self, el: ET.Element, namespace: str, scopes: Mapping[ET.Element, dict[str, str]]
    ) -> ObjectType:
        properties = []
        for prop in el.findall(f"{{{XDTO_NS}}}property"):
            inline: XdtoType | None = None
            type_def = prop.find(f"{{{XDTO_NS}}}typeDef")
            if type_def is not None:
                if _local(type_def.get(f"{{{XSI_NS}}}type", "")) == "ObjectType":
                    inline = self._object_type(type_def, namespace, scopes)
                else:
                    inline = self._value_type(type_def, namespace, scopes)
            properties.append(
                Property(
                    name=prop.attrib["name"],
                    element=f"{{{namespace}}}{prop.attrib['name']}",
                    type=self._resolve(prop.get("type"), scopes[prop]),
                    inline=inline,
                    lower=int(prop.get("lowerBound", "1")),
                    upper=int(prop.get("upperBound", "1")),
                    nillable=prop.get("nillable") == "true",
                )
            )
        return ObjectType(
            name=f"{{{namespace}}}{el.get('name', '')}",
            base=self._resolve(el.get("base"), scopes[el]),
            open=el.get("open") == "true",
            ordered=el.get("sequenced") == "true" or el.get("ordered") == "true",
            abstract=el.get("abstract") == "true",
            properties=tuple(properties),
        )

    # Checking ----------------------------------------------------------------

    def all_properties(self, object_type: ObjectType) -> tuple[Property, ...]:
        """Inherited properties first, then the type's own."""
        inherited: tuple[Property, ...] = ()
        if object_type.base is not None:
            base = self.types.get(object_type.base)
            if isinstance(base, ObjectType):
                inherited = self.all_properties(base)
        return inherited + object_type.properties

    def check_object(
        self, element: ET.Element, object_type: ObjectType, path: str, strict: bool
    ) -> list[str]:
        """Faults of ``element`` as an instance of ``object_type``.

        ``strict`` also refuses properties the package does not declare on open
        types (where XDTO would accept them), which catches misspelt names.
        """
        faults: list[str] = []
        if element.text is not None and element.text.strip():
            faults.append(f"{path}: unexpected text {element.text.strip()!r}")
        properties = self.all_properties(object_type)
        index = {prop.element: i for i, prop in enumerate(properties)}
        counts = [0] * len(properties)
        last = -1
        for child in element:
            position = index.get(child.tag)
            child_path = f"{path}/{_local(child.tag)}"
            if position is None:
                if not object_type.open:
                    faults.append(f"{child_path}: not a property of closed type {object_type.name}")
                elif strict:
                    faults.append(f"{child_path}: not declared on {object_type.name}")
                continue
            counts[position] += 1
            prop = properties[position]
            if prop.upper != 1:
                child_path += f"[{counts[position]}]"
            if object_type.ordered and position < last:
                faults.append(f"{child_path}: out of order (after {properties[last].name})")
            last = max(last, position)
            faults.extend(self.check_property(child, prop, child_path, strict))
        for prop, count in zip(properties, counts, strict=True):
            if count < prop.lower:
                faults.append(f"{path}/{prop.name}: required, appears {count} times")
            if prop.upper != -1 and count > prop.upper:
                faults.append(f"{path}/{prop.name}: at most {prop.upper}, appears {count} times")
        return faults

    def check_property(
        self, element: ET.Element, prop: Property, path: str, strict: bool
    ) -> list[str]:
        if element.get(f"{{{XSI_NS}}}type") is not None:
            return [f"{path}: xsi:type is not supported by this checker"]
        if element.get(f"{{{XSI_NS}}}nil") in ("true", "1"):
            if not prop.nillable:
                return [f"{path}: nil, but the property is not nillable"]
            return (
                []
                if len(element) == 0 and not (element.text or "")
                else [f"{path}: nil with content"]
            )
        declared = prop.inline
        if declared is None and prop.type is not None:
            declared = self.types.get(prop.type)
            if declared is None and not prop.type.startswith(f"{{{XS_NS}}}"):
                return [f"{path}: type {prop.type} is not in the loaded packages"]
        if isinstance(declared, ObjectType):
            if declared.abstract:
                return [f"{path}: type {declared.name} is abstract"]
            return self.check_object(element, declared, path, strict)
        if len(element):
            return [f"{path}: a value of {prop.type} cannot have child elements"]
        text = element.text or ""
        if declared is None:
            return self.check_builtin(text, prop.type or f"{{{XS_NS}}}anyType", path)
        return self.check_value(text, declared, path)

    def check_value(self, text: str, value_type: ValueType, path: str) -> list[str]:
        if value_type.variety == "Union":
            for member in value_type.members:
                member_type = self.types.get(member)
                if isinstance(member_type, ValueType):
                    if not self.check_value(text, member_type, path):
                        return []
                elif member_type is None and not self.check_builtin(text, member, path):
                    return []
            return [f"{path}: {text!r} matches no member of {value_type.name}"]
        faults: list[str] = []
        if value_type.enumerations and text not in value_type.enumerations:
            faults.append(f"{path}: {text!r} is not a value of {value_type.name}")
        for pattern in value_type.patterns:
            if re.fullmatch(pattern, text) is None:
                faults.append(f"{path}: {text!r} does not match the pattern of {value_type.name}")
        faults.extend(_facet_faults(text, value_type.facets, path))
        if value_type.base is not None:
            base = self.types.get(value_type.base)
            if isinstance(base, ValueType):
                faults.extend(self.check_value(text, base, path))
            else:
                faults.extend(self.check_builtin(text, value_type.base, path))
        return faults

    @staticmethod
    def check_builtin(text: str, type_name: str, path: str) -> list[str]:
        name = _local(type_name)
        if name == "boolean":
            ok = text in ("true", "false", "1", "0")
        elif name == "decimal":
            ok = _DECIMAL_RE.fullmatch(text) is not None
        elif name in _INT_RANGES:
            low, high = _INT_RANGES[name]
            ok = _INTEGER_RE.fullmatch(text) is not None
            ok = ok and (low is None or int(text) >= low) and (high is None or int(text) <= high)
        elif name == "dateTime":
            ok = _DATETIME_RE.fullmatch(text) is not None and _valid_datetime(text)
        elif name == "date":
            ok = _DATE_RE.fullmatch(text) is not None and _valid_datetime(text[:10])
        else:
            ok = True
        return [] if ok else [f"{path}: {text!r} is not an xs:{name}"]


def _valid_datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _digits(text: str) -> tuple[int, int] | None:
    """(total digits, fraction digits) of a decimal's value, as XML Schema counts them."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    _, digits, exponent = value.normalize().as_tuple()
    if not isinstance(exponent, int):
        return None
    if not value:
        return 1, 0
    if exponent >= 0:
        return len(digits) + exponent, 0
    return max(len(digits), -exponent), -exponent


def _facet_faults(text: str, facets: Mapping[str, str], path: str) -> Iterator[str]:
    length = len(text)
    if "length" in facets and length != int(facets["length"]):
        yield f"{path}: {text!r} must be {facets['length']} characters long"
    if "minLength" in facets and length < int(facets["minLength"]):
        yield f"{path}: {text!r} is shorter than {facets['minLength']}"
    if "maxLength" in facets and length > int(facets["maxLength"]):
        yield f"{path}: {text!r} is longer than {facets['maxLength']}"
    if "totalDigits" in facets or "fractionDigits" in facets:
        digits = _digits(text)
        if digits is None:
            yield f"{path}: {text!r} is not a number"
            return
        total, fraction = digits
        if "totalDigits" in facets and total > int(facets["totalDigits"]):
            yield f"{path}: {text!r} has {total} digits, at most {facets['totalDigits']}"
        most = facets.get("fractionDigits")
        if most is not None and fraction > int(most):
            yield f"{path}: {text!r} has {fraction} fraction digits, at most {most}"


@functools.cache
def registry(version: str) -> Registry:
    """The envelope package and the EnterpriseData package of ``version``, loaded once."""
    loaded = Registry()
    loaded.load(PACKAGES_DIR / MESSAGE_PACKAGE)
    loaded.load(PACKAGES_DIR / ENTERPRISEDATA_PACKAGES[version])
    return loaded


def check_message(data: bytes, strict: bool = True) -> list[str]:
    """Faults of an EnterpriseData exchange message, envelope and documents."""
    root = ET.fromstring(data)
    if root.tag != "Message":
        return [f"root is {root.tag!r}, expected Message in no namespace"]
    children = list(root)
    header_tag = f"{{{MESSAGE_NS}}}Header"
    if len(children) != 2 or children[0].tag != header_tag or _local(children[1].tag) != "Body":
        return [f"Message children are {[c.tag for c in children]}, expected msg:Header, Body"]
    header, body = children
    body_ns = body.tag[1:].partition("}")[0] if body.tag.startswith("{") else ""
    version = next(
        (v for v in ENTERPRISEDATA_PACKAGES if ENTERPRISEDATA_NS.format(version=v) == body_ns),
        None,
    )
    if version is None:
        return [f"Body namespace {body_ns!r} is not a known EnterpriseData version"]
    types = registry(version)
    header_type = types.types[header_tag]
    assert isinstance(header_type, ObjectType)
    faults = types.check_object(header, header_type, "msg:Header", strict)
    if header.findtext(f"{{{MESSAGE_NS}}}Format") != body_ns:
        faults.append("msg:Header/msg:Format: differs from the Body namespace")
    versions = [v.text for v in header.findall(f"{{{MESSAGE_NS}}}AvailableVersion")]
    if version not in versions:
        faults.append(f"msg:Header/msg:AvailableVersion: {versions} lacks {version}")
    if body.text is not None and body.text.strip():
        faults.append("Body: unexpected text")
    for document in body:
        document_type = types.types.get(document.tag)
        path = f"Body/{_local(document.tag)}"
        if not isinstance(document_type, ObjectType) or document_type.abstract:
            faults.append(f"{path}: not an object type of EnterpriseData {version}")
            continue
        faults.extend(types.check_object(document, document_type, path, strict))
    return faults
