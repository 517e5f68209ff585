"""Project-wide contracts: every config composes, the import direction holds, registries resolve."""

import ast
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

ROOT = Path(__file__).resolve().parents[1]
# Who may import whom (DESIGN.md): verifiers <- rollout <- selection <- distill, dpo <- evaluation
# <- pipeline. distill and dpo never import each other, nor evaluation or pipeline; evaluation imports
# only verifiers and rollout; nothing imports pipeline (it runs the stages as processes).
ALLOWED = {
    "verifiers": set(),
    "rollout": {"verifiers"},
    "selection": {"verifiers", "rollout"},
    "distill": {"verifiers", "rollout", "selection"},
    "dpo": {"verifiers", "rollout", "selection"},
    "evaluation": {"verifiers", "rollout"},
    "pipeline": {"verifiers", "rollout", "selection", "distill", "dpo", "evaluation"},
}
# Every package of the map must exist: a folder that goes missing fails here, not silently.
PACKAGES = list(ALLOWED)


def _import_nodes(path: Path):
    """Every absolute import in a file, module level and inside functions alike."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import mod` imports pkg.mod; `from pkg import name` resolves to pkg below.
            yield from (f"{node.module}.{a.name}" for a in node.names)


def _imports(path: Path) -> set[str]:
    """The top-level packages a file imports."""
    return {name.split(".")[0] for name in _import_nodes(path)}


def test_every_project_package_has_a_place_in_the_import_direction():
    """A new top-level package must be added to ALLOWED (and DESIGN.md's direction) to be checked."""
    found = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"conf"}
    assert found <= set(ALLOWED), f"packages without a place in ALLOWED: {found - set(ALLOWED)}"


@pytest.mark.parametrize("package", PACKAGES)
def test_import_direction(package):
    assert (ROOT / package / "__init__.py").is_file(), (
        f"{package}/ is in the import map but missing"
    )
    for path in (ROOT / package).rglob("*.py"):
        bad = (_imports(path) & set(ALLOWED)) - ALLOWED[package] - {package}
        assert not bad, (
            f"{path.relative_to(ROOT)} imports {bad}: breaks the import direction of DESIGN.md"
        )


def module_graph(package: str) -> dict[str, set[str]]:
    """module -> the modules of the same package it imports (`from pkg import mod` included)."""
    modules = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
        for p in (ROOT / package).rglob("*.py")
    }
    graph = {}
    for name, path in modules.items():
        targets = set()
        for imported in _import_nodes(path):
            # The longest prefix that is a module of the package: pkg.mod.attr -> pkg.mod.
            parts = imported.split(".")
            for i in range(len(parts), 0, -1):
                if ".".join(parts[:i]) in modules:
                    targets.add(".".join(parts[:i]))
                    break
        graph[name] = targets - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_find_cycle_reports_the_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycles_between_modules_of_a_package(package):
    """Function-level imports count too: a cycle hidden in a function is still a cycle in the design."""
    graph = module_graph(package)
    assert graph, package
    cycle = find_cycle(graph)
    assert cycle is None, f"{package}: modules import each other: {' -> '.join(cycle)}"


def test_heavy_libraries_stay_out_of_the_verifiers():
    for path in (ROOT / "verifiers").rglob("*.py"):
        assert not _imports(path) & {"torch", "vllm", "trl", "transformers"}, path


PRIMARY = sorted(p.stem for p in (ROOT / "conf").glob("*.yaml"))


def _register_schemas():
    import distill.curate  # noqa: F401
    import distill.pretrain  # noqa: F401
    import distill.sft  # noqa: F401
    import dpo.pairs  # noqa: F401
    import dpo.sweep_report  # noqa: F401
    import dpo.train  # noqa: F401
    import evaluation.evaluate  # noqa: F401
    import pipeline.run  # noqa: F401
    import rollout.generate  # noqa: F401
    import verifiers.cli  # noqa: F401


@pytest.mark.parametrize("name", PRIMARY)
def test_every_primary_config_composes(name):
    _register_schemas()
    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose(config_name=name)
    assert cfg is not None


GROUPS = [
    (g, p.stem)
    for g in ("model", "problems", "engine", "judge")
    for p in sorted((ROOT / "conf" / g).glob("*.yaml"))
]


@pytest.mark.parametrize(("group", "option"), GROUPS, ids=[f"{g}={o}" for g, o in GROUPS])
def test_every_group_option_composes_into_a_typed_rollout_config(group, option):
    from omegaconf import OmegaConf

    from rollout.generate import RolloutConfig

    _register_schemas()
    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose(
            config_name="rollout",
            overrides=[f"{'+' if group == 'judge' else ''}{group}={option}"]  # judge: opt-in
            + (["problems.path=x.jsonl"] if option == "file" else []),
        )
    typed = OmegaConf.to_object(cfg)
    assert isinstance(typed, RolloutConfig)


def test_slurm_launcher_config_composes():
    _register_schemas()
    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose(
            config_name="rollout",
            overrides=["hydra/launcher=rollout_slurm", "num_shards=8"],
            return_hydra_config=True,
        )
    assert cfg.hydra.launcher.array_parallelism == 64 and "submitit" in cfg.hydra.launcher._target_


def test_dpo_sweep_launcher_and_optuna_sweeper_configs_compose():
    """The shipped SLURM launcher and Optuna sweeper for rd-dpo sweeps compose with the stage config,
    and a sweep point's folder is named by its overrides."""
    _register_schemas()
    with initialize_config_module(config_module="conf", version_base="1.3"):
        slurm = compose(
            config_name="dpo",
            overrides=["hydra/launcher=dpo_slurm", "run_dir=/shared/x", "trainer.beta=0.05"],
            return_hydra_config=True,
        )
        optuna = compose(
            config_name="dpo",
            overrides=["hydra/sweeper=dpo_optuna", "hydra.sweeper.n_trials=3"],
            return_hydra_config=True,
        )
    assert "submitit" in slurm.hydra.launcher._target_ and slurm.hydra.launcher.gpus_per_node == 1
    assert slurm.hydra.sweep.dir == "/shared/x/dpo_sweep"
    assert "optuna" in optuna.hydra.sweeper._target_.lower()
    assert optuna.hydra.sweeper.n_trials == 3 and optuna.hydra.sweeper.direction == "maximize"
    assert set(optuna.hydra.sweeper.params) == {"trainer.beta", "trainer.learning_rate"}
    assert optuna.objective == "rewards/margins"
    from dpo.train import point_name

    assert point_name("trainer.beta=0.1") == "trainer.beta=0.1"
    long = ",".join(f"trainer.k{i}={i}" for i in range(40))
    assert len(point_name(long)) < 120 and point_name(long) != point_name(long + ",x=1")


def test_typo_in_a_key_is_rejected_with_its_name():
    from hydra.errors import ConfigCompositionException

    import verifiers.cli  # noqa: F401

    with (
        initialize_config_module(config_module="conf", version_base="1.3"),
        pytest.raises(ConfigCompositionException, match="workerz"),
    ):
        compose(config_name="verify", overrides=["workerz=2"])
