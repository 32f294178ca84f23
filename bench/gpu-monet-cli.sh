# Run on a machine with a GPU, from the repository root after `npm run build`, with OUT set to a folder for the outputs.
# Monet on the GPU through the CLI: perplexity of the default model (cpu vs webgpu), a generation, and a few
# training steps of the tiny preset on webgpu. Prints what each step reports.
set -u
M=assets/model
head -n 120 assets/corpus/heldout.jsonl > /tmp/h.jsonl
for dev in cpu webgpu; do
  echo "== perplexity on $dev"
  /usr/bin/time -f "wall %e s, peak RSS %M KB" node dist/cli.mjs perplexity --model $M --data /tmp/h.jsonl --device $dev --json --context 256 > $OUT/ppl-$dev.json 2> $OUT/ppl-$dev.err
  tail -3 $OUT/ppl-$dev.err; head -c 300 $OUT/ppl-$dev.json; echo
done
echo "== generate on webgpu"
node dist/cli.mjs generate --model $M --prompt "def parse(" --max-tokens 40 --device webgpu 2>&1 | tail -4
echo "== train tiny on webgpu (6 steps)"
timeout 240 node dist/cli.mjs train --preset tiny --data /tmp/h.jsonl --out /tmp/tw --steps 6 --device webgpu --eval-every 3 2>&1 | tail -12
echo "== train tiny on cpu (6 steps)"
timeout 240 node dist/cli.mjs train --preset tiny --data /tmp/h.jsonl --out /tmp/tc --steps 6 --device cpu --eval-every 3 2>&1 | tail -6
