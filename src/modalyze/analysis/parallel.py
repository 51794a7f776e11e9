"""A study's independent trainings, run in parallel: local worker processes or Ray tasks.

A study (``analyze``, ``compare``, each grouping of ``analyze --groupings``) first lists the
trainings that depend on no other (each intra and inter expert per seed; per fusion, the inter
expert and i2m2-shared), runs those not yet on disk with :func:`run_trainings`, and writes each
finished one into the study's :class:`~modalyze.analysis.store.ExpertStore` as it completes. The study
then goes on as with one job and finds them there, so a killed study resumes whatever ran it, and
the steps that depend on them (i2m2's fine-tuning, scoring) run in the calling process.

- ``jobs=1``: nothing runs here; the study trains in its own process as before.
- ``executor="local"``: ``jobs`` worker processes (spawned), each capped at ``cores // jobs``
  torch threads so the workers do not oversubscribe the cores.
- ``executor="ray"``: Ray tasks declaring their CPUs (and a GPU with ``accelerator="gpu"``) on the
  cluster at ``address`` (default: a running cluster if there is one, else a local instance). A
  worker sends the trained run's files back (JSON and safetensors bytes), so no shared disk is needed.

Each training seeds itself, so the numbers do not depend on where it ran.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import threading
import time
import types
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

from modalyze.data.prepare import Prepared
from modalyze.errors import ModalyzeError
from modalyze.log import Log, duration, info
from modalyze.spec import Spec

AUTO_MIN_ROWS = 5000  # jobs="auto" trains in one process below this many rows (process start-up would dominate)
Files = dict[str, dict[str, bytes]]  # expert name -> run directory file name -> content


@dataclass(frozen=True)
class Training:
    """One independent training: ``Classifier(**params)`` stored as ``name`` in seed slot ``seed``;
    ``members`` (i2m2-shared) are stored beside it, each at its own best validation epoch."""

    seed: int
    name: str
    params: dict[str, Any]
    members: tuple[str, ...] = field(default=())


def resolve_jobs(jobs: int | str, n_tasks: int, rows: int, accelerator: str = "auto") -> int:
    """``"auto"``: one process for small data, else as many as there are cores (or GPUs), at most one per task."""
    if jobs != "auto":
        return max(1, min(int(jobs), max(n_tasks, 1)))
    if rows < AUTO_MIN_ROWS or n_tasks < 2:
        return 1
    slots = os.cpu_count() or 1
    if accelerator in ("gpu", "cuda", "auto"):
        import torch

        slots = torch.cuda.device_count() or (slots if accelerator == "auto" else 1)
    return max(1, min(slots, n_tasks))


def train_and_pack(spec: Spec, prepared: Prepared, training: Training, threads: int) -> Files:
    """Train one expert (in a worker) and return its run directory, and its members', as bytes."""
    import torch

    from modalyze.classifier import Classifier

    torch.set_num_threads(threads)
    if threads == 1:  # the cores are taken by the other workers: decode files in this process
        from modalyze.data.decoded import configure

        configure(workers=0)
    clf = Classifier(**training.params).fit_prepared(spec, prepared)
    out: Files = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, model in [(training.name, clf), *((m, clf.member(m)) for m in training.members)]:
            folder = model.save(Path(scratch) / name.replace(":", "-"))
            out[name] = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    return out


def run_trainings(trainings: list[Training], store: Any, spec: Spec, prepared: Prepared, jobs: int,
                  executor: str = "local", address: str | None = None, accelerator: str = "auto",
                  log: Log = info) -> set[tuple[int, str]]:
    """Run the trainings not yet in ``store`` in parallel; each is stored as soon as it finishes.
    Returns the (seed, name) of every expert stored here, so the caller can tell them from what an
    earlier run left. While they run, :class:`Heartbeat` says which are running, finished and left.

    A failed training ends the study with a one-line error naming it; the finished ones stay stored.
    """
    todo = [t for t in trainings if not store.has(t.seed, t.name)]
    if not todo or (jobs <= 1 and executor == "local"):
        return set()
    threads = max(1, (os.cpu_count() or 1) // jobs)
    log(f"training {len(todo)} experts in parallel: {executor} executor, "
        f"{'cluster resources' if executor == 'ray' else f'{jobs} worker processes'}, {threads} thread(s) each")
    run = _run_ray if executor == "ray" else _run_local
    failure: tuple[Training, BaseException] | None = None
    trained: set[tuple[int, str]] = set()
    with Heartbeat(todo, jobs, log) as heartbeat:
        for training, result in run(todo, spec, prepared, jobs, threads, address, accelerator):
            if isinstance(training, list):  # a tick: nothing finished yet; these are running
                heartbeat.tick(training)
                continue
            if isinstance(result, BaseException):
                failure = failure or (training, result)
                continue
            for name, files in result.items():
                store.put(training.seed, name, files)
                trained.add((training.seed, name))
            heartbeat.finished(training)
    if failure is not None:
        training, exc = failure
        cause = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ModalyzeError(f"training {training.name} (seed {training.seed + 1}) failed in a worker: {cause}; "
                            "finished experts are on disk, rerun to resume")
    return trained


TICK_S = 1.0  # how often the executors wake to report what is running


class Heartbeat:
    """Progress of trainings running elsewhere, told by the main process: every ``$MODALYZE_LOG_EVERY``
    seconds (15) a line with what is running, finished and left, the time elapsed and an estimate of
    the time left (from the mean duration of the finished ones), from a thread of its own so that
    nothing the main thread waits on (starting the workers, sending them the data) silences it; on
    a terminal, a rich progress bar as well."""

    def __init__(self, todo: list[Training], jobs: int, log: Log, every: float | None = None):
        self.todo, self.jobs, self.log = todo, jobs, log
        self.every = float(os.environ.get("MODALYZE_LOG_EVERY", 15)) if every is None else every
        self.done: list[Training] = []
        self.running: list[Training] = []
        self.start = time.perf_counter()
        self.started: dict[tuple[int, str], float] = {}  # (seed, name) -> when the executor said it runs
        self.durations: list[float] = []  # of the finished trainings
        self.stop = threading.Event()
        self.bar: Any = None

    def __enter__(self) -> Heartbeat:
        if sys.stdout.isatty():
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                                TimeElapsedColumn(), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("trainings: starting the workers", total=len(self.todo))
        threading.Thread(target=self._beat, daemon=True, name="modalyze-heartbeat").start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        if self.bar is not None:
            self.bar.stop()

    def _beat(self) -> None:
        while not self.stop.wait(self.every):
            self.report()

    def tick(self, running: list[Training]) -> None:
        """The executor says which trainings are running now."""
        self.running = running
        now = time.perf_counter()
        for t in running:
            self.started.setdefault((t.seed, t.name), now)
        if self.bar is not None:
            self.bar.update(self.task, description=f"running: {_names(running) or 'starting the workers'}")

    def finished(self, training: Training) -> None:
        self.done.append(training)
        self.durations.append(time.perf_counter() - self.started.get((training.seed, training.name), self.start))
        self.running = [t for t in self.running if t != training]
        if self.bar is not None:
            self.bar.advance(self.task)
        self.log(f"[seed {training.seed + 1}] {training.name}: trained in a worker "
                 f"({len(self.done)}/{len(self.todo)} done, {duration(time.perf_counter() - self.start)} elapsed)")

    def report(self) -> None:
        elapsed = time.perf_counter() - self.start
        done, running = len(self.done), list(self.running)
        left = len(self.todo) - done
        estimate = ""
        if self.durations and left:  # at the mean duration of a finished training: what the running ones
            # still need, then the queued ones in waves of `jobs`
            mean, now = sum(self.durations) / len(self.durations), time.perf_counter()
            current = max([mean - (now - self.started.get((t.seed, t.name), self.start)) for t in running], default=0.0)
            rest = max(current, 0.0) + mean * -(-max(0, left - len(running)) // self.jobs)
            estimate = (f" · about {duration(rest)} left" if rest >= 1 else
                        " · the running ones already take longer than the finished ones took")
        now = _names(running) or ("none (finishing)" if not left else "none yet (starting the workers)")
        self.log(f"trainings: {done}/{len(self.todo)} done · running: {now} · {max(0, left - len(running))} queued"
                 f" · {duration(elapsed)} elapsed{estimate}")


def _names(trainings: list[Training]) -> str:
    return ", ".join(f"{t.name} (seed {t.seed + 1})" for t in trainings)


_WORKER: dict[str, Any] = {}


def _init_worker(spec: Spec, prepared: Prepared, threads: int) -> None:
    _WORKER.update(spec=spec, prepared=prepared, threads=threads)


def _work(training: Training) -> Files:
    return train_and_pack(_WORKER["spec"], _WORKER["prepared"], training, _WORKER["threads"])


def _run_local(todo: list[Training], spec: Spec, prepared: Prepared, jobs: int, threads: int, address: str | None,
               accelerator: str) -> Iterator[tuple[Training | list[Training], Files | BaseException | None]]:
    """``jobs`` spawned processes, each given the featurized data once. Yields each finished
    training with its files (or its exception), and every ``TICK_S`` the running ones with None."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                             initargs=(spec, prepared, threads)) as pool:
        with _without_main_script():  # the workers start during these submits
            pending: dict[Future, Training] = {pool.submit(_work, t): t for t in todo}
        try:
            while pending:
                done, _ = wait(pending, timeout=TICK_S, return_when=FIRST_EXCEPTION)
                if not done:
                    yield [t for f, t in pending.items() if f.running()], None
                for future in done:
                    training = pending.pop(future)
                    exc = future.exception()
                    if exc is not None:  # stop what has not started; what runs finishes and is kept
                        for other in pending:
                            other.cancel()
                    yield training, exc if exc is not None else future.result()
                pending = {f: t for f, t in pending.items() if not f.cancelled()}
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def _without_main_script() -> Iterator[None]:
    """Spawned workers re-run the caller's script unless it is guarded by ``if __name__ == "__main__":``
    (a script that runs a study would start it again in every worker). They need nothing from it, so
    while they start, ``__main__`` is an empty module."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _run_ray(todo: list[Training], spec: Spec, prepared: Prepared, jobs: int, threads: int, address: str | None,
             accelerator: str) -> Iterator[tuple[Training | list[Training], Files | BaseException | None]]:
    """One Ray task per training; the featurized data goes to the object store once."""
    try:
        import ray
    except ImportError:
        raise ModalyzeError("option executor=ray needs Ray: pip install 'modalyze[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    gpus = 1 if accelerator in ("gpu", "cuda") else 0
    remote = ray.remote(num_cpus=threads, num_gpus=gpus, max_retries=0)(train_and_pack)
    # sent once, shared by every task; files read into memory, since a node may not see this machine's disk
    self_contained = replace(prepared, splits={s: d.in_memory() for s, d in prepared.splits.items()})
    spec_ref, data_ref = ray.put(spec), ray.put(self_contained)
    refs = {remote.remote(spec_ref, data_ref, t, threads): t for t in todo}
    while refs:
        ready_list, _ = ray.wait(list(refs), num_returns=1, timeout=TICK_S)
        if not ready_list:  # Ray does not say which of the pending tasks hold a CPU: all are reported running
            yield list(refs.values()), None
            continue
        done = ready_list[0]
        training = refs.pop(done)
        try:
            result: Files | BaseException = ray.get(done)
        except Exception as exc:  # noqa: BLE001 - reported as the training's failure
            for other in refs:
                ray.cancel(other)
            refs = {}
            result = getattr(exc, "cause", None) or exc
        yield training, result

