#!/usr/bin/env python3
"""Copies the shared libraries that binaries load into a folder, for a machine that has none of them.

    scripts/bundle_libraries.py DEST_LIB_DIR BINARY... [--stand-in PATTERN,...]

Libraries whose soname matches a --stand-in pattern (fnmatch) are not copied, and neither are the
libraries only they need: a generated library of the same soname takes their place, defining every
symbol (same name, version, type and size) that the copied libraries import from them; its
functions trap if ever called. Debian's libtorch_cpu lists OpenCV and FFmpeg (for Caffe2 operators
that memembed never runs), which pull in Qt, GDAL, codecs and ~300 MB more; standing them in lets
the libtorch fuzz targets travel within a device run's 64 MiB. The dynamic loader is copied as
ld-linux-x86-64.so.2. Prints what was copied and stood in.
"""
import argparse
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tempfile


def run(*command):
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def needed(path):
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", run("readelf", "-d", path))


def resolved_paths(binaries):
    paths = {}
    for binary in binaries:
        for line in run("ldd", binary).splitlines():
            match = re.match(r"\s*(\S+) => (/\S+)", line)
            if match:
                paths[match.group(1)] = match.group(2)
            elif "ld-linux" in line:
                paths["ld-linux"] = line.split()[0]
    return paths


def dynamic_symbols(path):
    """(name, version, defined, type, size) of each dynamic symbol."""
    symbols = []
    for line in run("readelf", "--dyn-syms", "-W", path).splitlines():
        fields = line.split()
        if len(fields) < 8 or not fields[0].rstrip(":").isdigit():
            continue
        size, kind, index, full_name = fields[2], fields[3], fields[6], fields[7]
        name, _, version = full_name.partition("@")
        version = version.lstrip("@")
        size = int(size, 16) if size.startswith("0x") else int(size)
        symbols.append((name, version, index != "UND", kind, size))
    return symbols


def stand_in(soname, original, importers, dest):
    wanted = set()
    for importer in importers:
        wanted.update((name, version) for name, version, defined, _, _ in dynamic_symbols(importer) if not defined)
    lines, versions = [], {}
    for name, version, defined, kind, size in dynamic_symbols(original):
        if not defined or (name, version) not in wanted and (name, "") not in wanted:
            continue
        versions.setdefault(version, []).append(name)
        if kind in ("FUNC", "IFUNC", "NOTYPE"):
            lines += [".text", f'.globl "{name}"', f'.type "{name}", @function', f'"{name}":', "ud2"]
        elif kind == "TLS":
            lines += [".section .tbss,\"awT\",@nobits", f'.globl "{name}"', f'.type "{name}", @tls_object',
                      f'.size "{name}", {max(size, 1)}', f'"{name}":', f".zero {max(size, 1)}"]
        else:
            lines += [".data", ".balign 16", f'.globl "{name}"', f'.type "{name}", @object',
                      f'.size "{name}", {max(size, 1)}', f'"{name}":', f".zero {max(size, 1)}"]
    with tempfile.TemporaryDirectory() as scratch:
        source = os.path.join(scratch, "stand_in.s")
        with open(source, "w") as out:
            out.write("\n".join(lines) + "\n")
        script = os.path.join(scratch, "versions.map")
        with open(script, "w") as out:
            for version, names in versions.items():
                if version:
                    out.write(version + " { global: " + " ".join(f'"{n}";' for n in names) + " };\n")
        command = ["gcc", "-shared", "-nostdlib", "-o", os.path.join(dest, soname), source,
                   f"-Wl,-soname,{soname}"]
        if any(v for v in versions):
            command.append(f"-Wl,--version-script,{script}")
        subprocess.run(command, check=True)
    return sum(len(v) for v in versions.values())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest")
    parser.add_argument("binaries", nargs="+")
    parser.add_argument("--stand-in", default="", help="comma-separated soname patterns")
    args = parser.parse_args()
    patterns = [p for p in args.stand_in.split(",") if p]
    os.makedirs(args.dest, exist_ok=True)
    paths = resolved_paths(args.binaries)

    kept, stood_in = {}, set()
    pending = [n for b in args.binaries for n in needed(b)]
    while pending:
        soname = pending.pop()
        if soname in kept or soname in stood_in or soname.startswith("ld-linux"):
            continue
        if any(fnmatch.fnmatch(soname, p) for p in patterns):
            stood_in.add(soname)
            continue
        if soname not in paths:
            sys.exit(f"bundle_libraries: ldd does not resolve {soname}")
        kept[soname] = paths[soname]
        pending += needed(paths[soname])

    for soname, path in kept.items():
        shutil.copy(os.path.realpath(path), os.path.join(args.dest, soname))
    shutil.copy(os.path.realpath(paths["ld-linux"]), os.path.join(args.dest, "ld-linux-x86-64.so.2"))
    importers = list(args.binaries) + list(kept.values())
    for soname in sorted(stood_in):
        count = stand_in(soname, paths[soname], importers, args.dest)
        print(f"stood in {soname} ({count} symbols)")
    print(f"copied {len(kept)} libraries")


if __name__ == "__main__":
    main()
