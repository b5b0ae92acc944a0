"""Redaction at send time: what outsiders must not read is replaced by a label that keeps
the sentence's sense ("restart [internal host] from [IP address]").

Profiles:
- `none` (staff): nothing is touched;
- `standard` (end users): secrets, private keys, credentials in URLs, IPv4/IPv6 addresses,
  hosts under the configured internal domains, and the custom patterns;
- `strict` (public): all of `standard`, plus e-mail addresses.

Choices worth knowing:
- A dotted quad is an IP address even when it could be a version ("10.0.0.1"); a longer
  dotted run ("1.2.3.4.5") is a version and is left alone.
- `key: value` secrets (password=, passwd:, api_key=, token: ...) keep the key and lose
  the value, so the reader still knows a password was there.
- Overlapping findings merge into one span under the most sensitive label, so no detected
  text is left half-exposed.
- A `Finding` carries kind, span and label, never the matched text: findings can be logged.
- For the public audience any finding holds the message for an approver
  (`must_hold_for_approval`) instead of publishing a silently redacted text.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, Protocol

from app.kit.patterns import LinearPattern, compile_pattern

ProfileName = Literal["none", "standard", "strict"]

SECRET_LABEL = "[secret]"  # noqa: S105 (the label, not a secret)
IP_LABEL = "[IP address]"
HOST_LABEL = "[internal host]"
EMAIL_LABEL = "[email address]"


@dataclass(frozen=True, slots=True)
class Finding:
    """Something redacted: its kind, where it was in the original text, and its label."""

    kind: str
    start: int
    end: int
    label: str


@dataclass(frozen=True, slots=True)
class RedactionResult:
    """The redacted text and what was found (empty findings: the text left untouched)."""

    text: str
    findings: tuple[Finding, ...]


class CustomPattern(Protocol):
    """An admin-defined pattern (`app.policy.engine.document.CustomPattern` has this shape)."""

    @property
    def name(self) -> str: ...
    @property
    def pattern(self) -> str: ...
    @property
    def label(self) -> str: ...


@dataclass(frozen=True, slots=True)
class _Detector:
    kind: str
    label: str
    regex: LinearPattern | re.Pattern[str]  # ours may look around; admins' run in RE2
    rank: int  # lower wins when findings overlap
    accept: Callable[[str], bool] | None = None


_KEY_WORDS = (
    r"password|passwd|pwd|secret|api[_-]?key|apikey|token|access[_-]?key|private[_-]?key"
    r"|credentials?"
)
_SECRET_DETECTORS = (
    _Detector(
        "private_key", "[private key]", rank=0,
        regex=re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
    ),
    _Detector(
        "credentials", "[credentials]", rank=1,
        regex=re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://(?P<secret>[^\s/?#@:]+:[^\s/?#@]+)@"),
    ),
    _Detector(
        "secret", SECRET_LABEL, rank=1,
        regex=re.compile(r"(?i)\bbearer\s+(?P<secret>[A-Za-z0-9\-._~+/]{8,}=*)"),
    ),
    _Detector(
        "secret", SECRET_LABEL, rank=1,
        regex=re.compile(
            r"\b(?:(?:AKIA|ASIA)[A-Z0-9]{16}"  # AWS access key ids
            r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}"  # GitHub tokens
            r"|xox[abposre]-[A-Za-z0-9-]{10,})\b"  # Slack tokens
            r"|\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"  # JWTs
            r"|https://hooks\.slack\.com/services/[A-Za-z0-9/]+"
        ),
    ),
    _Detector(
        "secret", SECRET_LABEL, rank=1,
        regex=re.compile(
            rf"(?i)\b[\w.-]*(?:{_KEY_WORDS})[\w.-]*[\"']?\s*[:=]\s*[\"']?(?P<secret>[^\s\"'`,;&]{{3,}})"
        ),
    ),
)  # fmt: skip


def _is_ipv6(candidate: str) -> bool:
    try:
        ipaddress.IPv6Address(candidate.split("%", 1)[0])
    except ValueError:
        return False
    return True


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_ADDRESS_DETECTORS = (
    _Detector(
        "ipv6", IP_LABEL, rank=5, accept=_is_ipv6,
        regex=re.compile(
            r"(?<![\w:.])(?=[0-9A-Fa-f:]*[0-9A-Fa-f])(?:[0-9A-Fa-f]{0,4}:){2,7}"
            r"(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?:%[\w.]+)?(?![\w:])"
        ),
    ),
    _Detector(
        "ipv4", IP_LABEL, rank=6,
        # Not part of a longer dotted run of numbers (a version such as 1.2.3.4.5).
        regex=re.compile(rf"(?<![\w.])(?:{_OCTET}\.){{3}}{_OCTET}(?![\w]|\.\d)"),
    ),
)  # fmt: skip
_EMAIL = _Detector(
    "email", EMAIL_LABEL, rank=3,
    regex=re.compile(
        # Not right after ":" so "https://user:pass@host" stays a credentials finding.
        r"(?<![\w.+:-])[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b"
    ),
)  # fmt: skip


@lru_cache(maxsize=64)
def _internal_hosts(domains: tuple[str, ...]) -> _Detector | None:
    alternatives = []
    for domain in domains:
        labels = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)"
        # A single-label domain ("internal") is matched only with a host in front, so the
        # word in prose stays untouched; "corp.example.com" alone is a host already.
        prefix = f"{labels}*" if "." in domain else f"{labels}+"
        alternatives.append(prefix + re.escape(domain.lower().strip(".")))
    if not alternatives:
        return None
    pattern = rf"(?<![\w.-])(?:{'|'.join(alternatives)})(?![\w-]|\.[\w-])"
    return _Detector("internal_host", HOST_LABEL, re.compile(pattern, re.IGNORECASE), rank=4)


def _custom_detectors(patterns: Sequence[CustomPattern]) -> list[_Detector]:
    # An invalid pattern (only possible in a policy that skipped validation) raises
    # PatternError: refusing to send is better than sending unredacted text.
    return [
        _Detector(f"custom:{p.name}", p.label, compile_pattern(p.pattern), rank=2) for p in patterns
    ]


def detectors_for(
    profile: ProfileName, internal_domains: Iterable[str], custom_patterns: Sequence[CustomPattern]
) -> list[_Detector]:
    """The detectors a profile runs; `none` runs nothing."""
    if profile == "none":
        return []
    found = [*_SECRET_DETECTORS, *_ADDRESS_DETECTORS, *_custom_detectors(custom_patterns)]
    hosts = _internal_hosts(tuple(sorted(set(internal_domains))))
    if hosts is not None:
        found.append(hosts)
    if profile != "standard":  # strict, and anything unknown, hides e-mail addresses too
        found.append(_EMAIL)
    return found


def redact(
    text: str,
    profile: ProfileName,
    internal_domains: Iterable[str] = (),
    custom_patterns: Sequence[CustomPattern] = (),
) -> RedactionResult:
    """Replace what the profile hides with labels; findings say what and where."""
    spans = _merge(_candidates(text, detectors_for(profile, internal_domains, custom_patterns)))
    if not spans:
        return RedactionResult(text, ())
    pieces, cursor = [], 0
    for finding in spans:
        pieces += [text[cursor : finding.start], finding.label]
        cursor = finding.end
    pieces.append(text[cursor:])
    return RedactionResult("".join(pieces), tuple(spans))


def _candidates(text: str, detectors: Iterable[_Detector]) -> list[tuple[int, int, _Detector]]:
    found = []
    for detector in detectors:
        for match in detector.regex.finditer(text):
            # By number: RE2's matches take group numbers only.
            group = detector.regex.groupindex.get("secret", 0)
            start, end = match.span(group)
            if end > start and (detector.accept is None or detector.accept(match.group(group))):
                found.append((start, end, detector))
    return found


def _merge(candidates: list[tuple[int, int, _Detector]]) -> list[Finding]:
    merged: list[tuple[int, int, _Detector]] = []
    for start, end, detector in sorted(candidates, key=lambda c: (c[0], c[2].rank)):
        if merged and start < merged[-1][1]:
            last_start, last_end, last = merged[-1]
            winner = detector if detector.rank < last.rank else last
            merged[-1] = (last_start, max(end, last_end), winner)
        else:
            merged.append((start, end, detector))
    return [Finding(d.kind, start, end, d.label) for start, end, d in merged]


def must_hold_for_approval(audience: str, result: RedactionResult) -> bool:
    """For the public, any finding means a human decides instead of a silent redaction."""
    return audience == "public" and bool(result.findings)
