#!/usr/bin/env python3
"""Check that our pulumi-resource-openstack names every resource property exactly
as the pinned PyPI pulumi-openstack SDK expects.

    toolchain/provider/check_names.py BIN_DIR/pulumi-resource-openstack SDK_DIR

SDK_DIR is the installed pulumi_openstack package. Exit 1 and list the
differences when the provider (TF schema + bridge naming) and the SDK disagree,
e.g. after bumping terraform-provider-openstack without regenerating tokens.json
or where upstream pulumi-openstack renames a field by hand.
"""

import json
import os
import re
import subprocess
import sys

GETTER = re.compile(r'@pulumi\.getter(?:\(name="([^"]+)"\))?\s*\n(?:\s*@[^\n]+\n)*\s*def (\w+)\(self\)')
TOKEN = re.compile(r'@pulumi\.type_token\("([^"]+)"\)')


def sdk_resource_props(sdk):
    out = {}
    for root, _, files in os.walk(sdk):
        for f in files:
            if not f.endswith(".py"):
                continue
            text = open(os.path.join(root, f), encoding="utf-8").read()
            for m in TOKEN.finditer(text):
                # the resource class follows its decorator up to the next class or EOF
                body = text[m.end() :]
                nxt = re.search(r"\n(?:@pulumi\.\w+|class )", body[1:])
                body = body[: nxt.start() + 1] if nxt else body
                out[m.group(1)] = {g1 or g2 for g1, g2 in GETTER.findall(body)}
    return out


def main():
    binary, sdk = sys.argv[1], sys.argv[2]
    ours = json.loads(subprocess.run([binary, "-sahab-dump-names"], check=True, capture_output=True, text=True).stdout)
    theirs = sdk_resource_props(sdk)
    bad = 0
    for tok, names in sorted(ours.items()):
        if tok not in theirs:
            print(f"{tok}: not a resource of the SDK")
            bad += 1
            continue
        ours_set, sdk_set = set(names), theirs[tok]
        if ours_set != sdk_set:
            bad += 1
            print(f"{tok}: provider-only {sorted(ours_set - sdk_set)} sdk-only {sorted(sdk_set - ours_set)}")
    print(f"{len(ours)} resources checked, {bad} differ", file=sys.stderr)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
