#!/usr/bin/env bash
# The peer comparison as one sequential, resumable queue (one job at a time, nice 5; every stage skips finished
# rows). Usage from the repository root: nohup bash bench/peers/queue.sh /work/scratch/genie_official > log 2>&1 &
set -uo pipefail
GENIE_DIR=${1:-/work/scratch/genie_official}
MCT_PY=${MCT_PY:-/work/scratch/mct_venv/bin/python}
PY=${PY:-/work/main/.venv/bin/python}
export PYTHONPATH=$PWD
run() { echo "== $(date -u +%T) $*"; nice -n 5 "$@"; }
official() { run "$PY" bench/peers/official_genie.py --genie-dir "$GENIE_DIR" --rows "$1"; }
mct_data() { [ -e "bench/peers/data/mct_$1_seed$2.pt" ] || run "$MCT_PY" bench/peers/mct_data.py --model "$1" --seed "$2"; }
mct_rows() { run "$PY" bench/peers/mct_rows.py --rows "$1"; }

official default:W4A4:0
[ -e bench/peers_speed.json ] || run "$PY" bench/peers/speed.py --genie-dir "$GENIE_DIR" --reps 2 --e2e-reps 1
mct_data default 0
mct_rows default:rtn:W2A4:0,default:genie:W2A4:0,default:qdrop:W2A4:0
official default:W2A4:0,default:W3A3:0
mct_data mbv2 0
mct_rows mbv2:rtn:W2A4:0,mbv2:genie:W2A4:0,mbv2:qdrop:W2A4:0
official mbv2:W2A4:0,mbv2:W4A4:0,mbv2:W3A3:0
mct_rows mbv2:rtn:W4A4:0,mbv2:genie:W4A4:0,mbv2:qdrop:W4A4:0,mbv2:rtn:W3A3:0,mbv2:genie:W3A3:0,mbv2:qdrop:W3A3:0
mct_rows default:rtn:W4A4:0,default:genie:W4A4:0,default:qdrop:W4A4:0,default:rtn:W3A3:0,default:genie:W3A3:0,default:qdrop:W3A3:0
for s in 1 2; do
  mct_data mbv2 $s
  mct_rows mbv2:rtn:W2A4:$s,mbv2:genie:W2A4:$s,mbv2:qdrop:W2A4:$s
  official mbv2:W2A4:$s
done
for s in 1 2; do mct_data default $s; done
mct_rows all
official default:W2A4:1,default:W2A4:2
echo "== $(date -u +%T) queue done"
