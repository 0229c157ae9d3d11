__version__ = "0.1.0"
# Package glue (not exported from a notebook): the one-call-per-stage public API of DESIGN.md §3.
from .core import GenieError
from .models import load_bundled, load_checkpoint, load_torchvision
from .data import load_fmnist, fmnist_loader
from .synth import SynthConfig, SyntheticData, synthesize
from .recon import QuantConfig, quantize
from .qmodel import BitPolicy, save_quantized, load_quantized, quant_report
from .evaluate import evaluate, layer_report
