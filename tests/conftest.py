import os, torch

torch.set_num_threads(int(os.environ.get('GENIE_NB_THREADS', 0) or torch.get_num_threads()))
