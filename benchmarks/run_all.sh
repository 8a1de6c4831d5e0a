#!/usr/bin/env bash
# Regenerate every results file the README quotes, one after another on a quiet machine,
# then the README's figures blocks (python benchmarks/readme_figures.py).
#   bash benchmarks/run_all.sh            # several hours on 2 cores
# The peers need their own venv once: python benchmarks/peers.py --setup --torch-wheel <wheel>
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results
python benchmarks/env_throughput.py --json "$out/env_throughput.json"
python benchmarks/peers.py --json "$out/peers.json"
python benchmarks/latency.py --json "$out/latency.json"
python benchmarks/load_logs.py --json "$out/load_logs.json"
for policy in random myopic long_term; do
  python -m experiments.simulate --preset default --shoppers 2000 --policy "$policy" \
    --json "$out/simulate_$policy.json"
done
obd=../shared/data/obd/random
mkdir -p "$out/fidelity"
for spec in "all_halves all all" "men_halves men men" "women_halves women women" \
  "men_to_women men women" "women_to_men women men" "all_to_men all men"; do
  set -- $spec
  python -m experiments.fidelity fit="$obd/$2" replay="$obd/$3" out="$out/fidelity/$1.json"
done
for spec in "all obd" "men obd_men" "women obd_women"; do
  set -- $spec
  python -m experiments.fidelity mode=env env="$2" replay="$obd/$1" out="$out/fidelity/$1_env.json"
done
python benchmarks/obd_click_models.py --json "$out/obd_click_models.json"
python benchmarks/agents.py --json "$out/agents.json"
for preset in long_term sparse; do
  python benchmarks/agents.py --json "$out/agents_$preset.json" -- env="$preset"
done
python benchmarks/agents.py --agents kmeans dqn --agent-override dqn +agent.cart_shaping=1 \
  --json "$out/agents_sparse_shaping.json" -- env=sparse
python benchmarks/planner_presets.py --shoppers 200 --json "$out/planner_presets.json"
python benchmarks/ablation.py --preset long_term --shoppers 500 --agents myopic_oracle planner \
  --json "$out/ablation.json"
python -m experiments.sensitivity --seeds 0 1 2 3 4 \
  --agents random custom_example rule myopic_oracle long_term_oracle dqn \
  --knobs clickbait boredom returning taste_spread satiation budget_carry --budget-scale 0.3 \
  --out "$out/sensitivity" --overwrite eval.n_shoppers=300
python benchmarks/preset_rates.py --json "$out/preset_rates.json"
python benchmarks/tune_rule.py --json "$out/rule_tuning.json"
for preset in taobao default; do
  python -m experiments.fidelity kind=sessions env="$preset" replay=../shared/data/taobao \
    out="$out/${preset}_fidelity.json"
done
python benchmarks/dqn_vs_sb3.py --steps 30000 --repeats 3 --json "$out/dqn_vs_sb3.json"
python benchmarks/ope_validation.py --json "$out/ope_validation.json"
python benchmarks/readme_figures.py
