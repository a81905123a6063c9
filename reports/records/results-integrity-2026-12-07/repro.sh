#!/usr/bin/env bash
# Issue 42 reproductions against one tree: repro.sh before|after [case-prefix...]
# Worktrees: /tmp/r42/before (f054fc6), /tmp/r42/after (809bf05). Case folders under
# /tmp/r42/work-$TREE; one summary line per case in /tmp/r42/work-$TREE/summary.tsv.
set -u
TREE=$1; shift
ONLY=("$@")
W=/tmp/r42/$TREE
R=/tmp/r42/work-$TREE
PY=/work/main/.venv/bin/python
KIT="$PY /tmp/r42/cellkit.py $W"
T="--backends spark --timesteps 10 --runs 1 --instances 1 --duration 50 --no-cold"
BASE=$W/base
SUM=$R/summary.tsv
mkdir -p "$R"

# spark-bench of this tree; cwd $CWD (default: the worktree); timeout $TO (default 300)
sb() { ( cd "${CWD:-$W}" && PYTHONPATH=$W timeout "${TO:-300}" $PY -m benchmarks.cli "$@" ); }

want() {  # is case $1 selected?
  [ ${#ONLY[@]} -eq 0 ] && return 0
  for p in "${ONLY[@]}"; do [[ $1 == $p* ]] && return 0; done
  return 1
}

# go NAME cmd...: run, keep stdout/stderr, set RC and FIRST (the line that matters)
go() {
  local name=$1; shift
  "$@" >"$R/$name.stdout" 2>"$R/$name.stderr"
  RC=$?
  FIRST=$($PY - "$R/$name.stdout" "$R/$name.stderr" "$RC" <<'EOF'
import sys, re
out = open(sys.argv[1], errors="replace").read()
err = open(sys.argv[2], errors="replace").read()
rc = int(sys.argv[3])
esc = lambda s: s.encode("unicode_escape").decode()[:170]
lines = [l for l in err.splitlines() if l.strip()]
if rc == 124:
    print("TIMEOUT (hung 60 s)"); sys.exit()
if "Traceback" in err:
    exc = [l for l in lines if re.match(r"^[A-Za-z_.]+(Error|Exception|Warning|Exit)?[A-Za-z]*: ", l) or re.match(r"^[A-Za-z_.]+Error$", l)]
    print("TRACEBACK " + esc(exc[-1] if exc else lines[-1])); sys.exit()
for pat in (r"error", r"resuming", r"refus", r"failed"):
    hit = [l for l in lines if re.search(pat, l, re.I)]
    if hit:
        print(esc(hit[0])); sys.exit()
ol = [l for l in out.splitlines() if l.strip()]
print(esc((lines or ol or ["(no output)"])[0]))
EOF
)
}

rec() {  # rec CASE HAZARD
  printf '%s\t%s\t%s\t%s\n' "$1" "$RC" "$FIRST" "$2" | tee -a "$SUM"
}

fresh() { rm -rf "$R/$1"; cp -a "$BASE" "$R/$1"; echo "$R/$1"; }
kcell() { ls "$1"/cells/*-k10.csv; }
bcell() { ls "$1"/cells/*-kbuild.csv; }
md() { cat "$1"/report/report.md 2>/dev/null; }
has() { if md "$1" | grep -qF -- "$2"; then echo "yes"; else echo "no"; fi; }
problems() {  # the problems section of report.md, squeezed
  $PY - "$1/report/report.md" <<'EOF'
import sys, re
try: t = open(sys.argv[1]).read()
except OSError: print("no report.md"); sys.exit()
m = re.search(r"\n(#+ [^\n]*(?:[Pp]roblem|[Ss]kipped)[^\n]*)\n(.*?)(\n#+ |\Z)", t, re.S)
if not m: print("no problems section"); sys.exit()
body = " ".join(l.strip() for l in m.group(2).splitlines() if l.strip())
print(body[:220])
EOF
}
victim() {  # victim CASE -> path of a file in a fresh victim folder
  local v=/tmp/r42/victim-$TREE-$1; rm -rf "$v"; mkdir -p "$v"
  echo "precious victim data" >"$v/file.txt"; echo "$v/file.txt"
}
vstate() { if [ ! -e "$1" ]; then echo "victim GONE"; elif [ "$(cat "$1")" = "precious victim data" ]; then echo "victim intact"; elif [ ! -s "$1" ]; then echo "victim EMPTIED"; else echo "victim OVERWRITTEN ($(head -c 60 "$1" | tr '\n' ' '))"; fi; }

# ---------------------------------------------------------------- base
if [ ! -d "$BASE/cells" ]; then
  go base sb run tiny $T --out "$BASE"; rec base "$(ls $BASE/cells | tr '\n' ' ')"
fi

# ---------------------------------------------------------------- point 1
if want p1a; then
  O=$R/p1a; rm -rf "$O"; mkdir -p "$O"; V=$(victim lock); ln -s "$V" "$O/.sweep.lock"
  go p1a sb run tiny $T --out "$O"; rec p1a-lock-symlink "$(vstate "$V"); cells: $(ls $O/cells 2>/dev/null | wc -l)"
fi
if want p1b; then
  D=$(fresh p1b); LOG=$(ls "$BASE"/logs/*.log | head -1); LOG=$D/logs/$(basename "$LOG")
  rm -f "$D"/cells/*; V=$(victim log); rm -f "$LOG"; ln -s "$V" "$LOG"
  go p1b sb run tiny $T --out "$D"
  rec p1b-log-symlink "$(vstate "$V"); log now $( [ -L "$LOG" ] && echo link || echo 'own file')"
fi

# ---------------------------------------------------------------- point 2
resume_case() {  # resume_case CASE (cell K already damaged in $D)
  go "$1" sb run tiny $T --out "$D"
  local done; done=$(grep -o 'resuming: [0-9]* of [0-9]* cells already done' "$R/$1.stderr" | head -1)
  local k; k=$(tail -c 100 "$K" | tr -d '\r' | tail -1 | cat -v | cut -c1-20)
  rec "$1" "${done:-no 'already done'}; K now $(wc -c <"$K") B, ends '$k'"
}
if want p2a; then D=$(fresh p2a); K=$(kcell "$D"); head -c 700 "$K" >"$K.tmp" && mv "$K.tmp" "$K"; resume_case p2a-truncated-700; fi
if want p2b; then D=$(fresh p2b); K=$(kcell "$D"); printf 'this is not a cell\n\xff\xfe,,;;\n' >"$K"; resume_case p2b-garbage; fi
if want p2c; then D=$(fresh p2c); K=$(kcell "$D"); : >"$K"; resume_case p2c-empty; fi
if want p2d; then
  D=$(fresh p2d); K=$(kcell "$D"); rm "$D/provenance.json"
  go p2d sb run tiny --backends spark --timesteps 10 --runs 3 --instances 1 --duration 40 --no-cold --out "$D"
  facts=$($PY - "$D" <<'EOF'
import sys, csv, glob, json, io
d = sys.argv[1]
k = glob.glob(d + "/cells/*-k10.csv")[0]
rows = [r for r in csv.DictReader(io.StringIO("".join(l for l in open(k) if not l.startswith("#"))))]
loops = [r for r in rows if r["phase"] == "loop"]
p = json.load(open(d + "/provenance.json"))
s = p.get("settings", {})
print(f"cell: {len(loops)} loop rows, sim_seconds {sorted({r['sim_seconds'] for r in loops})}; "
      f"provenance: runs {s.get('runs')}, duration_ms {p.get('duration_ms')}")
EOF
)
  rec p2d-no-provenance-rerun-runs3-40ms "$facts"
fi

# ---------------------------------------------------------------- point 3
if want p3; then
  S=$R/p3; rm -rf "$S"; mkdir -p "$S"
  go p3-export sb spec export tiny --out "$S/tiny.toml"; rec p3-export "$(wc -l <"$S/tiny.toml") lines"
  C="--cache-dir $W/.cache/spark-bench"
  CWD=$S go p3-first sb run tiny.toml $T $C --out "$S/o"; rec p3-first-run-tiny.toml "cells: $(ls $S/o/cells | wc -l)"
  cp "$S/tiny.toml" "$S/copy.toml"
  for v in same abs copy name edit; do
    rm -rf "$S/o_$v"; cp -a "$S/o" "$S/o_$v"
    case $v in
      same) net=tiny.toml;; abs) net=$S/tiny.toml;; copy) net=copy.toml;; name) net=tiny;;
      edit) $PY -c 'import re,sys; t=open(sys.argv[1]).read(); open(sys.argv[2],"w").write(re.sub(r"tau_m(\s*)=(\s*)10(\.0)?\b", r"tau_m\1=\g<2>12.0", t, count=1))' "$S/tiny.toml" "$S/edit.toml"; net=edit.toml
            diff "$S/tiny.toml" "$S/edit.toml" >"$R/p3-edit.diff";;
    esac
    CWD=$S go "p3-$v" sb run "$net" $T $C --out "$S/o_$v"
    done_=$(grep -o 'resuming: [0-9]* of [0-9]* cells already done' "$R/p3-$v.stderr" | head -1)
    rec "p3-$v" "${done_:-not resumed}"
  done
fi

# ---------------------------------------------------------------- point 4
report_case() {  # report_case CASE [report args...] ; D set
  local c=$1; shift
  TO=${TO:-300} go "$c" sb report "$D" "$@"
}
facts4() {
  echo "noloop=$(has "$D" 'No closed-loop backend has loop results'); rejected-in-md=$(md "$D" | grep -c rejected); problems: $(problems "$D")"
}
if want p4a; then
  for variant in raw reseal; do
    for edit in "seconds=nan" "seconds=inf" "seconds=abc" "status=bogus" "phase=bogus"; do
      c="p4a-loop-$edit-$variant"; D=$(fresh "$c"); K=$(kcell "$D")
      $KIT "$K" $([ $variant = reseal ] && echo --reseal) "set:$edit@phase=loop" >/dev/null
      report_case "$c" --format md; rec "$c" "$(facts4)"
    done
  done
  # the resealed NaN cell: does a resumed run trust it?
  D=$R/p4a-loop-seconds=nan-reseal; K=$(kcell "$D"); rm -rf "$D/report"; resume_case p4a-run-on-resealed-nan
fi
if want p4b; then
  for variant in raw reseal; do
    c="p4b-seconds=-5-$variant"; D=$(fresh "$c"); K=$(kcell "$D")
    $KIT "$K" $([ $variant = reseal ] && echo --reseal) "set:seconds=-5@phase=loop" >/dev/null
    report_case "$c" --format md
    rec "$c" "'-100 s' in md: $(has "$D" '-100'); $(md "$D" | grep -m1 -o '[^.]*-100[^.]*' | cut -c1-90); rejected=$(md "$D" | grep -c rejected)"
    c="p4b-latency=-0.5-$variant"; D=$(fresh "$c"); K=$(kcell "$D")
    $KIT "$K" $([ $variant = reseal ] && echo --reseal) "set:latency_p50_s=-0.5@phase=loop" >/dev/null
    report_case "$c" --format md
    rec "$c" "latency table row: $(md "$D" | grep -A4 '^### Per-chunk latency' | tail -1 | cut -c1-70); rejected=$(md "$D" | grep -c rejected)"
  done
fi
if want p4c; then
  for variant in raw reseal; do
    c="p4c-loop-row-x50-$variant"; D=$(fresh "$c"); K=$(kcell "$D")
    $KIT "$K" $([ $variant = reseal ] && echo --reseal) "repeat:50@phase=loop" >/dev/null
    report_case "$c" --format md
    rec "$c" "loop-table row: $(md "$D" | grep -m1 -E '^\| *spark *\|.*\| *closed *\|' | tr -s ' ' | cut -c1-110); rejected=$(md "$D" | grep -c rejected)"
  done
fi
if want p4d; then
  c=p4d-cut-2of3-raw; D=$(fresh p4d-raw); K=$(kcell "$D"); n=$(( $(wc -c <"$K") * 2 / 3 ))
  head -c $n "$K" >"$K.tmp" && mv "$K.tmp" "$K"
  report_case "$c" --format md; rec "$c" "title: $(md "$D" | head -1 | cut -c1-90); rejected=$(md "$D" | grep -c rejected)"
  c=p4d-cut-2of3-reseal; D=$(fresh p4d-reseal); K=$(kcell "$D")
  $KIT "$K" --reseal cut:0.6667 >/dev/null
  report_case "$c" --format md; rec "$c" "title: $(md "$D" | head -1 | cut -c1-90); rejected=$(md "$D" | grep -c rejected)"
fi

# ---------------------------------------------------------------- point 5
if want p5a; then
  for v in list string null nan nested dir; do
    c="p5a-provenance-$v"; D=$(fresh "$c"); P=$D/provenance.json
    case $v in
      list) echo '[1]' >"$P";; string) echo '"text"' >"$P";; null) echo null >"$P";;
      nan) echo NaN >"$P";; nested) $PY -c 'print("["*5000+"]"*5000)' >"$P";;
      dir) rm "$P"; mkdir "$P";;
    esac
    report_case "$c"; rec "$c" "report.md: $( [ -s $D/report/report.md ] && echo written || echo none)"
  done
fi
if want p5b; then
  c=p5b-truncated-provenance-run; D=$(fresh "$c"); head -c 100 "$D/provenance.json" >"$D/p.tmp" && mv "$D/p.tmp" "$D/provenance.json"
  go "$c" sb run tiny $T --out "$D"; rec "$c" ""
fi
if want p5c; then
  HDR="network,dtype,backend,sim_seconds,loop_seconds,events,events_per_second,bandwidth_bytes_per_second,bound_events_per_second,fraction_of_bound"
  for v in empty header ff missingcol; do
    c="p5c-roofline-$v"; D=$(fresh "$c"); F=$D/roofline.csv
    case $v in
      empty) : >"$F";; header) echo "$HDR" >"$F";; ff) printf '\xff\n' >"$F";;
      missingcol) printf 'network,dtype,backend,sim_seconds,loop_seconds,events_per_second,bandwidth_bytes_per_second,bound_events_per_second,fraction_of_bound\ntiny,float32,spark,0.05,0.01,1000,1e9,1e8,0.00001\n' >"$F";;
    esac
    report_case "$c"; rec "$c" "report.md: $( [ -s $D/report/report.md ] && echo written || echo none)"
  done
fi
if want p5d; then
  # a full disk: writes above 40 kB fail with EFBIG (RLIMIT_FSIZE; Python ignores SIGXFSZ)
  c=p5d-full-disk; D=$(fresh "$c"); TO=300 go p5d-first sb report "$D"
  sum1=$(md5sum <"$D/report/report.md"); n1=$(find "$D/report" -type f | wc -l)
  (cd "$D/report" && find . -type f | sort | xargs md5sum) >"$R/p5d.md5"
  $KIT "$(kcell "$D")" --reseal "set:seconds=0.0061@phase=loop" >/dev/null  # new data: a whole new report differs in its tables
  sbfull() { ( cd "$W" && PYTHONPATH=$W timeout 300 prlimit --fsize=40000 -- $PY -m benchmarks.cli "$@" ); }
  go "$c" sbfull report "$D"
  sum2=$(md5sum <"$D/report/report.md" 2>/dev/null)
  changed=$(cd "$D/report" 2>/dev/null && md5sum -c "$R/p5d.md5" 2>/dev/null | grep -v ': OK$' | sed 's/^\.\///' | tr '\n' ' ')
  rec "$c" "old report.md $( [ "$sum1" = "$sum2" ] && echo unchanged || echo CHANGED); files $n1 -> $(find "$D/report" -type f | wc -l); files rewritten/broken: ${changed:-none}; leftovers: $(ls -a "$D" | grep -c '^\.report')"
  # a read-only output folder: the report run as user nobody, D/report owned by root, mode 755
  c=p5d-readonly-out; D=$(fresh "$c"); TO=300 go p5d-ro-first sb report "$D"
  chmod -R a+rX "$D"; n1=$(find "$D/report" -type f | wc -l)
  sbnobody() { ( cd "$W" && PYTHONPATH=$W HOME=/tmp MPLCONFIGDIR=/tmp/r42/mpl-nobody timeout 300 setpriv --reuid=65534 --regid=65534 --clear-groups $PY -B -m benchmarks.cli "$@" ); }
  mkdir -p /tmp/r42/mpl-nobody; chmod 777 /tmp/r42/mpl-nobody
  go "$c" sbnobody report "$D"
  rec "$c" "files $n1 -> $(find "$D/report" -type f | wc -l)"
  c=p5d-readonly-results; D=$(fresh "$c"); chmod -R a+rX "$D"
  go "$c" sbnobody report "$D"; rec "$c" "report dir: $( [ -d $D/report ] && echo exists || echo absent)"
fi
machines_copy() {  # machines_copy NAME_ORIG NAME_COPY: originals get machine NAME_ORIG (if set), copies NAME_COPY
  for f in "$D"/cells/*.csv; do
    [ -n "$1" ] && $KIT "$f" --reseal "set:machine=$1" >/dev/null
    $KIT "$f" --reseal --out "${f%.csv}-m2.csv" "set:machine=$2" >/dev/null
  done
}
if want p5e; then
  c=p5e-machine-300-chars; D=$(fresh "$c"); machines_copy "" "$(printf 'x%.0s' $(seq 300))"
  report_case "$c"; rec "$c" "report.md: $( [ -s $D/report/report.md ] && echo written || echo none)"
fi
if want p5f; then
  for variant in raw reseal; do
    c="p5f-k=10**30-$variant"; D=$(fresh "$c"); K=$(kcell "$D")
    $KIT "$K" $([ $variant = reseal ] && echo --reseal) "set:k=1000000000000000000000000000000@k=10" >/dev/null
    report_case "$c"; rec "$c" "report.md: $( [ -s $D/report/report.md ] && echo written || echo none); rejected=$(md "$D" | grep -c rejected)"
  done
fi
if want p5g; then
  c=p5g-fifo-report; D=$(fresh p5g); mkfifo "$D/cells/zz-fifo.csv"
  TO=60 go "$c" sb report "$D"; rec "$c" "fifo in md: $(md "$D" | grep -c zz-fifo)"
  rm -rf "$D/report"; c=p5g-fifo-run; TO=60 go "$c" sb run tiny $T --out "$D"; rec "$c" ""
fi

# ---------------------------------------------------------------- point 6
if want p6a; then
  c="p6a-machine-dotdot"; D=$(fresh "$c"); machines_copy "" ".."
  report_case "$c"
  rec "$c" "printed ../: $(grep -c '\.\./' "$R/$c.stdout"); report.md files: $(cd $D/report 2>/dev/null && find . -name report.md | sort | tr '\n' ' '); top md is $(md "$D" | grep -q 'machines' && echo index || echo 'not index')"
fi
if want p6b; then
  c="p6b-machines-a_b-and-a-b"; D=$(fresh "$c"); machines_copy "a b" "a_b"
  report_case "$c"
  rec "$c" "machines/: $(ls "$D/report/machines" 2>/dev/null | tr '\n' ' ')"
fi

# ---------------------------------------------------------------- point 7
rawesc() { $PY -c 'import sys; print(open(sys.argv[1],"rb").read().count(b"\x1b"))' "$1"; }
if want p7a; then
  c=p7a-lock-escape-held; D=$(fresh "$c"); printf 'pid 1 \x1b[31mX\x1b]0;owned\x07' >"$D/.sweep.lock"
  $PY -c 'import fcntl,os,sys,time; fd=os.open(sys.argv[1],os.O_RDWR); fcntl.flock(fd,fcntl.LOCK_EX); time.sleep(120)' "$D/.sweep.lock" & HOLD=$!
  sleep 2
  go "$c" sb run tiny $T --out "$D"; kill "$HOLD"; wait "$HOLD" 2>/dev/null
  rec "$c" "raw ESC bytes on stderr: $(rawesc "$R/$c.stderr")"
  c=p7a-lock-escape-not-held; D=$(fresh "$c"); printf 'pid 1 \x1b[31mX\x1b]0;owned\x07' >"$D/.sweep.lock"
  go "$c" sb run tiny $T --out "$D"
  rec "$c" "raw ESC bytes on stderr: $(rawesc "$R/$c.stderr"); lock now $(wc -c <"$D/.sweep.lock") B"
fi
if want p7b; then
  c=p7b-script-in-fields; D=$(fresh "$c"); K=$(kcell "$D")
  for f in "$D"/cells/*.csv; do $KIT "$f" --reseal 'set:device=cpu <script>alert(1)</script>' >/dev/null; done
  $KIT "$K" --reseal 'set:status=truncated@phase=loop' 'set:reason=[click](javascript:alert(1)) <script>alert(2)</script> <javascript:alert(3)>@phase=loop' >/dev/null
  report_case "$c" --format md
  rec "$c" "raw <script> in md: $(md "$D" | grep -c '<script>'); unescaped '](javascript:' $(md "$D" | grep -cE '(^|[^\\])\]\(javascript:'); '<javascript:' $(md "$D" | grep -c '<javascript:'); rejected=$(md "$D" | grep -c rejected)"
fi
if want p7c; then
  c=p7c-kill9-worker-tmp; D=$(fresh "$c"); rm "$(kcell "$D")"
  TMPR=$W/.cache/spark-bench/tmp; mkdir -p "$TMPR"; ls "$TMPR" >"$R/p7c.tmp-before"
  ( cd "$W" && PYTHONPATH=$W exec $PY -m benchmarks.cli run tiny $T --out "$D" ) >"$R/p7c-killed.stdout" 2>"$R/p7c-killed.stderr" & MAIN=$!
  new=""; for i in $(seq 120); do sleep 0.5; new=$(ls "$TMPR" | grep -vxF -f "$R/p7c.tmp-before"); [ -n "$new" ] && break; done
  sleep 1; kill -9 "$MAIN"; wait "$MAIN" 2>/dev/null; sleep 2
  left=$(ls "$TMPR" | grep -vxF -f "$R/p7c.tmp-before" | tr '\n' ' ')
  # and an invented one: named for a dead pid (after's naming) and an old unnamed one
  true & DEAD=$!; wait $DEAD; mkdir -p "$TMPR/worker-$DEAD-fake" "$TMPR/worker-oldstyle"; touch -d '3 days ago' "$TMPR/worker-oldstyle"
  go "$c" sb run tiny $T --out "$D"
  still=""; for x in $left "worker-$DEAD-fake" worker-oldstyle; do [ -e "$TMPR/$x" ] && still="$still $x"; done
  rec "$c" "left by kill -9: ${left:-none}; after next run still there:${still:- none}"
fi
if want p7d; then
  c=p7d-export-over-existing; F=$R/p7d.toml; echo "mine" >"$F"
  go "$c" sb spec export tiny --out "$F"
  rec "$c" "file now: $( [ "$(cat "$F")" = mine ] && echo 'kept (mine)' || echo "OVERWRITTEN ($(wc -l <"$F") lines)")"
fi
echo "done $TREE"
