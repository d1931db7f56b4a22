"""How the digest writes money: "$1,234.56" for USD, "1,234.56 EUR" otherwise; changes signed."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

_CENT = Decimal("0.01")


def _cents(amount: Decimal | float) -> Decimal:
    return Decimal(str(amount)).quantize(_CENT, rounding=ROUND_HALF_UP)


def money(amount: Decimal | float, currency: str) -> str:
    """``money(Decimal("1234.5"), "USD")`` → ``$1,234.50``; other currencies go after."""
    value = _cents(amount)
    sign = "-" if value < 0 else ""
    digits = f"{abs(value):,.2f}"
    return f"{sign}${digits}" if currency == "USD" else f"{sign}{digits} {currency}"


def percent(part: Decimal | float, whole: Decimal | float) -> str:
    """The signed change ``part`` makes to ``whole`` as a percentage: "+41%", "-0.4%"."""
    ratio = Decimal(str(part)) / Decimal(str(whole)) * 100
    places = Decimal("0.1") if 0 < abs(ratio) < 1 else Decimal(1)
    rounded = ratio.quantize(places, rounding=ROUND_HALF_UP)
    return f"{'+' if rounded >= 0 else ''}{rounded}%"


def change(delta: Decimal, base: Decimal, currency: str) -> str:
    """``change(12.3, 30, "USD")`` → ``+$12.30 (+41%)``; "(new)" when there was nothing before."""
    value = _cents(delta)
    if value == 0:
        return "no change"
    signed = f"{'+' if value > 0 else '-'}{money(abs(value), currency)}"
    if base > 0:
        return f"{signed} ({percent(delta, base)})"
    if base == 0 and value > 0:
        return f"{signed} (new)"
    return signed
