"""Who may upload for a register over protocol 4, and who says it forwards (SPEC 4, 15).

With mutual TLS the client certificate's subject CN decides:

- ``STORE/REGISTER``: that one register (a register's own certificate);
- a bare store code (``S1``, no ``/``): every register of that store and no other
  (the store's server forwarding its registers' shifts);
- a CN listed in ``[grpc] trusted_forwarders``: every store (a region's server).

A forwarded call names the forwarding server in the ``cashserver-node`` metadata;
that name is what the central server records, certificate or not.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

NODE_METADATA = "cashserver-node"
"""The gRPC metadata key that names the forwarding server (SPEC 15)."""
NODE_NAME_MAX = 128


class BadNodeName(ValueError):
    """A ``cashserver-node`` value that cannot be a node name."""


def may_act_for(
    certificate_cn: str | None,
    store_code: str,
    register_code: str,
    trusted_forwarders: Collection[str] = (),
) -> bool:
    """Whether a client certificate with ``certificate_cn`` may upload or handshake
    for register ``store_code/register_code``; no certificate may do nothing."""
    if certificate_cn is None:
        return False
    if certificate_cn in trusted_forwarders:
        return True
    if "/" in certificate_cn:
        return certificate_cn == f"{store_code}/{register_code}"
    return certificate_cn == store_code


def forwarding_node(metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
    """The ``cashserver-node`` named in a call's metadata, or "" for a register's own call.

    Raises :class:`BadNodeName` for an empty, overlong or unprintable name.
    """
    for key, value in metadata or ():
        if key != NODE_METADATA:
            continue
        name = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        if not 1 <= len(name) <= NODE_NAME_MAX or not name.isprintable():
            raise BadNodeName(f"{NODE_METADATA}: expected 1-{NODE_NAME_MAX} printable characters")
        return name
    return ""
