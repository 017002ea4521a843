# Lambda imports a blueprint module directly (handler `functions.queues.on_step`); importing the app here
# makes app.py register every blueprint and its middleware first, whichever handler Lambda loads.
import app  # noqa: F401
