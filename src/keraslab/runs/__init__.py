"""The run folder and everything written into it.

- :mod:`keraslab.runs.folder`: the folder itself (``config.json``, locks, resume, checks of where
  output goes); its public names are re-exported here. Keras-free.
- :mod:`keraslab.runs.checkpoint`: checkpoints written atomically with a readable header.
- :mod:`keraslab.runs.callbacks`: the Keras callbacks a recipe trains with (metrics log,
  checkpoints, sample grids, FID per epoch, progress lines, TensorBoard, the page).
- :mod:`keraslab.runs.report`: ``report.html`` of one run and the comparison page of several.
- :mod:`keraslab.runs.charts`: PNG pictures (metric curves, latent scatter plots).
- :mod:`keraslab.runs.tensorboard`: which library writes TensorBoard event files.

Only ``callbacks`` and ``checkpoint`` import Keras.
"""

from keraslab.runs.folder import (
    Run,
    check_evaluation_file,
    check_model_out,
    check_writable_dir,
    continue_run,
    load_run_tokenizer,
    new_run,
    open_run,
    refuse_to_overwrite,
    reopen_run,
    require_recipe,
    run_lock,
    save_evaluation,
    system_info,
    update_config,
)

__all__ = [
    "Run",
    "check_evaluation_file",
    "check_model_out",
    "check_writable_dir",
    "continue_run",
    "load_run_tokenizer",
    "new_run",
    "open_run",
    "refuse_to_overwrite",
    "reopen_run",
    "require_recipe",
    "run_lock",
    "save_evaluation",
    "system_info",
    "update_config",
]
