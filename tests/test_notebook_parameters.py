"""A bad papermill parameter stops the notebook at once with one sentence naming it."""

from pathlib import Path

import papermill
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOK = NOTEBOOKS / "table1_conversion.ipynb"


@pytest.mark.parametrize("parameters, words", [
    ({"dataset": "imagenet"}, ["dataset", "'imagenet'", "fashion_mnist"]),
    ({"epsilons": "-2,4,8"}, ["epsilons", "(0, 255]"]),
    ({"time_steps": 0}, ["time_steps", "from 1"]),
    ({"objectives": "natural,fgsm"}, ["objectives", "mart"]),
])
def test_bad_parameter_fails_before_any_work(tmp_path, parameters, words):
    with pytest.raises(papermill.PapermillExecutionError) as error:
        papermill.execute_notebook(str(NOTEBOOK), str(tmp_path / "out.ipynb"),
                                   parameters={"profile": "smoke", **parameters}, kernel_name="python3",
                                   progress_bar=False, cwd=str(tmp_path))
    assert error.value.ename == "ParameterError"
    message = error.value.evalue
    assert "\n" not in message
    for word in words:
        assert word in message
    # Nothing was trained or stored: the store lives in the checkout and no new artifact appears for
    # these parameters (the run stopped in the validation cell).
    assert error.value.exec_count <= 3


@pytest.mark.parametrize("name", ["table2_vs_snnrat", "tableB1_transfer", "fig4_square_queries"])
def test_adaptive_pages_validate_their_parameters_first(tmp_path, name):
    with pytest.raises(papermill.PapermillExecutionError) as error:
        papermill.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters={"profile": "smoke", "n_test": -5}, kernel_name="python3",
                                   progress_bar=False, cwd=str(tmp_path))
    assert error.value.ename == "ParameterError"
    assert "n_test" in error.value.evalue and "\n" not in error.value.evalue
    assert error.value.exec_count <= 3


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_unknown_parameter_name_fails_naming_it(tmp_path, notebook):
    # Papermill itself only warns about "-p eps 8" and would run the page with its default budgets.
    with pytest.raises(papermill.PapermillExecutionError) as error:
        papermill.execute_notebook(str(notebook), str(tmp_path / "out.ipynb"),
                                   parameters={"profile": "smoke", "eps": 8}, kernel_name="python3",
                                   progress_bar=False, cwd=str(tmp_path))
    assert error.value.ename == "ParameterError"
    message = error.value.evalue
    assert "eps" in message.split(":")[0] and "epsilons" in message and "\n" not in message
    assert error.value.exec_count <= 3


def test_a_page_given_no_threads_follows_omp_num_threads_else_uses_every_core(monkeypatch):
    import os

    from snnconv.experiment.parameters import ParameterError, resolve

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # make test: two one-thread processes on two cores
    assert resolve(profile="smoke").threads == 1
    assert resolve(profile="smoke", threads=3).threads == 3  # a given count wins
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert resolve(profile="smoke").threads == (os.cpu_count() or 1)
    monkeypatch.setenv("OMP_NUM_THREADS", "two")
    with pytest.raises(ParameterError, match="OMP_NUM_THREADS is 'two'"):
        resolve(profile="smoke")
