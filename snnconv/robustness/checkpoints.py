"""The book's models by name: every network behind a number of the book, loaded from the artifact store.

A model of the book is stored under a key that hashes its config (:mod:`snnconv.storage.store`), which no reader can
guess. This module gives each one a readable name, built from the labels the pages already print
(:func:`snnconv.experiment.config.objective_label`, the subjects of :mod:`snnconv.book.results`):

* ``ann/<objective>`` — a baseline ANN (Eqs. 4–6): ``ann/natural``, ``ann/at-eps1``, ``ann/trades-eps1``,
  ``ann/mart-eps1``, ``ann/at-eps2``, ``ann/at-eps3``;
* ``converted/<objective>`` — the SNN converted from it and finetuned (Algorithm 1, Eqs. 9–11), Table 1's SNNs;
  ``converted/<objective>/twin`` the same ANN converted and finetuned with the next seed (Table B1's BB_SNN source);
  ``converted/<objective>/beta=<β>`` finetuned with another β of Eq. 9 (Fig. 1);
  ``converted/at-eps1/lif`` and ``converted/at-eps1/lif-long`` with LIF neurons at T and at the longer T (Fig. 2);
* ``vanilla``, ``snn-rat``, ``rfgsm``, ``bntt`` — the end-to-end trained SNNs (Table 2, Figs. 2–4), with ``/lif`` or
  ``/lif-long`` for Fig. 2's LIF variants;
* ``ablation/init=…,inner=…,outer=…,vth=…`` — Table B5's rows (Suppl. B.3), by their cells;
* ``<name>+longer-finetuning`` and ``<name>+longer-baselines`` — the claims page's longer schedules, for the models
  those schedules change.

Names are resolved by the same subject functions the pages call, so a name is the page's model by construction.
:func:`catalogue` lists them for a profile and seed by planning (:mod:`snnconv.storage.plan`: nothing is trained, no
data is read) and says which are stored; :func:`load` returns one of them, loaded from the store, with its
:class:`Checkpoint` (name, store key, T, SHA-256 of its weights) as the attribute ``checkpoint``, which
:func:`snnconv.robustness.evaluation.evaluate` reads for its model card.

Example:
    >>> from snnconv.robustness.checkpoints import catalogue
    >>> rows = catalogue("smoke", seed=0)
    >>> row = next(r for r in rows if r["name"] == "converted/at-eps1")
    >>> row["kind"], row["label"], row["T"]
    ('snn', 'AT-eps1', 8)
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from torch import nn

from snnconv.book import results, retests, subjects
from snnconv.book.run import Run
from snnconv.book.subjects import Subject
from snnconv.experiment.config import (
    CONVERTED_OBJECTIVES,
    MAIN_BASELINES,
    OBJECTIVES,
    ANNConfig,
    EndToEndConfig,
    SNNConfig,
    objective_label,
)
from snnconv.experiment.parameters import Settings, resolve, sensitivity_schedules
from snnconv.method.bntt import BNTT_LEAK
from snnconv.storage.plan import planning
from snnconv.storage.store import ArtifactStore

#: The main end-to-end baselines by name (:data:`snnconv.experiment.config.MAIN_BASELINES`), and Fig. 2's methods by
#: name (the ``method`` cell of :func:`snnconv.book.subjects.lif_latency_subjects`).
END_TO_END_NAMES = {"vanilla": "vanilla", "snn_rat": "snn-rat"}
FIG2_METHODS = {"Vanilla": "vanilla", "RFGSM": "rfgsm", "SNN-RAT": "snn-rat", "Ours (AT-eps1)": "converted/at-eps1",
                "BNTT": "bntt"}

#: The models that the claims page also trains with longer schedules (its budget claims, :data:`retests.BUDGET_CLAIMS`):
#: each schedule lists those of them whose config it changes, as ``<name>+<schedule>``.
SCHEDULE_MODELS = ("ann/at-eps1", "converted/at-eps1", "snn-rat", "vanilla")
SCHEDULES = ("longer-finetuning", "longer-baselines")


class CheckpointMissing(LookupError):
    """A named model of the book (Sec. 4) that the artifact store does not hold; the message names the command
    that computes it."""


@dataclass(frozen=True)
class Checkpoint:
    """What :func:`load` knows about a model of the book (Sec. 4): its name, the page's label, where the store keeps
    it and what it is. Attached to the loaded network as ``network.checkpoint``.

    ``ensemble`` (member labels, ``()``: the paper's 19) and ``eot`` are how the book attacks it: BNTT's Poisson input
    gets the members without the ANN approximation and ``eot_draws`` draws per attacker forward (Suppl. A.4)."""

    name: str
    label: str
    profile: str
    seed: int
    kind: str
    key: str
    architecture: str
    dataset: str
    neuron: str
    time_steps: int
    sha256: str
    stale: str | None = None
    ensemble: tuple[str, ...] = ()
    eot: int = 1

    @property
    def id(self) -> str:
        """``kind/key``, as plans and the store name the artifact."""
        return f"{self.kind}/{self.key}"


def neuron_description(leak: float, soft_reset: bool) -> str:
    """The neuron of Eqs. (1)–(3) in words: ``"IF, hard reset"`` for τ = 1, else ``"LIF (τ=0.99), soft reset"``.

    >>> neuron_description(1.0, False), neuron_description(0.99, True)
    ('IF, hard reset', 'LIF (τ=0.99), soft reset')
    """
    reset = "soft" if soft_reset else "hard"
    return f"IF, {reset} reset" if leak == 1.0 else f"LIF (τ={leak:g}), {reset} reset"


def describe(config: Any) -> tuple[str, str, str]:
    """``(architecture, data set, neuron)`` of a model config (:mod:`snnconv.experiment.config`, Sec. 4.1)."""
    if isinstance(config, ANNConfig):
        return config.arch, config.dataset, "ReLU (the ANN)"
    if isinstance(config, SNNConfig):
        return config.ann.arch, config.ann.dataset, neuron_description(config.leak, config.soft_reset)
    if isinstance(config, EndToEndConfig) and config.method == "bntt":  # its neuron is fixed by snnconv.method.bntt
        return f"bntt ({config.arch})", config.dataset, neuron_description(BNTT_LEAK, True) + ", Poisson input"
    if isinstance(config, EndToEndConfig):
        return config.arch, config.dataset, neuron_description(config.leak, config.soft_reset)
    raise TypeError(f"not a model config: {type(config).__name__}")


def _slug(label: str) -> str:
    """A page's label as a name: ``AT-eps1`` → ``at-eps1``."""
    return label.lower().replace(" ", "-")


def _ablation_name(ablation: Any) -> str:
    """Table B5's row by its cells (Suppl. B.3): ``ablation/init=at,inner=kl,outer=eq11,vth=trainable``."""
    return (f"ablation/init={ablation.init or 'none'},inner={ablation.inner_loss or 'none'},outer={ablation.outer},"
            f"vth={'trainable' if ablation.trainable_threshold else 'fixed'}")


#: One named model: its name, the page that plans it and the subject (:class:`snnconv.book.subjects.Subject`).
Entry = tuple[str, str, Subject]


def _models(s: Settings, store: ArtifactStore) -> Iterator[Entry]:
    """Every model of the book at ``s`` (one profile, one seed), named, in the order of the book's pages; a model
    that two pages share comes once per name, and two names may share a model."""
    run = Run(s, store, progress=False)
    for objective in OBJECTIVES:
        page = "table1_conversion" if objective in CONVERTED_OBJECTIVES else "fig1_beta_sweep"
        yield f"ann/{_slug(objective_label(objective))}", page, subjects.baseline_ann(run, objective)
    for objective in CONVERTED_OBJECTIVES:
        name = f"converted/{_slug(objective_label(objective))}"
        yield name, "table1_conversion", subjects.converted(run, objective)[1]
        yield f"{name}/twin", "tableB1_transfer", subjects.twin_snn(run, objective)
    for method in MAIN_BASELINES:
        yield END_TO_END_NAMES[method], "fig4_square_queries", subjects.end_to_end_subject(run, method)
    for label, beta, subject in subjects.beta_sweep_subjects(run, None):
        yield f"converted/{_slug(label)}/beta={beta:g}", "fig1_beta_sweep", subject
    for cells, subject in subjects.lif_latency_subjects(run):
        base = FIG2_METHODS[cells["method"]]
        short = cells["T"] == str(s.profile.time_steps)
        suffix = "" if base == "bntt" or cells["neuron"] == "IF" else "/lif" if short else "/lif-long"
        yield base + suffix, "fig2_lif_latency", subject
    for ablation, subject in subjects.ablation_subjects(run):
        yield _ablation_name(ablation), "tableB5_ablations", subject


def entries(s: Settings, store: ArtifactStore) -> dict[str, tuple[str, Subject]]:
    """``{name: (page, subject)}`` of every model of the book at ``s`` (Sec. 4), with the claims page's longer
    schedules; the first page that names a model is the one whose plan computes it."""
    named: dict[str, tuple[str, Subject]] = {}
    for name, page, subject in _models(s, store):
        named.setdefault(name, (page, subject))
    base = {name: subject.key for name, (_, subject) in named.items()}
    for schedule, (ann_epochs, snn_epochs) in zip(SCHEDULES, sensitivity_schedules(s.profile)[1:], strict=True):
        longer = retests.with_schedule(s, ann_epochs, snn_epochs)
        for name, _, subject in _models(longer, store):
            # Only the models this schedule changes: the others are the profile's own, under their own names.
            if name in SCHEDULE_MODELS and subject.key != base[name]:
                named.setdefault(f"{name}+{schedule}", ("claims", subject))
    return named


def settings_for(profile: str, seed: int) -> Settings:
    """The pages' settings for ``profile`` and ``seed`` (every other parameter at its default, Sec. 4)."""
    # threads=1: nothing here runs torch; fixing it keeps OMP_NUM_THREADS from being read (and judged) for nothing.
    return resolve(profile=profile, seed=seed, threads=1)


def compute_command(page: str, profile: str, seed: int, artifact: str) -> str:
    """The ``snnconv compute`` command that makes one model of ``page`` (Sec. 4) at ``profile`` and ``seed``."""
    seeds = "seeds" if page == "claims" else "seed"  # the claims page takes a list of seeds
    return f"snnconv compute {page} -p profile {profile} -p {seeds} {seed} --only {artifact}"


def catalogue(profile: str = "default", seed: int = 0, store: ArtifactStore | None = None) -> list[dict]:
    """Every model of the book (Sec. 4) at ``profile`` and ``seed``, one row per name, planned without computing.

    Columns: ``name``, the page's ``label``, its store ``kind`` and ``key``, the ``page`` that computes it,
    ``architecture``, ``dataset``, ``neuron``, ``T`` (0: an ANN), ``status`` (``stored``, ``stale``: computed by
    other code or from another version of its inputs, or ``missing``), the ``sha256`` of its stored weights (``""``
    when missing) and the ``compute`` command that makes it.
    """
    s = settings_for(profile, seed)
    planned = planning(store or ArtifactStore())
    rows = []
    for name, (page, subject) in entries(s, planned).items():
        need = planned.plan.needs[subject.id]
        architecture, dataset, neuron = describe(need.config)
        status = "missing"
        if need.stored:
            status = "stored" if planned.why_stale(planned.record(subject.kind, subject.key)) is None else "stale"
        rows.append({"name": name, "label": subject.label, "kind": subject.kind, "key": subject.key, "page": page,
                     "architecture": architecture, "dataset": dataset, "neuron": neuron, "T": subject.time_steps,
                     "status": status, "sha256": planned.weights_digest(subject.kind, subject.key) or "",
                     "compute": compute_command(page, s.profile.name, seed, subject.id)})
    return rows


def load(name: str, profile: str = "default", seed: int = 0, store: ArtifactStore | None = None) -> nn.Module:
    """The model of the book called ``name`` (see the module docstring; :func:`catalogue` lists them) at ``profile``
    and ``seed``, loaded from the artifact store, in eval mode, with its :class:`Checkpoint` as ``.checkpoint``.

    Never trains: a model the store lacks raises :class:`CheckpointMissing` naming the ``snnconv compute`` command
    that makes it; an unknown name raises ``ValueError`` listing the known ones. A stored model that other code
    computed (stale, Sec. 4's numbers may differ) is loaded with a warning that says so.

    Run it as the book does: ``network(x, Simulation(network.checkpoint.time_steps))`` (Sec. 3.1).
    """
    s = settings_for(profile, seed)
    store = store or ArtifactStore()
    planned = planning(store)
    named = entries(s, planned)
    if name not in named:
        raise ValueError(f"{name!r} is not a model of the book: one of {', '.join(named)}.")
    page, subject = named[name]
    need = planned.plan.needs[subject.id]
    if not need.stored:
        raise CheckpointMissing(
            f"{name} ({subject.label}, {subject.id}) is not in the artifact store {store.root} at profile={profile}, "
            f"seed={seed}: compute it with `{compute_command(page, s.profile.name, seed, subject.id)}`.")
    # need.compute loads through the pipeline's ensure_* (the stored weights into the page's own network); it was
    # just found stored, so it loads and never trains.
    network = need.compute()
    record = store.record(subject.kind, subject.key)
    stale = store.why_stale(record)
    if stale is not None:
        warnings.warn(f"{name} ({subject.id}) was {stale}: the book's numbers for it may differ.", stacklevel=2)
    architecture, dataset, neuron = describe(need.config)
    bntt = isinstance(need.config, EndToEndConfig) and need.config.method == "bntt"
    network.checkpoint = Checkpoint(
        name=name, label=subject.label, profile=s.profile.name, seed=seed, kind=subject.kind, key=subject.key,
        architecture=architecture, dataset=dataset, neuron=neuron, time_steps=subject.time_steps,
        sha256=store.weights_digest(subject.kind, subject.key) or "", stale=stale,
        ensemble=results.BNTT_MEMBERS if bntt else (), eot=s.profile.eot_draws if bntt else 1)
    return network.eval()


def checkpoint_of(network: nn.Module) -> Checkpoint | None:
    """The :class:`Checkpoint` that :func:`load` attached to ``network`` (Sec. 4's model), or None."""
    found = getattr(network, "checkpoint", None)
    return found if isinstance(found, Checkpoint) else None
