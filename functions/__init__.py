# Lambda imports a blueprint module directly (handler `functions.queues.on_step`); importing the app here
# makes app.py register every blueprint and its middleware first, whichever handler Lambda loads. This is the
# first project module any handler imports, so the cold start's collector pause starts here.
from chalicelib.runtime import pause_collection_for_cold_start

pause_collection_for_cold_start()

import app  # noqa: E402, F401
