"""Edit one results cell file of either tree.

usage: cellkit.py TREE_DIR FILE [--reseal] [--out NEWFILE] OP...
OPs (applied in order):
  set:COL=VAL[@WCOL=WVAL]   set COL to VAL on rows where WCOL == WVAL (all rows if no @)
  repeat:N@WCOL=WVAL        repeat the first row matching WCOL == WVAL N times in all
  cut:FRAC                  keep the first FRAC of the CSV body's bytes
The file's trailer (after tree) is dropped; with --reseal and a tree that has
benchmarks.results.sealed, the new body is sealed again with the sweep id the old trailer
named (so the checksum passes and the row checks are exercised).
"""
import csv
import io
import re
import sys

tree, path, *rest = sys.argv[1:]
sys.path.insert(0, tree)
reseal = "--reseal" in rest
rest = [r for r in rest if r != "--reseal"]
out = path
if "--out" in rest:
    i = rest.index("--out")
    out = rest[i + 1]
    del rest[i:i + 2]

text = open(path, "rb").read().decode("utf-8")
m = re.search(r"(?:\A|\n)(#spark-bench-cell sha256=[0-9a-f]{64} sweep=([A-Za-z0-9_.-]+)\n?)\Z", text)
sweep = None
if m:
    sweep = m.group(2)
    body = text[: m.start(1)]
else:
    body = text


def rows_of(body):
    r = list(csv.reader(io.StringIO(body, newline="")))
    return r[0], r[1:]


def csv_text(header, rows):
    s = io.StringIO(newline="")
    w = csv.writer(s, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    return s.getvalue()


def where(spec):
    if "@" in spec:
        a, b = spec.split("@", 1)
        wc, wv = b.split("=", 1)
        return a, (wc, wv)
    return spec, None


for op in rest:
    kind, arg = op.split(":", 1)
    if kind == "set":
        assign, cond = where(arg)
        col, val = assign.split("=", 1)
        header, rows = rows_of(body)
        ci = header.index(col)
        for row in rows:
            if cond is None or row[header.index(cond[0])] == cond[1]:
                row[ci] = val
        body = csv_text(header, rows)
    elif kind == "repeat":
        n, cond = where(arg)
        header, rows = rows_of(body)
        idx = next(i for i, row in enumerate(rows) if row[header.index(cond[0])] == cond[1])
        rows = rows[:idx] + [rows[idx]] * int(n) + rows[idx + 1:]
        body = csv_text(header, rows)
    elif kind == "cut":
        data = body.encode()
        body = data[: int(len(data) * float(arg))].decode("utf-8", "ignore")
        if not body.endswith("\n"):
            body += "\n"  # the cut line ends like a line: the trailer goes on a line of its own
    else:
        raise SystemExit(f"unknown op {op}")

if reseal and sweep is not None:
    from benchmarks.results import sealed

    body = sealed(body, sweep)
with open(out, "wb") as fh:
    fh.write(body.encode("utf-8"))
print(f"cellkit: wrote {out} ({'sealed sweep ' + sweep if reseal and sweep else 'no trailer'})")
