"""Torch thread limits for parallel work: the calling process and the workers of a Dask cluster.

When several fits run at once (a search with ``n_jobs`` > 1, or over a Dask cluster), each process or
task thread should give torch at most its share of the cores, or the fits fight over them. How torch
decides how many threads to use matters here: a thread reads torch's setting the first time it runs a
torch operation and keeps it afterwards. So ``client.run(torch.set_num_threads, n)``, which runs in a
Dask worker's event-loop thread, does not reach the worker's task threads once they have used torch;
[`TorchThreads`][sklens.parallel.TorchThreads], set up when a worker starts (before its tasks run), does.

Dask workers started by a nanny (the default of ``LocalCluster(processes=True)``, ``dask worker`` and
dask-jobqueue) get ``OMP_NUM_THREADS=MKL_NUM_THREADS=1``, and so one torch thread per task thread,
unless those variables are already set where the nanny runs (as on many HPC nodes): then they are
passed on. Use [`TorchThreads`][sklens.parallel.TorchThreads] to set the count whatever the environment says,
to give each task more threads (a worker with one task thread on a node of its own) or to limit workers
started without a nanny. This module needs the ``dask`` extra
(``pip install 'sklens[dask]'``).
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator

import torch

from sklens._optional import import_optional

WorkerPlugin = import_optional("distributed.diagnostics.plugin", "dask", "sklens.parallel").WorkerPlugin

__all__ = ["TorchThreads", "limit_torch_threads"]


def _check_n_threads(n) -> int:
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
        raise ValueError(f"the number of torch threads must be a positive integer; got {n!r}.")
    return int(n)


@contextlib.contextmanager
def limit_torch_threads(n: int) -> Iterator[None]:
    """Run the block with torch's intra-op parallelism set to ``n`` threads, then restore it.

    Meant for the calling process: for instance to compare a local search with one run on Dask
    workers that use one torch thread each (results can differ in the last bits with the thread
    count), or to keep a local fit from taking every core.

    Parameters
    ----------
    n : int
        Number of threads, at least 1.

    Examples
    --------
    >>> import torch
    >>> from sklens.parallel import limit_torch_threads
    >>> before = torch.get_num_threads()
    >>> with limit_torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    n = _check_n_threads(n)
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class TorchThreads(WorkerPlugin):
    """Dask worker plugin: set the number of torch threads of every worker when it starts.

    Register it right after connecting the client, before the workers run torch code: workers that
    join later (scaling, restarts) run it at start-up too, but a task thread that has already run
    torch code keeps its count (``client.restart()`` applies the plugin to fresh workers). Keep ``n``
    times the worker's task threads at most the cores the worker may use. Registering another
    ``TorchThreads`` replaces the previous one (they share a name).

    Parameters
    ----------
    n : int
        Torch intra-op threads per task thread, at least 1.

    Examples
    --------
    >>> from distributed import Client, LocalCluster  # doctest: +SKIP
    >>> from sklens.parallel import TorchThreads  # doctest: +SKIP
    >>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))  # doctest: +SKIP
    >>> client.register_plugin(TorchThreads(1))  # doctest: +SKIP
    """

    name = "sklens-torch-threads"

    def __init__(self, n: int) -> None:
        self.n = _check_n_threads(n)

    def setup(self, worker) -> None:
        """Set torch's thread count in the worker process; task threads pick it up on first use."""
        torch.set_num_threads(self.n)
