"""The prompt catalog: ``prompts/prompts.toml``, prompt id -> Indonesian text.

The file has two tables, ``[prompts]`` (sentences) and ``[words]`` (single words for
numbers, dates and times).  Operators edit texts on the admin page, which calls
:func:`set_text`; that rewrites only the one value in place so comments, order and
every other line stay exactly as the lead wrote them (a TOML writer would drop the
comments that explain each group).
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from ivr.errors import IvrError

SECTIONS: tuple[str, ...] = ("prompts", "words")
_ID_RE = re.compile(r"[a-z0-9_/]+")
MAX_TEXT_CHARS = 2000  # a prompt longer than this is a wall of speech, not a prompt


class CatalogError(IvrError):
    """The catalog file or an edit to it is invalid; the message says what and where."""


def validate_id(prompt_id: str) -> str:
    """Return ``prompt_id`` if it is safe as a relative file path, else raise CatalogError.

    Ids become paths under the audio folder (``nik/ask`` -> ``nik/ask.wav``), so the
    rules keep them inside it: lowercase letters, digits, ``_`` and ``/`` only, no
    empty path segment, no leading or trailing slash.
    """
    if not isinstance(prompt_id, str) or not _ID_RE.fullmatch(prompt_id):
        raise CatalogError(f"bad prompt id {prompt_id!r}: use only a-z, 0-9, _ and /")
    if ".." in prompt_id or prompt_id.startswith("/") or prompt_id.endswith("/") or "//" in prompt_id:
        raise CatalogError(f"bad prompt id {prompt_id!r}: not a clean relative path")
    return prompt_id


def clean_text(text: str) -> str:
    """Normalise a text as it will be stored: NFC, single spaces, no control characters."""
    if not isinstance(text, str):
        raise CatalogError("a prompt text must be a string")
    text = unicodedata.normalize("NFC", text)
    if any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in text):
        raise CatalogError("a prompt text must not contain control characters")
    text = " ".join(text.split())
    if len(text) > MAX_TEXT_CHARS:
        raise CatalogError(f"a prompt text must be at most {MAX_TEXT_CHARS} characters")
    return text


def is_silence(prompt_id: str) -> bool:
    """Silence ids are generated, never spoken: their text is ignored."""
    return prompt_id.startswith("silence/")


def is_tone(prompt_id: str) -> bool:
    """Tone ids (``tone/beep``) are generated too: a signal, not words."""
    return prompt_id.startswith("tone/")


def is_generated(prompt_id: str) -> bool:
    return is_silence(prompt_id) or is_tone(prompt_id)


@dataclass(frozen=True)
class Catalog:
    """Prompt texts by id, in file order, with the table each one came from."""

    entries: Mapping[str, str]
    sections: Mapping[str, str]  # id -> "prompts" | "words"
    path: Path | None = None

    def text(self, prompt_id: str) -> str:
        try:
            return self.entries[prompt_id]
        except KeyError:
            raise KeyError(f"no prompt {prompt_id!r} in the catalog") from None

    def ids(self, section: str | None = None) -> tuple[str, ...]:
        if section is None:
            return tuple(self.entries)
        return tuple(i for i, s in self.sections.items() if s == section)

    def section(self, prompt_id: str) -> str:
        return self.sections[prompt_id]

    def __contains__(self, prompt_id: object) -> bool:
        return prompt_id in self.entries

    def __len__(self) -> int:
        return len(self.entries)


def parse_catalog(source: str, path: Path | None = None) -> Catalog:
    """Parse catalog TOML text, validating ids and texts."""
    where = str(path) if path else "catalog"
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{where}: not valid TOML: {exc}") from None
    unknown = set(data) - set(SECTIONS)
    if unknown:
        raise CatalogError(f"{where}: unknown table(s) {sorted(unknown)}; expected {list(SECTIONS)}")
    entries: dict[str, str] = {}
    sections: dict[str, str] = {}
    for section in SECTIONS:
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise CatalogError(f"{where}: [{section}] must be a table")
        for prompt_id, text in table.items():
            if isinstance(text, dict):
                raise CatalogError(
                    f"{where}: [{section}] {prompt_id!r} is a table; quote ids that contain a slash"
                )
            validate_id(prompt_id)
            if not isinstance(text, str):
                raise CatalogError(f"{where}: {prompt_id!r} must be a string")
            if prompt_id in entries:
                raise CatalogError(f"{where}: {prompt_id!r} appears in both [{sections[prompt_id]}] and [{section}]")
            entries[prompt_id] = clean_text(text)
            sections[prompt_id] = section
    return Catalog(MappingProxyType(entries), MappingProxyType(sections), path)


def load_catalog(path: str | os.PathLike[str]) -> Catalog:
    path = Path(path)
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"cannot read the prompt catalog {path}: {exc.strerror}") from None
    return parse_catalog(source, path)


# --- editing in place ------------------------------------------------------------------

_TABLE_RE = re.compile(r"^\s*\[\s*([A-Za-z0-9_-]+)\s*\]\s*(#.*)?$")
_KEY_RE = re.compile(r"""^\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*=\s*""")


def toml_string(text: str) -> str:
    """A TOML basic string for ``text`` (which clean_text has made single-line)."""
    out = ['"']
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif unicodedata.category(ch) == "Cc":
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _value_end(lines: list[str], start: int, value_col: int) -> int:
    """Index of the last line holding the value that starts at lines[start][value_col]."""
    rest = lines[start][value_col:]
    for quote in ('"""', "'''"):
        if rest.startswith(quote):
            if rest.count(quote) >= 2:
                return start
            for j in range(start + 1, len(lines)):
                if quote in lines[j]:
                    return j
            raise CatalogError("unterminated multi-line string in the catalog")
    return start


def _key_of(match: re.Match[str]) -> str:
    dq, sq, bare = match.groups()
    if dq is not None:
        return tomllib.loads(f'k = "{dq}"')["k"]
    return sq if sq is not None else bare


def set_text(path: str | os.PathLike[str], prompt_id: str, text: str, *, section: str | None = None) -> Catalog:
    """Set one prompt's text in the catalog file and return the new catalog.

    Only that entry's line changes.  A new id is appended at the end of its table
    (``section``, default ``prompts``).  The result is re-parsed before it replaces
    the file, and the replace is atomic, so a failed edit leaves the old file.
    """
    path = Path(path)
    validate_id(prompt_id)
    text = clean_text(text)
    old = load_catalog(path)
    if section is not None and section not in SECTIONS:
        raise CatalogError(f"unknown section {section!r}; expected one of {list(SECTIONS)}")
    if prompt_id in old and section is not None and old.section(prompt_id) != section:
        raise CatalogError(f"{prompt_id!r} is in [{old.section(prompt_id)}], not [{section}]")
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines(keepends=True)
    new_line = f"{toml_string(prompt_id)} = {toml_string(text)}"

    current: str | None = None
    section_end: dict[str, int] = {}  # index after the last entry of each table
    replaced = False
    i = 0
    while i < len(lines):
        line = lines[i]
        table = _TABLE_RE.match(line)
        if table:
            current = table.group(1)
            section_end.setdefault(current, i + 1)
            i += 1
            continue
        key = _KEY_RE.match(line)
        if key and current in SECTIONS:
            end = _value_end(lines, i, key.end())
            section_end[current] = end + 1
            if _key_of(key) == prompt_id:
                eol = "\n" if lines[end].endswith("\n") else ""
                lines[i : end + 1] = [new_line + eol]
                replaced = True
                break
            i = end + 1
            continue
        i += 1

    if not replaced:
        target = section or "prompts"
        if target in section_end:
            at = section_end[target]
            if at > 0 and not lines[at - 1].endswith("\n"):
                lines[at - 1] += "\n"
            lines.insert(at, new_line + "\n")
        else:
            if lines and not lines[-1].endswith("\n"):
                lines[-1] += "\n"
            lines.append(f"\n[{target}]\n{new_line}\n")

    new_source = "".join(lines)
    catalog = parse_catalog(new_source, path)
    if catalog.entries.get(prompt_id) != text:  # the line edit went wrong somehow
        raise CatalogError(f"editing {prompt_id!r} did not produce the expected catalog")
    _atomic_write(path, new_source)
    return catalog


def _atomic_write(path: Path, content: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    done = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(content)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
        done = True
    finally:
        if not done:
            Path(tmp).unlink(missing_ok=True)
