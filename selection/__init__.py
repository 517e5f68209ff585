"""What curation (distill/curate.py) and pair building (dpo/pairs.py) share and the farm does not:

  decontam.py   which training problems overlap an evaluation set (the held-out set, the hand-written
                set, the public benchmarks) and are dropped, with the matched n-gram
  steps.py      the selection steps both stages apply (correct only, exact duplicates, per-problem
                cap, pass rates) and the record of what each step kept and dropped
  inputs.py     the rollout store's shards and fingerprint, the tokenizer, token counts
  report.py     the report writer: report.json, report.md (the steps table) and lengths.png
  stream.py     the streaming path (stream.enabled=true): the store grouped by problem in bounded
                memory, sharded by problem id, the steps run on datatrove's executors

Import direction: rollout <- selection <- distill, dpo (neither of which imports the other).
"""
