"""sklens on a real Dask cluster (LocalCluster on loopback): searches and thread limits on the workers."""

import os

import conftest
import dask
import joblib
import numpy as np
import pytest
import torch
from distributed import Client, LocalCluster, get_task_stream
from sklearn.model_selection import GridSearchCV, KFold, cross_validate

from sklens import DANNRegressor, TargetData
from sklens.datasets import make_toy_lenses
from sklens.parallel import TorchThreads, limit_torch_threads
from sklens.simulation import simulate_lenses

# The scheduler's HTTP server binds to 127.0.0.1 and moves off port 8787 when another cluster holds it.
pytestmark = pytest.mark.filterwarnings("ignore:Port 8787 is already in use:UserWarning")

FAST = {**conftest.FAST, "module__hidden": 16}
GRID = {"lr": [1e-3, 1e-2], "lambda_da": [0.1, 1.0]}


@pytest.fixture(scope="module")
def client():
    # Thread variables of 2 stand for a node whose environment asks for more threads than a task's share:
    # the nanny passes variables already set on to the workers instead of its default of 1 (torch's
    # pip wheels follow MKL_NUM_THREADS). TorchThreads(1) must win.
    # Workers without the nanny's MALLOC_TRIM_THRESHOLD_, as docs/scale_out.md advises (it slows torch).
    no_trim = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
    with pytest.MonkeyPatch.context() as patch, dask.config.set(no_trim):
        for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            patch.setenv(variable, "2")
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        )
        with cluster, Client(cluster) as client:
            client.register_plugin(TorchThreads(1))
            yield client


@pytest.fixture(scope="module")
def lenses():
    source = make_toy_lenses(48, image_size=16, random_state=0)
    target = make_toy_lenses(48, domain="target", image_size=16, random_state=1)
    return source.images, source.target, target.images


def search() -> GridSearchCV:
    return GridSearchCV(DANNRegressor(**FAST), GRID, cv=KFold(2, shuffle=True, random_state=0))


def fit_locally_and_on_dask(client, X, y, **fit_params):
    """Run the same search in this process (one torch thread, as each worker) and on the cluster."""
    with limit_torch_threads(1):
        local = search().fit(X, y, **fit_params)
    with get_task_stream(client) as stream, joblib.parallel_backend("dask"):
        remote = search().fit(X, y, **fit_params)
    # The scheduler may place every fit on the worker holding the scattered X: check only that the
    # search ran on the cluster, not in this process.
    assert stream.data, "no task ran on the Dask workers"
    return local, remote


def assert_same_search(local: GridSearchCV, remote: GridSearchCV) -> None:
    assert remote.best_params_ == local.best_params_
    for key in ("split0_test_score", "split1_test_score", "mean_test_score", "rank_test_score"):
        np.testing.assert_array_equal(remote.cv_results_[key], local.cv_results_[key], err_msg=key)
    # The candidates differ, so agreeing on the best is not a tie broken the same way twice.
    assert len(np.unique(local.cv_results_["mean_test_score"])) == len(local.cv_results_["params"])


@pytest.mark.slow
def test_grid_search_on_dask_equals_the_local_search_in_the_packed_form(client, lenses):
    X, y, X_tgt = lenses
    Xp = np.concatenate([X, X_tgt])
    yp = np.concatenate([y, np.full(len(X_tgt), np.nan, dtype=np.float32)])
    local, remote = fit_locally_and_on_dask(client, Xp, yp)
    assert_same_search(local, remote)
    assert remote.best_estimator_.n_target_rows_ == len(X_tgt)


def test_grid_search_on_dask_equals_the_local_search_with_target_data(client, lenses):
    X, y, X_tgt = lenses
    local, remote = fit_locally_and_on_dask(client, X, y, X_tgt=TargetData(X_tgt))
    assert_same_search(local, remote)
    assert remote.best_estimator_.n_target_rows_ == len(X_tgt)


def test_a_plain_x_tgt_of_source_length_is_refused_on_the_workers_too(client, lenses):
    X, y, X_tgt = lenses
    with joblib.parallel_backend("dask"), pytest.raises(ValueError, match="TargetData"):
        cross_validate(DANNRegressor(**FAST), X, y, cv=2, params={"X_tgt": X_tgt}, error_score="raise")


def fit_and_describe(estimator, X, y):
    estimator.fit(X, y)
    parameter_device = next(estimator.module_.parameters()).device.type
    return estimator.get_params()["device"], estimator.device, parameter_device, torch.cuda.is_available()


def test_device_auto_resolves_on_each_worker(client, lenses):
    X, y, _ = lenses
    results = [
        client.submit(fit_and_describe, DANNRegressor(**FAST), X, y, workers=[address], pure=False).result()
        for address in client.scheduler_info()["workers"]
    ]
    assert len(results) == 2
    for requested, resolved, parameter_device, has_cuda in results:
        assert requested == "auto"
        assert resolved == parameter_device == ("cuda" if has_cuda else "cpu")


def worker_threads():
    return os.environ["OMP_NUM_THREADS"], torch.get_num_threads()


def test_torch_threads_plugin_sets_the_thread_count_of_the_task_threads(client):
    in_tasks = [
        client.submit(worker_threads, workers=[address], pure=False).result()
        for address in client.scheduler_info()["workers"]
    ]
    assert in_tasks == [("2", 1), ("2", 1)]


@pytest.mark.slow
def test_simulation_over_the_cluster_equals_the_local_one_bit_for_bit(client, tmp_path):
    options = dict(random_state=3, chunk_size=8, progress=False)
    local = simulate_lenses("paper-source", 16, **options)
    with get_task_stream(client) as stream, joblib.parallel_backend("dask"):
        remote = simulate_lenses("paper-source", 16, n_jobs=-1, cache_dir=tmp_path, **options)
    assert stream.data, "no chunk was simulated on the Dask workers"
    np.testing.assert_array_equal(remote.images, local.images)
    np.testing.assert_array_equal(remote.target, local.target)
    assert remote.metadata.equals(local.metadata)
    # The workers wrote both chunks into the shared cache directory; a second call only reads them.
    assert remote.n_simulated_chunks == 2 and remote.cache_path.parent == tmp_path
    again = simulate_lenses("paper-source", 16, cache_dir=tmp_path, **options)
    assert again.n_simulated_chunks == 0
    np.testing.assert_array_equal(again.images, local.images)


def test_limit_torch_threads_restores_the_previous_count():
    before = torch.get_num_threads()
    other = 2 if before == 1 else 1
    with limit_torch_threads(other):
        assert torch.get_num_threads() == other
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="positive integer"), limit_torch_threads(0):
        pass


@pytest.mark.parametrize("n", [0, -1, 1.5, True, None])
def test_torch_threads_refuses_a_bad_count(n):
    with pytest.raises(ValueError, match="positive integer"):
        TorchThreads(n)
