#!/usr/bin/env bash
# The GPU proof (issue 7), run on a GPU machine from the repository root,
# with bin/sena and bin/hubserve built beforehand (CGO_ENABLED=0) and the
# Jupyter wheels for its Python in bench/gpu/wheels (see docs/benchmarks.md):
#   1. GPU validation: kinds the machine lacks and counts it lacks fail.
#   2. A ~1.2B Llama with random bf16 weights served by a hub on loopback;
#      `sena up --gpu KIND --model --preload` through Sena's real download path.
#   3. The steering and activations skills on it; phases and the floor.
# Results go to $OUT (default bench/gpu/out).
set -uo pipefail
OUT=${OUT:-bench/gpu/out}
mkdir -p "$OUT"
work=$(mktemp -d)
export SENA_STATE_DIR=$work/state HF_HUB_CACHE=$work/hf-cache SENA_CACHE_DIR=$work/cache
log() { echo "== $*" | tee -a "$OUT/log.txt"; }
since() { python3 -c "import sys,time; print(round(time.time()-float(sys.argv[1]),3))" "$1"; }
cleanup() { bin/sena down --all >>"$OUT/log.txt" 2>&1; kill "${hub_pid:-0}" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

nvidia-smi --query-gpu=index,name,memory.total --format=csv | tee "$OUT/nvidia-smi.csv"
kind=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | grep -oE 'H100|H200|A100' | head -1)
python3 -c 'import sys, torch, transformers; print(sys.version.split()[0], torch.__version__, transformers.__version__)' | tee "$OUT/versions.txt"

log "jupyter from carried wheels, beside the machine's torch ($(command -v python3))"
# The machine's python3 may itself be a venv, whose packages a new venv's
# --system-site-packages would not see: install beside it and use PYTHONPATH.
t0=$(date +%s.%N)
python3 -m pip install -q --no-index --find-links bench/gpu/wheels --target "$work/jupyter-site" jupyter_server ipykernel >>"$OUT/log.txt" 2>&1 || { log "pip failed"; exit 1; }
export PYTHONPATH=$work/jupyter-site
PY=$(command -v python3)
echo "venv_s $(since "$t0")" | tee -a "$OUT/log.txt"

log "GPU validation"
other=A100; [ "$kind" = A100 ] && other=H100
bin/sena up --python "$PY" --gpu "$other" >"$OUT/wrong-kind.txt" 2>&1; echo "exit $?" >>"$OUT/wrong-kind.txt"
bin/sena up --python "$PY" --gpu "$kind:8" >"$OUT/too-many.txt" 2>&1; echo "exit $?" >>"$OUT/too-many.txt"
cat "$OUT/wrong-kind.txt" "$OUT/too-many.txt"

log "making the model"
python3 bench/gpu/make_model.py "$work/model" 2>&1 | tail -1 | tee -a "$OUT/log.txt"
du -sb "$work/model" | tee -a "$OUT/log.txt"
bin/hubserve -repo bench/llama-1b -dir "$work/model" >"$work/hub.url" 2>>"$OUT/log.txt" &
hub_pid=$!
for _ in $(seq 1 120); do [ -s "$work/hub.url" ] && break; sleep 0.5; done
export HF_ENDPOINT=$(head -1 "$work/hub.url")
log "hub at $HF_ENDPOINT"

log "sena up --gpu $kind --model bench/llama-1b --preload"
t0=$(date +%s.%N)
bin/sena --json up --python "$PY" --gpu "$kind" --model bench/llama-1b --preload --dtype bfloat16 --device-map cuda \
	--skill steering --skill activations >"$OUT/up.json" 2>"$OUT/up.stderr" || { log "up failed"; tail -20 "$OUT/up.stderr"; exit 1; }
echo "up_wall_s $(since "$t0")" | tee -a "$OUT/log.txt"
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["session_id"])' "$OUT/up.json")

t0=$(date +%s.%N)
bin/sena exec "$id" 'print(1 + 1)' >"$OUT/first-cell.txt" 2>&1
echo "first_cell_s $(since "$t0")" | tee -a "$OUT/log.txt"
bin/sena exec -f bench/gpu/experiment.py "$id" >"$OUT/experiment.json" 2>"$OUT/experiment.stderr"
echo "experiment exit $?" | tee -a "$OUT/log.txt"
cat "$OUT/experiment.json"
snap=$(python3 -c 'import json,sys; print([m["path"] for m in json.load(open(sys.argv[1]))["models"]][0])' "$OUT/up.json")
python3 bench/gpu/floor.py "$snap" >"$OUT/floor.json"; cat "$OUT/floor.json"
bin/sena notebook -o "$OUT/gpu-session.ipynb" "$id" 2>/dev/null

log "second up: cached model, no download"
t0=$(date +%s.%N)
bin/sena --json up --python "$PY" --gpu "$kind" --model bench/llama-1b >"$OUT/up2.json" 2>"$OUT/up2.stderr"
echo "up2_wall_s $(since "$t0")" | tee -a "$OUT/log.txt"

# Issue 18: warm pools against a cold up, same model, same run, with the
# GPU free of the sessions above.
bin/sena down --all >>"$OUT/log.txt" 2>&1
fwd='import torch; print(model(torch.tensor([[1, 2, 3]], device=model.device)).logits.shape[:2] == (1, 3))'
pre=(--gpu "$kind" --model bench/llama-1b --preload --dtype bfloat16 --device-map cuda)
# timed_up NAME FLAGS...: up, then the model answering a forward pass.
timed_up() {
	name=$1; shift
	t0=$(date +%s.%N)
	bin/sena --json up --python "$PY" "$@" >"$OUT/$name.json" 2>"$OUT/$name.stderr" || { log "$name failed"; tail -20 "$OUT/$name.stderr"; return 1; }
	echo "${name}_up_s $(since "$t0")" | tee -a "$OUT/log.txt"
	sid=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["session_id"]); print("from_pool", d["from_pool"], [(p["name"], round(p["seconds"], 3)) for p in d["phases"]], file=sys.stderr)' "$OUT/$name.json" 2>>"$OUT/log.txt")
	bin/sena exec "$sid" "$fwd" >"$OUT/$name.cell" 2>&1
	echo "${name}_model_answers_s $(since "$t0") $(cat "$OUT/$name.cell")" | tee -a "$OUT/log.txt"
	bin/sena down "$sid" >/dev/null 2>&1
}
log "cold: sena up --preload, cached model"
timed_up cold-preload "${pre[@]}"
log "warm pool with --preload (weights on the GPU)"
t0=$(date +%s.%N)
bin/sena --json warm --python "$PY" "${pre[@]}" --timeout 10m >"$OUT/warm-preload.json" 2>"$OUT/warm-preload.stderr" || { log "warm failed"; tail -20 "$OUT/warm-preload.stderr"; }
echo "warm_fill_s $(since "$t0")" | tee -a "$OUT/log.txt"
timed_up warm-preload "${pre[@]}"
bin/sena warm --stop --python "$PY" "${pre[@]}" >>"$OUT/log.txt" 2>&1
log "warm pool without --preload (imports done), then up --preload"
t0=$(date +%s.%N)
bin/sena --json warm --python "$PY" --gpu "$kind" --model bench/llama-1b --timeout 10m >"$OUT/warm-imports.json" 2>"$OUT/warm-imports.stderr" || { log "warm failed"; tail -20 "$OUT/warm-imports.stderr"; }
echo "warm_imports_fill_s $(since "$t0")" | tee -a "$OUT/log.txt"
timed_up warm-imports "${pre[@]}"
bin/sena warm --stop --python "$PY" --gpu "$kind" --model bench/llama-1b >>"$OUT/log.txt" 2>&1
cp "$SENA_STATE_DIR"/pools/*.log "$OUT/" 2>/dev/null

# One file back (the device returns few): every output with its name.
for f in "$OUT"/*; do
	case "$f" in *.ipynb|*/results.txt) continue ;; esac
	printf '\n### %s\n' "$(basename "$f")"; cat "$f"
done >"$OUT/results.txt"
find "$OUT" -type f ! -name results.txt ! -name '*.ipynb' -delete
