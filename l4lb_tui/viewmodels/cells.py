"""A table cell as the view-models hand it to the console's tables."""

from __future__ import annotations

from rich.text import Text

# A plain string takes its column's style; a Text (rare: a warning colour)
# is shown as it is.  Strings are never read as markup.
Cell = str | Text
