#!/usr/bin/env bash
# Sony's Model Compression Toolkit in its OWN virtual environment, outside this repository and its dependencies.
# Usage: bash bench/peers/make_mct_venv.sh [VENV_DIR]   (default /work/scratch/mct_venv)
# model-compression-toolkit 2.6.1 pins no torch version (its requirements: networkx<3.6, matplotlib<3.10,
# pydantic>=2,<2.12, mct-quantizers~=1.7.0, edge-mdt-cl~=1.1.0, scikit-image, scikit-learn, tensorboard, PuLP, ...),
# so it installs beside the same torch/torchvision as genie_nb without a conflict.
set -euo pipefail
VENV=${1:-/work/scratch/mct_venv}
python3 -m venv "$VENV"
"$VENV/bin/pip" install --upgrade pip
"$VENV/bin/pip" install torch==2.14.1 torchvision==0.29.1 model-compression-toolkit==2.6.1
"$VENV/bin/pip" check
"$VENV/bin/python" -c "import model_compression_toolkit as mct, torch; print('mct', mct.__version__, 'torch', torch.__version__)"
