"""snnconv.foundations.precision: the arithmetic switch restores torch's settings and refuses what a CPU cannot do."""

import pytest
import torch

from snnconv.foundations.precision import PRECISIONS, arithmetic


def test_float32_turns_tf32_off_inside_and_restores_the_settings_after():
    before = torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision()
    torch.backends.cudnn.allow_tf32 = True
    try:
        with arithmetic("float32", torch.device("cpu")):
            assert torch.backends.cudnn.allow_tf32 is False
            assert torch.get_float32_matmul_precision() == "highest"
        assert torch.backends.cudnn.allow_tf32 is True
    finally:
        torch.backends.cudnn.allow_tf32 = before[0]
        torch.set_float32_matmul_precision(before[1])


@pytest.mark.parametrize("precision", [p for p in PRECISIONS if p != "float32"])
def test_a_cpu_refuses_lower_precisions_with_a_sentence_naming_the_fix(precision):
    with pytest.raises(ValueError, match="needs a CUDA device; on cpu use 'float32'"):
        with arithmetic(precision, torch.device("cpu")):
            pass


def test_an_unknown_precision_is_named():
    with pytest.raises(ValueError, match="precision must be one of float32, tf32, bfloat16; got 'fp16'"):
        with arithmetic("fp16", torch.device("cpu")):  # type: ignore[arg-type]
            pass
