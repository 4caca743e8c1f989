#!/usr/bin/python3
"""Writes the seed corpora of the fuzzers into fuzz/corpus/<fuzzer>/ (run with /usr/bin/python3;
no third-party module). Each file is small: a valid input of each shape the reader accepts, and
one of each refusal, the regressions of issue 14 among them (the repro-* files). Rerun after
editing; the files are committed, so that CI's corpus tests need no Python."""

import json
import pathlib
import shutil
import struct

ROOT = pathlib.Path(__file__).resolve().parent / "corpus"


def npy(header: str, data: bytes = b"", version: int = 1, pad: bool = True) -> bytes:
    """A .npy file with `header` (the dict text) as NumPy writes it: padded to 64 bytes with
    spaces, ended by a newline."""
    text = header
    length_bytes = 2 if version == 1 else 4
    if pad:
        unpadded = 8 + length_bytes + len(text) + 1
        text += " " * ((64 - unpadded % 64) % 64)
    text += "\n"
    raw = text.encode("latin1")
    length = struct.pack("<H" if version == 1 else "<I", len(raw))
    return b"\x93NUMPY" + bytes([version, 0]) + length + raw + data


def dict_text(descr: str, shape: str, fortran: str = "False") -> str:
    return "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)


def floats(fmt: str, values) -> bytes:
    return b"".join(struct.pack("<" + fmt, v) for v in values)


def npy_corpus():
    f4_6 = floats("f", [0.5, -1.0, 2.0, 0.25, 1.5, -0.75])
    f8_12 = floats("d", [0.1 * i - 0.5 for i in range(12)])
    few = b"\x00\x00\x80\x3f" * 2  # "a few data bytes": two float32 ones
    return {
        "valid-f4-3x2.npy": npy(dict_text("<f4", "(3, 2)"), f4_6),
        "valid-f8-2x3x2.npy": npy(dict_text("<f8", "(2, 3, 2)"), f8_12),
        "valid-v2.npy": npy(dict_text("<f4", "(2, 3)"), f4_6, version=2),
        "valid-v3.npy": npy(dict_text("<f4", "(3, 2)"), f4_6, version=3),
        "valid-no-spaces.npy": npy("{'descr':'<f4','fortran_order':False,'shape':(3,2)}", f4_6),
        "valid-native-order.npy": npy(dict_text("=f4", "(3, 2)"), f4_6),
        "valid-double-quotes.npy": npy(
            '{"descr": "<f4", "fortran_order": False, "shape": (2, 3,)}', f4_6),
        "valid-empty.npy": npy(dict_text("<f4", "(0, 4)")),
        "nan.npy": npy(dict_text("<f4", "(3, 2)"), floats("f", [0, 1, float("nan"), 2, 3, 4])),
        # Issue 14's reproducers: shapes whose product passes 2^64 (heads x T x dk).
        "repro-2pow62-4-1.npy": npy(dict_text("<f4", "(4611686018427387904, 4, 1)"), few),
        "repro-2pow61-8-1.npy": npy(dict_text("<f4", "(2305843009213693952, 8, 1)"), few),
        "repro-2pow62plus1-4-1.npy": npy(dict_text("<f4", "(4611686018427387905, 4, 1)"), few),
        "dim-20-digits.npy": npy(dict_text("<f4", "(12345678901234567890, 1)"), few),
        "claims-1e12.npy": npy(dict_text("<f4", "(1000000, 1000000)"), few),
        "v2-header-4gib.npy": b"\x93NUMPY\x02\x00\xff\xff\xff\xff{'descr'",
        "header-too-long.npy": npy(dict_text("<f4", "(3, 2)") + " " * 10100, f4_6),
        "trailing-bytes.npy": npy(dict_text("<f4", "(3, 2)"), f4_6 + b"\x00"),
        "missing-bytes.npy": npy(dict_text("<f4", "(3, 2)"), f4_6[:-1]),
        "fortran.npy": npy(dict_text("<f4", "(3, 2)", "True"), f4_6),
        "big-endian.npy": npy(dict_text(">f4", "(3, 2)"), f4_6),
        "int32.npy": npy(dict_text("<i4", "(3, 2)"), f4_6),
        "not-a-tuple.npy": npy(dict_text("<f4", "(6)"), f4_6),
        "leading-zero.npy": npy(dict_text("<f4", "(03, 2)"), f4_6),
        "negative-dim.npy": npy(dict_text("<f4", "(-3, 2)"), f4_6),
        "unknown-key.npy": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), "
                               "'extra': 1}", f4_6),
        "duplicate-key.npy": npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, "
                                 "'shape': (3, 2)}", f4_6),
        "missing-key.npy": npy("{'descr': '<f4', 'shape': (3, 2)}", f4_6),
        "no-newline.npy": npy(dict_text("<f4", "(3, 2)"), f4_6, pad=False)[:-len(f4_6)].rstrip(
            b"\n") + f4_6,
        "version-4.npy": b"\x93NUMPY\x04\x00" + npy(dict_text("<f4", "(3, 2)"), f4_6)[8:],
        "truncated-header.npy": npy(dict_text("<f4", "(3, 2)"), f4_6)[:30],
        "not-npy.npy": b"not a numpy file at all",
    }


def bench(entries, context=None) -> bytes:
    doc = {"context": context or {"num_cpus": 2, "cpu_device": "cpu", "library_build_type":
                                  "release"}, "benchmarks": entries}
    return json.dumps(doc, indent=1).encode()


def entry(name, real_time, unit="ns", **extra):
    e = {"name": name, "run_name": name, "run_type": "iteration", "repetitions": 4,
         "iterations": 10, "real_time": real_time, "cpu_time": real_time, "time_unit": unit}
    e.update(extra)
    return e


def bench_corpus():
    base = [entry("a", t) for t in (10.0, 11.0, 10.5, 10.2)] + [entry("b", 5.0, "us")]
    new = [entry("a", t) for t in (13.0, 12.5, 13.2, 12.9)] + [entry("b", 5.1, "us")]
    median = {"name": "c_median", "run_name": "c", "run_type": "aggregate",
              "aggregate_name": "median", "real_time": 3.0, "time_unit": "ms",
              "items_per_second": 1e6}
    return {
        "valid-two-files.json": bench(base) + b"\0" + bench(new),
        "valid-aggregate.json": bench([median, entry("d", 1.0, "s", items_per_second=5.0)]),
        "error-occurred.json": bench([entry("e", 1.0, error_occurred=True,
                                            error_message="skipped")] + base),
        "nan-infinity.json": b'{"benchmarks": [{"name": "x", "real_time": NaN, '
                             b'"items_per_second": -Infinity, "time_unit": "ns"}]}',
        "number-overflow.json": b'{"benchmarks": [{"name": "x", "real_time": 1e400}]}',
        "string-metric.json": b'{"benchmarks": [{"name": "x", "real_time": "fast"}]}',
        "number-name.json": b'{"benchmarks": [{"name": 7, "real_time": 1}]}',
        "bad-time-unit.json": b'{"benchmarks": [{"name": "x", "real_time": 1, "time_unit": 3}]}',
        "bool-as-string.json": b'{"benchmarks": [{"name": "x", "real_time": 1, '
                               b'"error_occurred": "no"}]}',
        "context-array.json": b'{"context": [], "benchmarks": [{"name": "x", "real_time": 1}]}',
        "no-benchmarks.json": b'{"context": {}}',
        "truncated.json": bench(base)[:100],
        "empty.json": b"",
    }


def range_corpus():
    items = ["256:8192:x2", "0.5:2:+0.5", "64,256:1024:x2", "256:4096:*4", "1024", "256,512,1000",
             "256:8192:2", "inf", "nan", "1e400", "-1e308:1e308:+1", "1:1e300:x1.0000001",
             "1e18:2e18:+1", "1:2:x", "8:1:x2", "1:4:+0", "markov,attention", "a,,b", "1:2:3:4",
             ""]
    return {f"item-{i:02d}.txt": text.encode() for i, text in enumerate(items)}


def main():
    for name, files in (("fuzz_npy", npy_corpus()), ("fuzz_bench_json", bench_corpus()),
                        ("fuzz_range", range_corpus())):
        directory = ROOT / name
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        for file_name, data in files.items():
            (directory / file_name).write_bytes(data)
        print(f"{directory}: {len(files)} files")


if __name__ == "__main__":
    main()
