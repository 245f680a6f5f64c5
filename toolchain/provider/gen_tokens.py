#!/usr/bin/env python3
"""Generate toolchain/provider/tokens.json: Terraform name -> Pulumi token.

Why: the upstream module github.com/pulumi/pulumi-openstack/provider/v5 is not
served by the Go module proxy reachable here, so our provider wrapper bridges
terraform-provider-openstack itself and must register exactly the type tokens
that the PyPI `pulumi-openstack` SDK sends (e.g. the SDK's
openstack.compute.QuotaSetV2 registers "openstack:compute/quotaSetV2:QuotaSetV2").

Inputs (read-only):
  --provider-go  .../terraform-provider-openstack/v3@vX/openstack/provider.go
                 (ResourcesMap / DataSourcesMap keys)
  --sdk          directory of the installed pulumi_openstack Python package
Output: JSON on stdout:
  {"sdk_version": ..., "resources": {tf_name: token}, "datasources": {...},
   "resource_aliases": {tf_name: legacy_token}, "datasource_aliases": {...}}

Matching: a TF name openstack_<x> matches a token <mod>/<m>:<Name> when the
normalised (lower case, no underscores) <x>, with and without its trailing
version suffix and with TF module abbreviations expanded, equals the
normalised module+Name. Names that no rule can derive are listed in OVERRIDES.
The script fails if any SDK token stays unmatched or is matched twice, so a
wrong table never gets written silently.
"""

import argparse
import json
import os
import re
import sys

# TF module abbreviation -> SDK module name
MODULE_ALIASES = {"lb": "loadbalancer", "fw": "firewall", "db": "database"}

# Tokens whose names cannot be derived from the TF name by the rule above.
OVERRIDES_RES = {
    "openstack_blockstorage_quotaset_v3": "openstack:blockstorage/quoteSetV3:QuoteSetV3",
    "openstack_blockstorage_quotaset_v2": "openstack:blockstorage/quoteSetV2:QuoteSetV2",
    "openstack_objectstorage_object_v1": "openstack:objectstorage/containerObject:ContainerObject",
}
# Properties the SDK names differently from the bridge's default
# (TF resource -> TF field -> Pulumi name); check_names.py finds them.
FIELD_OVERRIDES = {
    # "outputs" would clash with Pulumi's own outputs
    "openstack_orchestration_stack_v1": {"outputs": "StackOutputs"},
}

OVERRIDES_DS = {
    # TF keeps a deprecated duplicate of openstack_lb_flavor_v2 under this name
    "openstack_loadbalancer_flavor_v2": "openstack:loadbalancer/getLbFlavorDeprecated:getLbFlavorDeprecated",
    "openstack_dns_zone_v2": "openstack:dns/getDnsZone:getDnsZone",
    # sic: the SDK spells it "Availbility"
    "openstack_sharedfilesystem_availability_zones_v2": "openstack:sharedfilesystem/getAvailbilityZones:getAvailbilityZones",
}


def norm(s):
    return s.replace("_", "").replace("-", "").lower()


def tf_names(provider_go):
    src = open(provider_go).read()
    ds_start = src.index("DataSourcesMap:")
    res_start = src.index("ResourcesMap:")
    ds_block = src[ds_start:res_start] if ds_start < res_start else src[ds_start:]
    res_block = src[res_start:ds_start] if res_start < ds_start else src[res_start:]
    pat = re.compile(r'"(openstack_[a-z0-9_]+)":')
    return pat.findall(res_block), pat.findall(ds_block)


def sdk_tokens(sdk):
    res, fns, deprecated = set(), set(), set()
    tok_re = re.compile(r"@pulumi\.type_token\(\"(openstack:[^\"]+)\"\)")
    inv_re = re.compile(r"invoke(?:_output|_single)?\('(openstack:[^']+)'")
    for root, _, files in os.walk(sdk):
        for f in files:
            if not f.endswith(".py"):
                continue
            text = open(os.path.join(root, f), encoding="utf-8").read()
            found = tok_re.findall(text)
            calls = inv_re.findall(text)
            is_dep = "has been deprecated in favor of" in text
            for t in found:
                if t.startswith("openstack:index/provider") or t == "pulumi:providers:openstack":
                    continue
                res.add(t)
                if is_dep:
                    deprecated.add(t)
            for t in calls:
                fns.add(t)
                if is_dep:
                    deprecated.add(t)
    # resources only, not nested types: resource tokens appear in resource_modules
    init = open(os.path.join(sdk, "__init__.py"), encoding="utf-8").read()
    registered = set(re.findall(r'"(openstack:[a-zA-Z0-9]+/[A-Za-z0-9]+:[A-Za-z0-9]+)": "', init))
    res &= registered
    return res, fns, deprecated


def variants(tf):
    rest = tf[len("openstack_") :]
    parts = rest.split("_")
    out = set()
    cands = [parts]
    if parts[0] in MODULE_ALIASES:
        cands.append([MODULE_ALIASES[parts[0]]] + parts[1:])
    for p in cands:
        out.add(norm("".join(p)))
        if re.fullmatch(r"v\d+", p[-1]):
            out.add(norm("".join(p[:-1])))
        # index-module tokens keep the TF module as part of the name
    return out


def keys(token):
    _, modmember, name = token.split(":")
    mod = modmember.split("/")[0]
    name = name[3:] if name.startswith("get") and name[3:4].isupper() else name
    if mod == "index":
        return {norm(name)}
    return {norm(mod + name)}


def match(tf_list, tokens, overrides, deprecated, kind):
    by_key = {}
    for t in tokens:
        for k in keys(t):
            by_key.setdefault(k, []).append(t)
    primary, aliases, used = {}, {}, {}
    unmatched_tf = []
    for tf in tf_list:
        if tf in overrides:
            cands = [overrides[tf]] if overrides[tf] in tokens else []
        else:
            cands = sorted({t for v in variants(tf) for t in by_key.get(v, [])})
        if not cands:
            unmatched_tf.append(tf)
            continue
        cur = [t for t in cands if t not in deprecated]
        old = [t for t in cands if t in deprecated]
        if len(cur) != 1 or len(old) > 1:
            sys.exit(f"{kind} {tf}: ambiguous match {cands}")
        primary[tf] = cur[0]
        if old:
            aliases[tf] = old[0]
        for t in cands:
            if t in used:
                sys.exit(f"{kind} token {t} matched by both {used[t]} and {tf}")
            used[t] = tf
    missing = sorted(set(tokens) - set(used))
    return primary, aliases, unmatched_tf, missing


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--provider-go", required=True)
    ap.add_argument("--sdk", required=True)
    a = ap.parse_args()
    tf_res, tf_ds = tf_names(a.provider_go)
    res, fns, dep = sdk_tokens(a.sdk)
    plugin = json.load(open(os.path.join(a.sdk, "pulumi-plugin.json")))
    r, ra, r_un, r_miss = match(tf_res, res, OVERRIDES_RES, dep, "resource")
    d, da, d_un, d_miss = match(tf_ds, fns, OVERRIDES_DS, dep, "datasource")
    report = {
        "tf resources without SDK token": r_un,
        "SDK resource tokens without TF resource": r_miss,
        "tf data sources without SDK function": d_un,
        "SDK functions without TF data source": d_miss,
    }
    for k, v in report.items():
        print(f"{k}: {len(v)} {v}", file=sys.stderr)
    if r_miss or d_miss:
        sys.exit("some SDK tokens are not mapped: extend OVERRIDES_* in gen_tokens.py")
    json.dump(
        {
            "sdk_version": plugin["version"],
            "resources": dict(sorted(r.items())),
            "resource_aliases": dict(sorted(ra.items())),
            "datasources": dict(sorted(d.items())),
            "datasource_aliases": dict(sorted(da.items())),
            "fields": FIELD_OVERRIDES,
        },
        sys.stdout,
        indent=1,
    )
    print()


if __name__ == "__main__":
    main()
