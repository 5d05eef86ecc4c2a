#!/usr/bin/env python3
"""Fails on a declared dependency that no target of its package uses.

Reads `cargo clippy --workspace --all-targets --message-format=json -- ...
--force-warn unused_crate_dependencies` on stdin, prints every other diagnostic as cargo
would, and exits 1 if a workspace package declares a dependency nothing uses.

rustc checks one compilation unit at a time, so it also reports an integration test that does
not use a dev-dependency, or a binary that does not use a library its sibling binary uses. A
dependency is therefore unused only when every unit that received it reported it: a normal
dependency reaches every unit of its package, a dev-dependency only the test units (test,
bench and example targets, and the cfg(test) builds of the library and binaries).
"""

import json
import re
import subprocess
import sys
from collections import Counter

UNUSED = re.compile(r"extern crate `([^`]+)` is unused")


def declared():
    """Per workspace package id: (normal deps, dev-only deps) by crate name."""
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    meta = json.loads(out)
    deps = {}
    for pkg in meta["packages"]:
        normal, dev = set(), set()
        for d in pkg["dependencies"]:
            if d["name"] == pkg["name"]:
                # A package's dev-dependency on itself only turns on features for its tests
                # (crates/outset: the `testd` feature); it is not a crate to use.
                continue
            name = (d.get("rename") or d["name"]).replace("-", "_")
            if d["kind"] is None:
                normal.add(name)
            elif d["kind"] == "dev":
                dev.add(name)
        deps[pkg["id"]] = (pkg["name"], normal, dev - normal)
    return deps


def is_test_unit(msg):
    kinds = msg["target"]["kind"]
    return msg["profile"]["test"] or any(k in ("test", "bench", "example") for k in kinds)


def main():
    units, test_units, reported = Counter(), Counter(), Counter()
    built = False
    for line in sys.stdin:
        try:
            msg = json.loads(line)
        except ValueError:
            sys.stdout.write(line)
            continue
        reason = msg.get("reason")
        if reason == "compiler-artifact" and "custom-build" not in msg["target"]["kind"]:
            units[msg["package_id"]] += 1
            if is_test_unit(msg):
                test_units[msg["package_id"]] += 1
        elif reason == "compiler-message":
            m = msg["message"]
            unused = UNUSED.search(m["message"])
            if (m.get("code") or {}).get("code") == "unused_crate_dependencies" and unused:
                reported[(msg["package_id"], unused.group(1))] += 1
            elif m.get("rendered"):
                sys.stderr.write(m["rendered"])
        elif reason == "build-finished":
            built = msg["success"]
    if not built:
        # A unit that failed reported nothing: the counts would mean nothing.
        print("unused-deps: the build failed, dependencies not checked", file=sys.stderr)
        return 1

    found = []
    for pkg, (name, normal, dev) in sorted(declared().items()):
        for dep in sorted(normal):
            if units[pkg] and reported[(pkg, dep)] == units[pkg]:
                found.append(f"{name}: dependency `{dep}` is unused")
        for dep in sorted(dev):
            if test_units[pkg] and reported[(pkg, dep)] == test_units[pkg]:
                found.append(f"{name}: dev-dependency `{dep}` is unused")
    for f in found:
        print(f"unused-deps: {f}", file=sys.stderr)
    if found:
        return 1
    print("unused-deps: every declared dependency is used", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
