__version__ = "0.1.0"
# Package glue (not exported from a notebook): the public API, one call per stage (see README.md and
# docs/pages/architecture.md).
from .core import GenieError
from .models import load_bundled, load_checkpoint, load_torchvision
from .data import load_fmnist, fmnist_loader
from .synth import SynthConfig, SyntheticData, synthesize
from .recon import QuantConfig, quantize
from .qmodel import BitPolicy, save_quantized, load_quantized, quant_report
from .evaluate import evaluate, layer_report


# Everything the README shows works after `import genie_nb`, without importing the heavier modules up front
# (ONNX, widgets): `genie_nb.export_onnx` and `BitPolicy.from_budget` load their module on first use.
def _from_budget(cls, *args, **kwargs):
    "`BitPolicy.from_budget` (genie_nb.mixed), imported on first use; the import replaces this stand-in."
    from . import mixed  # noqa: F401  (patches the real `from_budget` onto BitPolicy)

    return cls.from_budget(*args, **kwargs)


if not hasattr(BitPolicy, 'from_budget'):
    BitPolicy.from_budget = classmethod(_from_budget)


def __getattr__(name):
    "Names of the heavier modules, imported when first asked for."
    if name in ('export_onnx', 'export_fp_onnx'):
        from . import export

        return getattr(export, name)
    raise AttributeError(f"module 'genie_nb' has no attribute {name!r}")
