# Lambda imports a blueprint module directly (handler `functions.queues.on_step`); importing the app here
# makes app.py register every blueprint and its middleware first, whichever handler Lambda loads. This is the
# first project module any handler imports, so the cold start's collector pause and compiled dataclass methods
# (chalicelib.runtime) start here.
from chalicelib.runtime import pause_collection_for_cold_start, use_compiled_dataclass_methods

pause_collection_for_cold_start()
use_compiled_dataclass_methods()

import app  # noqa: E402, F401
