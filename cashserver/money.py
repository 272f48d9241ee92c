"""Money as text: kopecks in, roubles with two decimals out, in integers only.

The one way to write an amount, for people and for exchange files alike; each
caller picks its separators (Frontol writes a decimal comma, the console groups
thousands and uses a true minus sign).
"""

from __future__ import annotations


def format_money(kopecks: int, *, point: str = ".", thousands: str = "", minus: str = "-") -> str:
    """``-123456`` -> ``"-1234.56"``; never goes through a float."""
    whole, part = divmod(abs(kopecks), 100)
    digits = f"{whole:,}".replace(",", thousands) if thousands else str(whole)
    return f"{minus if kopecks < 0 else ''}{digits}{point}{part:02d}"
