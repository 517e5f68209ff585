"""rd-verify end to end, as CI users run it (a real subprocess with real Hydra composition)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

CMD = [sys.executable, "-m", "verifiers.cli"]


def run(*args, cwd=None, timeout=300):
    return subprocess.run([*CMD, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_shipped_sample_runs_out_of_the_box_and_passes_its_gate(tmp_path):
    r = run(cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "sample.verified.jsonl"
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) >= 40
    assert all("correct" in row and row["verdict"]["verifier"] for row in rows)
    assert {"math", "choice", "code"} <= {row["kind"] for row in rows}
    assert "gate passed" in r.stdout
    for word in (
        "kind",
        "correct",
        "wrong",
        "unjudged",
        "timeouts",
        "accuracy",
        "precision",
        "recall",
    ):
        assert word in r.stdout
    summary = json.loads((tmp_path / "sample.verified.jsonl.summary.json").read_text())
    assert summary["gate"]["passed"] is True and summary["scores"]["all"]["accuracy"] == 1.0


def test_gate_fails_below_thresholds_and_lists_disagreements(tmp_path):
    rows = [
        {"completion": "\\boxed{4}", "answer": "4", "label": True, "category": "ok"},
        {"completion": "\\boxed{3.14}", "answer": "\\pi", "label": True, "category": "mislabeled"},
    ]
    write_jsonl(tmp_path / "in.jsonl", rows)
    r = run("input=in.jsonl", "output=out.jsonl", cwd=tmp_path)
    assert r.returncode == 1
    assert "GATE FAILED" in r.stderr and "accuracy 0.500 < 0.95" in r.stderr
    assert "disagreements (1" in r.stdout and "[mislabeled]" in r.stdout
    # the same file passes a gate the team set lower
    r = run(
        "input=in.jsonl",
        "output=out.jsonl",
        "thresholds.accuracy=0.5",
        "thresholds.precision=1.0",
        "thresholds.recall=0.5",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr


def test_malformed_line_names_file_and_line_and_keeps_old_output(tmp_path):
    good = json.dumps({"completion": "\\boxed{1}", "answer": "1"})
    (tmp_path / "in.jsonl").write_text(good + "\n" + good + "\n{not json\n" + good + "\n")
    (tmp_path / "out.jsonl").write_text("previous results\n")
    r = run("input=in.jsonl", "output=out.jsonl", cwd=tmp_path)
    assert r.returncode == 2
    assert "in.jsonl:3:" in r.stderr and "skip_bad_lines=true" in r.stderr
    assert (tmp_path / "out.jsonl").read_text() == "previous results\n"

    r = run("input=in.jsonl", "output=out.jsonl", "skip_bad_lines=true", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "1 bad lines skipped" in r.stdout
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 3


def test_missing_fields_and_unknown_kind_are_named(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [{"completion": "x"}])
    r = run("input=in.jsonl", cwd=tmp_path)
    assert r.returncode == 2 and "in.jsonl:1: missing field(s) ['answer']" in r.stderr
    write_jsonl(tmp_path / "in.jsonl", [{"completion": "x", "answer": "1", "kind": "poem"}])
    r = run("input=in.jsonl", cwd=tmp_path)
    assert r.returncode == 2 and "unknown kind 'poem'" in r.stderr


def test_unknown_config_key_fails_with_its_name(tmp_path):
    r = run("workerz=3", cwd=tmp_path)
    assert r.returncode != 0 and "workerz" in r.stderr


def test_killed_run_never_leaves_a_half_output(tmp_path):
    rows = [
        {"completion": f"\\boxed{{\\log_{{2}} {{2^{{{k}}}}}}}", "answer": str(k)}
        for k in range(4000)
    ]
    write_jsonl(tmp_path / "in.jsonl", rows)
    (tmp_path / "out.jsonl").write_text("previous results\n")
    proc = subprocess.Popen(
        [*CMD, "input=in.jsonl", "output=out.jsonl"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    time.sleep(6)
    if proc.poll() is not None:
        pytest.skip("the run finished before it could be killed on this machine")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (tmp_path / "out.jsonl").read_text() == "previous results\n"


ABSTAIN_ROWS = [
    {"completion": "\\boxed{4}", "answer": "4"},  # decided by the rules
    {"completion": "f(t) = t^2", "answer": "g(x) = x^2"},  # functions in other variables
    {"completion": "The answer is Paris.", "answer": "2^{10}"},  # a word against a formula
    {
        "completion": "The answer is \\boxed{\\frac{7}{ \\left( \\sqrt{}",
        "answer": "7",
    },  # unparseable
]


def test_summary_counts_what_the_rules_abstained_on(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", ABSTAIN_ROWS)
    r = run("input=in.jsonl", "output=out.jsonl", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "abstained" in r.stdout and "by judge" in r.stdout
    summary = json.loads((tmp_path / "out.jsonl.summary.json").read_text())
    math = summary["per_kind"]["math"]
    assert math["abstained"] == 3 and math["judge_decided"] == 0 and math["correct"] == 1
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [row["correct"] for row in rows] == [True, None, None, None]
    assert "judge" in rows[1]["verdict"]["reason"]  # the reason says who should decide


def test_unknown_judge_format_is_a_config_error(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", ABSTAIN_ROWS[:1])
    r = run("input=in.jsonl", "judge.format=nope", cwd=tmp_path)
    assert r.returncode == 2 and "judge.format must be one of" in r.stderr


@pytest.mark.slow
def test_the_judge_served_by_real_vllm_decides_only_what_the_rules_abstain_on(
    tmp_path, vllm_server
):
    """Routing through a real vLLM OpenAI-compatible server (SmolLM2 as judge): only the three
    abstentions reach it; its verdict quality at 135M is not the point, the plumbing is."""
    rows = [dict(r, prompt="What is the answer?") for r in ABSTAIN_ROWS]
    write_jsonl(tmp_path / "in.jsonl", rows)
    r = run(
        "input=in.jsonl",
        "output=out.jsonl",
        f"judge.url={vllm_server}",
        "judge.model=smollm2",
        "judge.max_tokens=8",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert out[0]["verdict"]["verifier"] == "math" and out[0]["correct"] is True
    for row in out[1:]:
        # each abstention went to the judge: the cascade records the rules' reason and the reply
        assert row["verdict"]["verifier"] == "cascade:math+judge", row["verdict"]
        assert "judge" in row["verdict"]["details"]["rules"]["reason"] or row["verdict"]["details"][
            "rules"
        ]["reason"].endswith("could not be parsed")
        assert row["verdict"]["reason"].startswith(("judge decided", "judge reply not in"))
    summary = json.loads((tmp_path / "out.jsonl.summary.json").read_text())
    decided = sum(row["verdict"]["details"].get("decided_by") == "judge" for row in out)
    assert summary["per_kind"]["math"]["abstained"] == 3
    assert summary["per_kind"]["math"]["judge_decided"] == decided


def test_readme_rd_verify_lines_run_as_printed(tmp_path):
    """The rd-verify section's command lines, as printed (comments aside), on files of those names."""
    import re
    import shlex
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## rd-verify", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    lines = [ln.split("#", 1)[0].strip() for ln in block.splitlines() if ln.startswith("rd-verify")]
    assert len(lines) >= 3
    labeled = [
        {"completion": "\\boxed{4}", "answer": "4", "label": True},
        {"completion": "\\boxed{5}", "answer": "4", "label": False},
    ]
    for name in set(re.findall(r"input=(\S+)", block)):
        write_jsonl(tmp_path / name, labeled)
    exe = str(Path(sys.executable).parent / "rd-verify")  # the installed console script
    for line in lines:
        args = shlex.split(line)
        r = subprocess.run(
            [exe, *args[1:]], capture_output=True, text=True, cwd=tmp_path, timeout=300
        )
        assert r.returncode == 0, (line, r.stderr[-2000:])
        assert "verified" in r.stdout, line
