"""The Chalice app: settings, observability middleware, and the blueprints of functions/. Wiring only."""

from chalice import Chalice

from chalicelib.observability import attach
from functions import admin_api, auth, console, feedback, ingest_api, public_api, queues, schedules

app = Chalice(app_name="touchplan", configure_logs=False)
app.api.cors = False
attach(app)

# The authorizer registers first: routes of the other blueprints refer to it.
app.register_blueprint(auth.blueprint)
for module in (public_api, ingest_api, admin_api, queues, feedback, schedules, console):
    app.register_blueprint(module.blueprint)
