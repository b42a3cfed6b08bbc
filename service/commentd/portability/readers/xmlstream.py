"""A hardened, streaming walk through an XML export: the one place the XML readers (disqus,
wordpress) parse, so both refuse entities and name the line of a broken file the same way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal
from xml.etree.ElementTree import Element, ParseError, TreeBuilder
from xml.parsers import expat

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import (
    DefusedXMLParser,
    iterparse,
)

from commentd.portability.records import ImportFileError, Progress, open_counted

Event = Literal["start", "end", "start-ns"]

# expat's codes for a document that ends before its XML does: the usual sign of a download or
# a copy cut short (xml.parsers.expat.errors).
_CUT_SHORT = frozenset(
    expat.errors.codes[message]
    for message in (
        expat.errors.XML_ERROR_NO_ELEMENTS,
        expat.errors.XML_ERROR_UNCLOSED_TOKEN,
        expat.errors.XML_ERROR_UNCLOSED_CDATA_SECTION,
        expat.errors.XML_ERROR_PARTIAL_CHAR,
    )
)


def events(
    path: Path, progress: Progress, wanted: tuple[Event, ...] = ("start", "end")
) -> Iterator[tuple[Event, Any]]:
    """The (event, value) pairs of ElementTree.iterparse over the file at `path` (value: an
    Element for "start"/"end", a (prefix, uri) pair for "start-ns"), its bytes reported to
    `progress` as they are read. Parsed by defusedxml: a DTD may be present, but an entity
    declaration (internal, as in "billion laughs", or external) or an external reference
    stops the walk at once. The caller clears the elements it has used, so memory stays
    bounded by the largest record, whatever the file's size.

    Raises ImportFileError("line N, column M", ...) (both counted from 1) when the file is not
    well-formed XML or ends before its XML does, or declares entities; OSError when it cannot
    be read."""
    parser = DefusedXMLParser(
        target=TreeBuilder(), forbid_dtd=False, forbid_entities=True, forbid_external=True
    )
    with open_counted(path, progress) as file:
        stream = iterparse(file, wanted, parser=parser)
        while True:
            try:
                event, value = next(stream)
            except StopIteration:
                return
            except ParseError as error:
                line, column = error.position
                reason = expat.ErrorString(error.code)
                if error.code in _CUT_SHORT:
                    message = f"the file ends before its XML does ({reason}): is it cut short?"
                else:
                    message = f"not well-formed XML: {reason}"
                raise ImportFileError(f"line {line}, column {column + 1}", message) from None
            except DefusedXmlException:
                expat_parser = parser.parser
                raise ImportFileError(
                    f"line {expat_parser.CurrentLineNumber}, "
                    f"column {expat_parser.CurrentColumnNumber + 1}",
                    "the file declares XML entities, which are refused (an export never "
                    "needs them; they can expand without end or read other files)",
                ) from None
            yield event, value  # type: ignore[misc]  # the stubs type all six events


def text(element: Element, tag: str) -> str | None:
    """The text of `element`'s first child `tag`, "" when that child is empty, None when there
    is no such child."""
    child = element.find(tag)
    if child is None:
        return None
    return child.text or ""
