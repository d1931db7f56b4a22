"""Money and changes as the digest writes them."""

from __future__ import annotations

from decimal import Decimal

from bot.digest.money import change, money


def test_money_in_dollars_and_in_other_currencies() -> None:
    assert money(Decimal("1234.5649"), "USD") == "$1,234.56"
    assert money(Decimal("0.005"), "USD") == "$0.01"
    assert money(Decimal("-12.3"), "USD") == "-$12.30"
    assert money(Decimal("1234.56"), "EUR") == "1,234.56 EUR"
    assert money(1234567.891, "JPY") == "1,234,567.89 JPY"


def test_change_has_a_sign_and_a_percentage() -> None:
    assert change(Decimal("12.3"), Decimal("30"), "USD") == "+$12.30 (+41%)"
    assert change(Decimal("-7.5"), Decimal("20"), "USD") == "-$7.50 (-38%)"
    assert change(Decimal("0.27"), Decimal("40.35"), "USD") == "+$0.27 (+0.7%)"
    assert change(Decimal("5"), Decimal("0"), "USD") == "+$5.00 (new)"
    assert change(Decimal("0.001"), Decimal("10"), "USD") == "no change"
    assert change(Decimal("-3"), Decimal("10"), "EUR") == "-3.00 EUR (-30%)"
