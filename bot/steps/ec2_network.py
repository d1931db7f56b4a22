"""Pure evaluation of VPC network rules for one flow: security groups, network ACLs, routes.

Everything here takes already-fetched EC2 descriptions (dicts as boto3 returns them) and answers
"does this let the traffic through, and which rule decides?" — no AWS calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network, ip_network
from typing import Any

PROTOCOL_NUMBERS = {"tcp": "6", "udp": "17"}
EPHEMERAL = (1024, 65535)  # reply ports a client may use (AWS's NACL guidance)
COMMON_EPHEMERAL = (32768, 65535)  # Linux, macOS and Windows clients all pick from here


@dataclass(frozen=True)
class Check:
    """One line of the checklist: what was checked, whether it passed, and why."""

    name: str
    ok: bool
    reason: str

    def as_data(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "reason": self.reason}


def _protocol_matches(rule_protocol: str, protocol: str) -> bool:
    return rule_protocol in ("-1", "all", protocol, PROTOCOL_NUMBERS[protocol])


def _network(cidr: str | None) -> IPv4Network | None:
    if not cidr:
        return None
    network = ip_network(cidr, strict=False)
    return network if isinstance(network, IPv4Network) else None


def security_group_allows(
    groups: Iterable[Mapping[str, Any]], protocol: str, port: int, source: IPv4Network
) -> tuple[bool, str]:
    """Whether an inbound rule of ``groups`` admits ``protocol``/``port`` from all of ``source``."""
    partial: list[str] = []
    for group in groups:
        label = f"{group['GroupId']} ({group.get('GroupName', '')})"
        for rule in group.get("IpPermissions", []):
            if not _protocol_matches(str(rule.get("IpProtocol", "")), protocol):
                continue
            if rule.get("IpProtocol") not in ("-1", "all"):
                low, high = rule.get("FromPort", 0), rule.get("ToPort", 65535)
                if not low <= port <= high:
                    continue
            ports = _ports_text(rule)
            for ip_range in rule.get("IpRanges", []):
                cidr = _network(ip_range.get("CidrIp"))
                if cidr is None:
                    continue
                note = f" “{ip_range['Description']}”" if ip_range.get("Description") else ""
                if source.subnet_of(cidr):
                    return True, f"{label} allows {ports} from {cidr}{note}."
                if source.overlaps(cidr):
                    partial.append(f"{label} allows {ports} from {cidr} only")
            for pair in rule.get("UserIdGroupPairs", []):
                partial.append(f"{label} allows {ports} from security group {pair.get('GroupId')}")
            for prefix in rule.get("PrefixListIds", []):
                partial.append(
                    f"{label} allows {ports} from prefix list {prefix.get('PrefixListId')}"
                )
    names = ", ".join(str(g["GroupId"]) for g in groups) or "none"
    reason = f"No inbound rule in {names} allows {protocol} {port} from {source}"
    return False, reason + (f"; closest: {'; '.join(partial)}." if partial else ".")


def _ports_text(rule: Mapping[str, Any]) -> str:
    if rule.get("IpProtocol") in ("-1", "all"):
        return "all traffic"
    low, high = rule.get("FromPort"), rule.get("ToPort")
    ports = str(low) if low == high else f"{low}-{high}"
    return f"{rule.get('IpProtocol')} {ports}"


@dataclass(frozen=True)
class AclDecision:
    """How a network ACL treats a port range: allowed sub-ranges, denied ones, and by which rule."""

    allowed: tuple[tuple[int, int, str], ...]  # (low, high, rule)
    denied: tuple[tuple[int, int, str], ...]

    def allows(self, low: int, high: int) -> bool:
        """True when every port in low..high is allowed."""
        spans = sorted((a, b) for a, b, _ in self.allowed if b >= low and a <= high)
        cursor = low
        for a, b in spans:
            if a > cursor:
                return False
            cursor = max(cursor, b + 1)
        return cursor > high


def evaluate_acl(
    acl: Mapping[str, Any],
    *,
    egress: bool,
    protocol: str,
    ports: tuple[int, int],
    peer: IPv4Network,
) -> AclDecision:
    """Walk the ACL's entries in rule-number order; the first entry matching a port wins.

    An entry matches when its protocol matches, its CIDR contains all of ``peer`` and its port
    range overlaps what is still undecided. Anything left at the end is denied by the implicit
    ``*`` rule.
    """
    undecided = [ports]
    allowed: list[tuple[int, int, str]] = []
    denied: list[tuple[int, int, str]] = []
    entries = sorted(
        (e for e in acl.get("Entries", []) if bool(e.get("Egress")) == egress),
        key=lambda e: int(e["RuleNumber"]),
    )
    for entry in entries:
        cidr = _network(entry.get("CidrBlock"))
        if cidr is None or not peer.subnet_of(cidr):
            continue
        if not _protocol_matches(str(entry.get("Protocol", "")), protocol):
            continue
        port_range = entry.get("PortRange")
        low, high = (port_range["From"], port_range["To"]) if port_range else (0, 65535)
        number = int(entry["RuleNumber"])
        rule = "rule *" if number == 32767 else f"rule {number}"
        target = allowed if entry.get("RuleAction") == "allow" else denied
        remaining = []
        for a, b in undecided:
            lo, hi = max(a, low), min(b, high)
            if lo > hi:
                remaining.append((a, b))
                continue
            target.append((lo, hi, f"{rule} ({entry['RuleAction']} {cidr})"))
            if a < lo:
                remaining.append((a, lo - 1))
            if hi < b:
                remaining.append((hi + 1, b))
        undecided = remaining
        if not undecided:
            break
    denied.extend((a, b, "the implicit rule *") for a, b in undecided)
    return AclDecision(allowed=tuple(allowed), denied=tuple(denied))


def inbound_acl_check(
    acl: Mapping[str, Any], protocol: str, port: int, source: IPv4Network
) -> Check:
    decision = evaluate_acl(acl, egress=False, protocol=protocol, ports=(port, port), peer=source)
    acl_id = acl.get("NetworkAclId", "?")
    if decision.allowed:
        return Check(
            "network ACL inbound",
            True,
            f"{acl_id} {decision.allowed[0][2]} admits {protocol} {port} from {source}.",
        )
    return Check(
        "network ACL inbound",
        False,
        f"{acl_id} {decision.denied[0][2]} blocks {protocol} {port} from {source}.",
    )


def outbound_acl_check(acl: Mapping[str, Any], protocol: str, source: IPv4Network) -> Check:
    decision = evaluate_acl(acl, egress=True, protocol=protocol, ports=EPHEMERAL, peer=source)
    acl_id = acl.get("NetworkAclId", "?")
    name = "network ACL outbound (replies)"
    blocked = "; ".join(f"{a}-{b} by {rule}" for a, b, rule in decision.denied)
    if decision.allows(*EPHEMERAL):
        return Check(name, True, f"{acl_id} lets replies out to {source} on ports 1024-65535.")
    if decision.allows(*COMMON_EPHEMERAL):
        return Check(
            name,
            True,
            f"{acl_id} lets replies out on 32768-65535 (enough for most clients) but blocks "
            f"{blocked}; clients behind NAT may use those.",
        )
    return Check(
        name,
        False,
        f"{acl_id} blocks replies to {source} on ephemeral ports: {blocked}.",
    )


def route_check(table: Mapping[str, Any] | None, source: IPv4Network) -> Check:
    """The most specific route covering ``source``; public sources need an internet gateway."""
    name = "route to the source"
    if table is None:
        return Check(name, False, "The subnet has no route table.")
    table_id = table.get("RouteTableId", "?")
    routes = [
        (cidr, route)
        for route in table.get("Routes", [])
        if (cidr := _network(route.get("DestinationCidrBlock"))) is not None
        and source.subnet_of(cidr)
    ]
    if not routes:
        return Check(name, False, f"{table_id} has no route covering {source}.")
    cidr, route = max(routes, key=lambda item: item[0].prefixlen)
    target = (
        route.get("GatewayId")
        or route.get("NatGatewayId")
        or route.get("TransitGatewayId")
        or route.get("VpcPeeringConnectionId")
        or route.get("NetworkInterfaceId")
        or route.get("InstanceId")
        or "?"
    )
    if route.get("State", "active") != "active":
        return Check(
            name, False, f"{table_id} routes {cidr} → {target}, but the route is {route['State']}."
        )
    if source.is_private:
        return Check(name, True, f"{table_id} routes {cidr} → {target}.")
    if str(target).startswith("igw-"):
        return Check(name, True, f"{table_id} routes {cidr} → {target} (internet gateway).")
    return Check(
        name,
        False,
        f"{table_id} routes {cidr} → {target}, not an internet gateway: the subnet is private.",
    )
