"""The live-page toolkit (our LiveView): pages rendered by Jinja2, kept live over one SSE stream per
page fed by PubSub, and swapped into place by htmx.

- `page.py`: `LivePage` (mount → `assigns`, render → templates, `handle_info` → patches) and
  `live(request, page)`, which a page's route returns;
- `stream.py`: `LiveResponse`, the page's SSE stream (callback subscriptions, no task while idle,
  re-render on reconnect and on a PubSub gap, reload on log-out);
- `patches.py`: the swaps a page pushes (`insert`, `replace`, `delete`, `inner`);
- `streams.py`: `Stream`, a list on the page whose rows come and go (the seed's `stream_insert` /
  `stream_delete`);
- `forms.py`: `Form`, what a form template needs from a changeset (values and errors), and
  `is_htmx(request)` for validate routes.

Templates: a live page extends `live/page.html`, which opens the stream (`hx-ext="sse"`) and
includes the page's `region_template` in `<div id="live-region">`. Events are ordinary routes:
a form posts to its route (POST-redirect-GET without JavaScript), and live validation posts to a
validate route that re-renders the form from `change_*` (no write).
"""

from my_app_web.live.forms import Form, form_params, hx_target, is_htmx, used_fields
from my_app_web.live.page import LivePage, is_live_stream, live
from my_app_web.live.patches import Patch, delete, inner, insert, replace
from my_app_web.live.stream import LiveResponse
from my_app_web.live.streams import Stream

__all__ = [
    "Form",
    "LivePage",
    "LiveResponse",
    "Patch",
    "Stream",
    "delete",
    "form_params",
    "hx_target",
    "inner",
    "insert",
    "is_htmx",
    "is_live_stream",
    "live",
    "replace",
    "used_fields",
]
