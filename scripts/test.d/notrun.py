#!/usr/bin/env python3
"""The tests that did not run, for scripts/test --require-all.

Usage: notrun.py RESULTS_DIR SOURCES_DIR

Prints "Class.test: message" for each test of the TRX files in RESULTS_DIR whose outcome is
NotExecuted or Inconclusive (Assert.Ignore, an Assume that failed), except [Explicit] ones:
the TRX gives an Explicit test the same outcome and message form as an ignored one, so the
Explicit attributes are read from the C# sources under SOURCES_DIR, each as (class, method):
on a method, the class declared nearest before it; on a class, every test of that class.
Exits non-zero (with a message on stderr) when a file cannot be read or parsed, so that the
caller never takes a crash for "nothing was skipped".
"""
import glob
import os
import re
import sys
import xml.etree.ElementTree as ET

NS = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}

# An attribute list at the start of a line (after any other lists on that line) naming Explicit.
EXPLICIT = re.compile(r"^[ \t]*(?:\[[^\]\n]*\][ \t]*)*\[[^\]\n]*\bExplicit\b[^\]\n]*\]", re.M)
# A class declaration: modifiers, then "class Name", at the start of a line.
CLASS = re.compile(r"^[ \t]*(?:(?:public|internal|private|protected|sealed|static|abstract|partial|file)\s+)*class\s+(\w+)", re.M)
# A test method declaration: "void Name(", "Task Name(" or "Task<T> Name(".
METHOD = re.compile(r"\b(?:void|Task(?:<[^>\n]*>)?)\s+(\w+)\s*\(")
ANY_METHOD = None  # the whole class is explicit


def explicit_tests(sources):
    """(class, method) pairs marked [Explicit]; method None: the whole class."""
    found = set()
    for path in sorted(glob.glob(os.path.join(sources, "**", "*.cs"), recursive=True)):
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
        for m in EXPLICIT.finditer(text):
            cls = CLASS.search(text, m.end())
            method = METHOD.search(text, m.end())
            if cls and (not method or cls.start() < method.start()):
                found.add((cls.group(1), ANY_METHOD))
            elif method:
                owners = [c.group(1) for c in CLASS.finditer(text, 0, m.start())]
                if owners:
                    found.add((owners[-1], method.group(1)))
    return found


def not_run(results, explicit):
    for trx in sorted(glob.glob(os.path.join(results, "*.trx"))):
        root = ET.parse(trx).getroot()
        classes = {}
        for unit in root.iter("{%s}UnitTest" % NS["t"]):
            method = unit.find("t:TestMethod", NS)
            classes[unit.get("id")] = (method.get("className") or "") if method is not None else ""
        for r in root.iter("{%s}UnitTestResult" % NS["t"]):
            if r.get("outcome") not in ("NotExecuted", "Inconclusive"):
                continue
            cls = re.split(r"[.+]", classes.get(r.get("testId"), ""))[-1]
            name = r.get("testName", "")
            method = name.split("(")[0]
            if (cls, ANY_METHOD) in explicit or (cls, method) in explicit:
                continue
            msg = r.find("t:Output/t:ErrorInfo/t:Message", NS)
            yield f"{cls}.{name}: {msg.text.strip() if msg is not None and msg.text else 'not run'}"


def main(argv):
    if len(argv) != 3:
        print("usage: notrun.py RESULTS_DIR SOURCES_DIR", file=sys.stderr)
        return 2
    explicit = explicit_tests(argv[2])
    for line in not_run(argv[1], explicit):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
